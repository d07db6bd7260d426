package controller

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// promSample is one series of the operator's /metrics page.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	promLineRE  = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$`)
	promLabelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrapeOperator reads the registry the manager's metrics server serves
// (controller-runtime's metrics.Registry), through the same promhttp
// handler, as Prometheus reads it.
func scrapeOperator(t *testing.T) (samples []promSample, types map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	types = map[string]string{}
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if f := strings.Fields(rest); len(f) == 2 {
				types[f[0]] = f[1]
			}
			continue
		}
		m := promLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		s := promSample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range promLabelRE.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[2]
		}
		samples = append(samples, s)
	}
	return samples, types
}

// promValue sums the series of name whose labels include labels (pairs).
func promValue(samples []promSample, name string, labels ...string) (float64, int) {
	var v float64
	n := 0
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		v += s.value
		n++
	}
	return v, n
}

// The operator's tenant metrics on its /metrics: per District the towns,
// the Ready ones and those on the District's version; per Town its
// version (wuxiao_town_info) and conditions; and controller-runtime's
// reconcile metrics for the operator's controllers.
func TestOperatorMetrics(t *testing.T) {
	startManager(t)
	d := fixture(t)
	a := readyTown(t, d)
	b := readyTown(t, d)

	var samples []promSample
	var types map[string]string
	eventually(t, wait, func() error {
		samples, types = scrapeOperator(t)
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"wuxiao_district_towns", []string{"district", d.Name}, 2},
			{"wuxiao_district_towns_ready", []string{"district", d.Name}, 2},
			{"wuxiao_district_towns_on_version", []string{"district", d.Name}, 2},
			{"wuxiao_town_info", []string{"town", a.Name, "district", d.Name, "version", d.Spec.Services.Version}, 1},
			{"wuxiao_town_info", []string{"town", b.Name, "district", d.Name, "version", d.Spec.Services.Version}, 1},
			{"wuxiao_resource_condition", []string{"kind", "District", "name", d.Name, "type", wuxiaov1.ConditionReady}, 1},
			{"wuxiao_resource_condition", []string{"kind", "Town", "name", a.Name, "type", wuxiaov1.ConditionReady}, 1},
			{"wuxiao_town_villages", []string{"town", a.Name, "ready", "true"}, 0},
		} {
			got, n := promValue(samples, c.name, c.labels...)
			if n != 1 || got != c.want {
				return fmt.Errorf("%s%v: %v in %d series, want %v in one", c.name, c.labels, got, n, c.want)
			}
		}
		// The alert on a halted rollout reads this series: it exists
		// (not halted: 0 or -1 while the condition is absent).
		if got, n := promValue(samples, "wuxiao_resource_condition", "kind", "District", "name", d.Name, "type", wuxiaov1.ConditionRolloutHalted); n != 1 || got == 1 {
			return fmt.Errorf("RolloutHalted of %s: %v in %d series", d.Name, got, n)
		}
		return nil
	})
	for family, typ := range map[string]string{
		"wuxiao_district_towns":                     "gauge",
		"wuxiao_district_towns_ready":               "gauge",
		"wuxiao_district_towns_on_version":          "gauge",
		"wuxiao_town_info":                          "gauge",
		"wuxiao_resource_condition":                 "gauge",
		"controller_runtime_reconcile_total":        "counter",
		"controller_runtime_reconcile_errors_total": "counter",
		"controller_runtime_reconcile_time_seconds": "histogram",
		"workqueue_depth":                           "gauge",
	} {
		if types[family] != typ {
			t.Errorf("# TYPE %s is %q, want %s", family, types[family], typ)
		}
	}
	if got, n := promValue(samples, "controller_runtime_reconcile_total", "result", "success"); n == 0 || got == 0 {
		t.Errorf("controller_runtime_reconcile_total{result=success}: %v in %d series", got, n)
	}
	for _, ctrlName := range []string{"town", "district", "village", "powercatalog"} {
		found := false
		for _, s := range samples {
			if s.name == "controller_runtime_reconcile_total" && strings.HasPrefix(s.labels["controller"], ctrlName) {
				found = true
			}
		}
		if !found {
			t.Errorf("no controller_runtime_reconcile_total series of the %s controller", ctrlName)
		}
	}
}
