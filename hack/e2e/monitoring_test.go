//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/charts/promnames"
	"github.com/wuxiao/wuxiao/operator/testenv"
)

// TestMonitoring holds the chart's alerts and dashboards
// (charts/wuxiao-operator/monitoring) against a real Prometheus scraping the
// real district: the one hack/district.sh runs on the host (Debian's
// package; hack/prometheus-sd lists the pods as the chart's PodMonitor
// selects them; the operator's endpoint; the chart's rule file, evaluated
// every 5 s).
//
//   - Prometheus scrapes every service of the towns that are up, the
//     gateway and the operator, and has loaded every alert of the rule file;
//   - one fault, a malformed message on a town's Kafka topic, is
//     dead-lettered by its consumer and makes WuxiaoDeadLetters fire for
//     that topic and group, within its `for` (the time is logged);
//   - every metric a dashboard panel, a dashboard variable or an alert
//     expression names has series (after the test's own activity: a
//     request to each service, a complaint filed, the fault's alert).
func TestMonitoring(t *testing.T) {
	prom := newPrometheus(t)
	rulesFile := filepath.Join(testenv.RepoRoot(), "charts", "wuxiao-operator", "monitoring", "rules", "wuxiao-alerts.yaml")
	dashboards := filepath.Join(testenv.RepoRoot(), "charts", "wuxiao-operator", "monitoring", "dashboards")
	alerts, err := promnames.Alerts(rulesFile)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("targets and rules", func(t *testing.T) {
		towns := strings.Split(os.Getenv("WUXIAO_E2E_TOWNS"), ",")
		if towns[0] == "" {
			towns = []string{env.town}
		}
		var want []string
		for _, town := range towns {
			for _, s := range wuxiaov1.AllServices {
				want = append(want, "town-"+town+"/"+string(s))
			}
		}
		want = append(want, "wuxiao-gateway/gateway", "operator")
		eventually(t, "Prometheus scrapes every service, the gateway and the operator", 2*time.Minute, func() error {
			up, err := prom.query(`up == 1`)
			if err != nil {
				return err
			}
			var have []string
			for _, s := range up {
				if s.Metric["job"] == "wuxiao-operator" {
					have = append(have, "operator")
				} else if s.Metric["service"] != "" {
					have = append(have, s.Metric["namespace"]+"/"+s.Metric["service"])
				}
			}
			var missing []string
			for _, w := range want {
				if !slices.Contains(have, w) {
					missing = append(missing, w)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("no target up for %v (up: %v)", missing, have)
			}
			return nil
		})
		// A rule's health is "unknown" until its group's first evaluation
		// (every 5 s here): a test that starts right after district.sh up
		// must wait for it; "err" fails at once.
		eventually(t, "every alert rule loaded and evaluated without error", time.Minute, func() error {
			var rules struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
					}
				}
			}
			if err := prom.get("/api/v1/rules?type=alert", &rules); err != nil {
				return err
			}
			type state struct{ health, lastError string }
			loaded := map[string]state{}
			for _, g := range rules.Groups {
				for _, r := range g.Rules {
					loaded[r.Name] = state{r.Health, r.LastError}
				}
			}
			var pending []string
			for _, a := range alerts {
				st, ok := loaded[a.Name]
				switch {
				case !ok:
					pending = append(pending, a.Name+": not loaded")
				case st.health == "err":
					t.Fatalf("alert %s: %s", a.Name, st.lastError)
				case st.health != "ok":
					pending = append(pending, a.Name+": "+st.health)
				}
			}
			if len(pending) > 0 {
				return fmt.Errorf("%v", pending)
			}
			return nil
		})
	})

	// Activity the metrics need: requests to each service (RED), and a
	// complaint filed on a village's report page, which the complaint
	// service publishes and the inspection service consumes (outbox,
	// delivery latency).
	for _, s := range wuxiaov1.AllServices {
		if code, body := call(t, http.MethodGet, svcURL(string(s), "/openapi.yaml"), "", nil); code != http.StatusOK {
			t.Errorf("%s /openapi.yaml: status %d: %s", s, code, body)
		}
	}
	village := firstVillage(t)
	if code, _ := call(t, http.MethodGet, env.gateway+"/v/"+village, "", nil); code == 0 {
		t.Errorf("gateway /v/%s: no answer", village)
	}
	submitReport(t, village, url.Values{"category": {"service"}, "description": {"端到端监控测试：便民服务窗口长期无人值守，请核查。" + randomSuffix()}})

	t.Run("a dead letter fires WuxiaoDeadLetters", func(t *testing.T) {
		var rule promnames.Alert
		for _, a := range alerts {
			if a.Name == "WuxiaoDeadLetters" {
				rule = a
			}
		}
		forDur, err := time.ParseDuration(rule.For)
		if err != nil {
			t.Fatalf("WuxiaoDeadLetters for %q: %v", rule.For, err)
		}
		topic, group := deadLetterTarget(t, prom)
		before := deadLettered(t, prom, topic, group)

		brokers := strings.Split(os.Getenv("WUXIAO_TEST_KAFKA_BROKERS"), ",")
		if brokers[0] == "" {
			t.Fatal("WUXIAO_TEST_KAFKA_BROKERS is not set (hack/district.sh env)")
		}
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
		defer w.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		// No CloudEvents headers and no JSON: no consumer can decode it.
		msg := kafka.Message{Key: []byte("e2e-monitoring"), Value: []byte("not an event: hack/e2e/monitoring_test.go " + randomSuffix())}
		injected := time.Now()
		if err := w.WriteMessages(ctx, msg); err != nil {
			t.Fatalf("publishing a malformed message to %s: %v", topic, err)
		}
		t.Logf("published a malformed message to %s (consumer group %s; dead-lettered so far: %v)", topic, group, before)

		// Generous: the consumer's poll, a scrape and an evaluation (5 s
		// each here) come on top of the rule's `for`.
		var fired activeAlert
		eventually(t, "WuxiaoDeadLetters firing for "+topic+" / "+group, forDur+3*time.Minute, func() error {
			as, err := prom.alerts()
			if err != nil {
				return err
			}
			for _, a := range as {
				if a.Labels["alertname"] == "WuxiaoDeadLetters" && a.Labels["messaging_destination_name"] == topic &&
					a.Labels["messaging_consumer_group_name"] == group {
					if a.State == "firing" {
						fired = a
						return nil
					}
					return fmt.Errorf("%s since %s", a.State, a.ActiveAt.Format(time.RFC3339))
				}
			}
			return errors.New("not active")
		})
		firedAfter := time.Since(injected)
		if after := deadLettered(t, prom, topic, group); after < before+1 {
			t.Errorf("wuxiao_events_consumed_total{outcome=dead-lettered} went from %v to %v", before, after)
		}
		// The alert is this fault's: it became active after the message.
		if fired.ActiveAt.Before(injected.Add(-time.Second)) {
			t.Errorf("the alert was active since %s, before the message (%s)", fired.ActiveAt, injected)
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if fired.Annotations[k] == "" {
				t.Errorf("firing alert without %s: %v", k, fired.Annotations)
			}
		}
		t.Logf("WuxiaoDeadLetters fired %s after the fault (pending at +%s, for %s): %s",
			firedAfter.Round(time.Second), fired.ActiveAt.Sub(injected).Round(time.Second), forDur, fired.Annotations["description"])
	})

	t.Run("every metric of the dashboards and alerts has series", func(t *testing.T) {
		qa, err := promnames.AlertQueries(rulesFile)
		if err != nil {
			t.Fatal(err)
		}
		qd, err := promnames.DashboardQueries(dashboards)
		if err != nil {
			t.Fatal(err)
		}
		names := promnames.Names(append(qa, qd...))
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, n)
		}
		sort.Strings(sorted)
		// Scrapes and the relay lag the activity above by a few seconds.
		eventually(t, "series for every metric named", 2*time.Minute, func() error {
			var missing []string
			for _, n := range sorted {
				res, err := prom.query("count(" + n + ")")
				if err != nil {
					return err
				}
				if len(res) == 0 {
					missing = append(missing, n+" ("+strings.Join(names[n], "; ")+")")
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%d of %d metrics have no series: %s", len(missing), len(sorted), strings.Join(missing, ", "))
			}
			return nil
		})
		t.Logf("%d metric names of %d alerts and %d dashboard queries have series", len(sorted), len(qa), len(qd))
	})
}

// firstVillage is the code of the test town's first village by code.
func firstVillage(t *testing.T) string {
	t.Helper()
	var list wuxiaov1.VillageList
	if err := env.kube.List(t.Context(), &list, client.InNamespace("town-"+env.town)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) == 0 {
		t.Fatalf("town %s has no village", env.town)
	}
	codes := make([]string, 0, len(list.Items))
	for _, v := range list.Items {
		codes = append(codes, v.Spec.Code)
	}
	sort.Strings(codes)
	return codes[0]
}

// deadLetterTarget picks a topic of the test town and a consumer group of
// the town reading it for which WuxiaoDeadLetters is not active already (an
// earlier dead letter of the last 15 minutes would make it so).
func deadLetterTarget(t *testing.T, prom *prometheus) (topic, group string) {
	t.Helper()
	var series []sample
	eventually(t, "dead-letter series of town "+env.town, time.Minute, func() error {
		var err error
		series, err = prom.query(fmt.Sprintf(`wuxiao_events_consumed_total{outcome="dead-lettered", wuxiao_town=%q, messaging_destination_name=~%q}`,
			env.town, "wuxiao\\."+env.town+"\\..+"))
		if err == nil && len(series) == 0 {
			err = errors.New("none yet")
		}
		return err
	})
	active, err := prom.alerts()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(series, func(i, j int) bool {
		return series[i].Metric["messaging_destination_name"]+series[i].Metric["messaging_consumer_group_name"] <
			series[j].Metric["messaging_destination_name"]+series[j].Metric["messaging_consumer_group_name"]
	})
	for _, s := range series {
		tp, g := s.Metric["messaging_destination_name"], s.Metric["messaging_consumer_group_name"]
		busy := slices.ContainsFunc(active, func(a activeAlert) bool {
			return a.Labels["alertname"] == "WuxiaoDeadLetters" && a.Labels["messaging_destination_name"] == tp && a.Labels["messaging_consumer_group_name"] == g
		})
		if !busy {
			return tp, g
		}
	}
	t.Fatalf("WuxiaoDeadLetters is already active for every topic and group of town %s", env.town)
	return "", ""
}

// deadLettered is the group's dead-letter count on the topic (summed over
// its pods).
func deadLettered(t *testing.T, prom *prometheus, topic, group string) float64 {
	t.Helper()
	res, err := prom.query(fmt.Sprintf(`sum(wuxiao_events_consumed_total{outcome="dead-lettered", messaging_destination_name=%q, messaging_consumer_group_name=%q})`, topic, group))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		return 0
	}
	return res[0].Value
}

// prometheus is the HTTP API of the district's Prometheus.
type prometheus struct {
	base string
	http *http.Client
}

func newPrometheus(t *testing.T) *prometheus {
	t.Helper()
	base := strings.TrimRight(os.Getenv("WUXIAO_E2E_PROMETHEUS"), "/")
	if base == "" {
		base = "http://127.0.0.1:29090"
	}
	p := &prometheus{base: base, http: &http.Client{Timeout: 30 * time.Second}}
	eventually(t, "Prometheus ready at "+base+" (hack/district.sh up starts it)", time.Minute, func() error {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/-/ready", nil)
		if err != nil {
			return err
		}
		resp, err := p.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

// get decodes the data of an API answer.
func (p *prometheus) get(path string, data any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("GET %s: status %d: %w", path, resp.StatusCode, err)
	}
	if out.Status != "success" {
		return fmt.Errorf("GET %s: %s", path, out.Error)
	}
	return json.Unmarshal(out.Data, data)
}

// sample is one series of an instant vector.
type sample struct {
	Metric map[string]string
	Value  float64
}

// query evaluates an instant query that yields a vector.
func (p *prometheus) query(expr string) ([]sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: a %s, not a vector", expr, data.ResultType)
	}
	out := make([]sample, 0, len(data.Result))
	for _, r := range data.Result {
		s := sample{Metric: r.Metric}
		if v, ok := r.Value[1].(string); ok {
			if _, err := fmt.Sscan(v, &s.Value); err != nil {
				return nil, fmt.Errorf("%s: value %q: %w", expr, v, err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// activeAlert is an alert Prometheus holds pending or firing.
type activeAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    time.Time         `json:"activeAt"`
}

func (p *prometheus) alerts() ([]activeAlert, error) {
	var data struct {
		Alerts []activeAlert `json:"alerts"`
	}
	err := p.get("/api/v1/alerts", &data)
	return data.Alerts, err
}
