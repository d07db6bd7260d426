package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// The services' HTTP server metrics (otelhttp through the OpenTelemetry
// Prometheus exporter, services/internal/httpapi): one histogram series per
// route, method and status; its _count is the number of requests served.
// Health and readiness probes are not counted (httpapi's quiet paths), so
// the kubelet's probes are no traffic.
const (
	requestMetric    = "http_server_request_duration_seconds"
	statusCodeLabel  = "http_response_status_code"
	metricsScrapeMax = 16 << 20 // a metrics page larger than this is not the services'
)

// RequestCounts are the requests a pod has served since it started, and how
// many of them failed with a 5xx status.
type RequestCounts struct {
	Total, Errors float64
}

// PodRequests maps a pod's UID to its counts.
type PodRequests map[string]RequestCounts

// RolloutMetrics reads the request counters of a town's pods that run one
// version, per service. The rollout gate compares two readings, one at each
// end of the soak.
type RolloutMetrics interface {
	Requests(ctx context.Context, town *wuxiaov1.Town, version string) (map[wuxiaov1.ServiceName]PodRequests, error)
}

// PodMetricsScraper is the RolloutMetrics of a real cluster: it lists the
// town's Ready pods at the version and fetches http://<pod IP>:<port>/metrics
// from each, as Prometheus would. The operator must reach the pods' metrics
// port (the towns' NetworkPolicies; see operator/README.md, Rollouts).
type PodMetricsScraper struct {
	// Reader lists pods; the manager's cache does not hold them (every pod
	// of the cluster), so this is the API reader.
	Reader client.Reader
	// Port of the pods' metrics listener [resources.MetricsPort].
	Port int
	// HTTP client [one with a 5 s timeout].
	HTTP *http.Client
}

var scrapeClient = &http.Client{Timeout: 5 * time.Second}

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list

// Requests implements RolloutMetrics.
func (s *PodMetricsScraper) Requests(ctx context.Context, town *wuxiaov1.Town, version string) (map[wuxiaov1.ServiceName]PodRequests, error) {
	port, hc := s.Port, s.HTTP
	if port == 0 {
		port = resources.MetricsPort
	}
	if hc == nil {
		hc = scrapeClient
	}
	out := map[wuxiaov1.ServiceName]PodRequests{}
	for _, svc := range wuxiaov1.AllServices {
		out[svc] = PodRequests{}
	}
	// One list for the town's pods at version (a read from etcd each: one
	// per service made the gate's first look at a town some 400 ms on a
	// busy API server, hack/bench/scale).
	pods := &corev1.PodList{}
	if err := s.Reader.List(ctx, pods, client.InNamespace(town.NamespaceName()),
		client.MatchingLabels{wuxiaov1.TownLabel: town.Name, resources.VersionLabel: version}); err != nil {
		return nil, err
	}
	var errs []error
	for i := range pods.Items {
		p := &pods.Items[i]
		byService, ok := out[wuxiaov1.ServiceName(p.Labels[wuxiaov1.ServiceLabel])]
		if !ok || !p.DeletionTimestamp.IsZero() || p.Status.PodIP == "" || !podReady(p) {
			continue
		}
		c, err := scrapeRequests(ctx, hc, "http://"+net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port))+"/metrics")
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", p.Name, err))
			continue
		}
		byService[string(p.UID)] = c
	}
	return out, errors.Join(errs...)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func scrapeRequests(ctx context.Context, hc *http.Client, url string) (RequestCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return RequestCounts{}, err
	}
	// The classic text format: what the parser below reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return RequestCounts{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return RequestCounts{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return ParseRequestCounts(io.LimitReader(resp.Body, metricsScrapeMax))
}

// ParseRequestCounts sums the request counts of one metrics page in the
// Prometheus text format: every series of the request histogram, and those
// with a 5xx status among them. A page without the histogram has served no
// request yet (the exporter writes a series only once it has a sample).
func ParseRequestCounts(r io.Reader) (RequestCounts, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return RequestCounts{}, fmt.Errorf("metrics: %w", err)
	}
	var c RequestCounts
	f := families[requestMetric]
	if f == nil {
		return c, nil
	}
	for _, m := range f.GetMetric() {
		n := float64(m.GetHistogram().GetSampleCount())
		c.Total += n
		for _, l := range m.GetLabel() {
			if l.GetName() == statusCodeLabel && strings.HasPrefix(l.GetValue(), "5") {
				c.Errors += n
			}
		}
	}
	return c, nil
}

// Increase is what the pods served between two readings, per service,
// with Prometheus's counter semantics: a pod that is new in the second
// reading (it started during the soak), or whose counters went down (its
// container restarted), counts from zero. A pod of the first reading that
// is gone took its requests with it.
func Increase(before, after map[wuxiaov1.ServiceName]PodRequests) map[wuxiaov1.ServiceName]RequestCounts {
	out := map[wuxiaov1.ServiceName]RequestCounts{}
	for svc, pods := range after {
		var sum RequestCounts
		for uid, a := range pods {
			b, ok := before[svc][uid]
			if !ok || a.Total < b.Total || a.Errors < b.Errors {
				b = RequestCounts{}
			}
			sum.Total += a.Total - b.Total
			sum.Errors += a.Errors - b.Errors
		}
		out[svc] = sum
	}
	return out
}

// Judge applies the gate to what each service served during the soak: it
// fails when any service answered more than maxRatio of its requests with
// 5xx. A service without requests passes (no traffic, no evidence of
// errors). The message lists every service, for the status and the event.
func Judge(served map[wuxiaov1.ServiceName]RequestCounts, maxRatio float64) (bool, string) {
	ok := true
	var parts []string
	for _, svc := range wuxiaov1.AllServices {
		c := served[svc]
		if c.Total == 0 {
			parts = append(parts, fmt.Sprintf("%s: no requests", svc))
			continue
		}
		ratio := c.Errors / c.Total
		verdict := ""
		if ratio > maxRatio {
			ok = false
			verdict = fmt.Sprintf(", above the %s allowed", percent(maxRatio))
		}
		parts = append(parts, fmt.Sprintf("%s: %.0f of %.0f requests failed with 5xx (%s%s)", svc, c.Errors, c.Total, percent(ratio), verdict))
	}
	return ok, strings.Join(parts, "; ")
}

func percent(r float64) string {
	return strconv.FormatFloat(math.Round(r*1000)/10, 'f', -1, 64) + "%"
}
