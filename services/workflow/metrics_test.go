package workflow

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/wuxiao/wuxiao/services/internal/telemetry"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// metricsEndpoint is a /metrics endpoint as telemetry.Setup builds it (the
// OpenTelemetry Prometheus exporter on a private registry, the town and
// district as labels of every series), without installing global
// providers; scrape reads it as Prometheus would.
func metricsEndpoint(t *testing.T) (*sdkmetric.MeterProvider, func() samples) {
	t.Helper()
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithResourceAsConstantLabels(attribute.NewAllowKeysFilter(telemetry.TownKey, telemetry.DistrictKey)))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp),
		sdkmetric.WithResource(resource.NewSchemaless(telemetry.TownKey.String(town), telemetry.DistrictKey.String("fenghua"))))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	ts := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	t.Cleanup(ts.Close)
	return mp, func() samples {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("GET /metrics: %d %s", res.StatusCode, b)
		}
		return parseSamples(t, res.Body)
	}
}

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

type samples []sample

var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseSamples(t *testing.T, r io.Reader) samples {
	t.Helper()
	var out samples
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		s := sample{labels: map[string]string{}, value: v}
		head := line[:sp]
		if i := strings.IndexByte(head, '{'); i >= 0 {
			s.name = head[:i]
			for _, m := range labelPair.FindAllStringSubmatch(head[i:], -1) {
				s.labels[m[1]] = m[2]
			}
		} else {
			s.name = head
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// get is the value of the one series of name with labels (others may be
// more), and whether there is one. Every series must carry the town.
func (ss samples) get(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	var found []sample
	for _, s := range ss {
		if s.name != name {
			continue
		}
		if s.labels["wuxiao_town"] != town || s.labels["wuxiao_district"] != "fenghua" {
			t.Errorf("%s%v lacks the town and district labels", name, s.labels)
		}
		match := true
		for k, v := range labels {
			match = match && s.labels[k] == v
		}
		if match {
			found = append(found, s)
		}
	}
	if len(found) > 1 {
		t.Fatalf("%s%v: %d series, want one", name, labels, len(found))
	}
	if len(found) == 0 {
		return 0, false
	}
	return found[0].value, true
}

// metricWant is the value a series should have.
type metricWant struct {
	name   string
	labels map[string]string
	want   float64
}

func checkMetrics(t *testing.T, stage string, ss samples, wants []metricWant) {
	t.Helper()
	for _, w := range wants {
		got, ok := ss.get(t, w.name, w.labels)
		if !ok {
			t.Errorf("%s: no series %s%v", stage, w.name, w.labels)
		} else if got != w.want {
			t.Errorf("%s: %s%v = %v, want %v", stage, w.name, w.labels, got, w.want)
		}
	}
}

func cat(c string) map[string]string { return map[string]string{"category": c} }

// The workflow's metrics follow real processes on PostgreSQL: steps done,
// open and overdue steps, the timers' backlog and the warnings, read from
// the /metrics output under the names metrics.md documents.
func TestWorkflowMetrics(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai)
	clk.Set(start)
	url := testinfra.Postgres(t)
	s := replica(t, url, clk)
	mp, scrape := metricsEndpoint(t)
	if err := s.Instrument(mp); err != nil {
		t.Fatal(err)
	}
	// A second replica of the same town counts nothing of the first's
	// (counters are per replica) but reads the same gauges.
	other := replica(t, url, clk)

	zero := []metricWant{
		{"wuxiao_workflow_warnings_total", map[string]string{"rule": "deadline"}, 0},
		{"wuxiao_workflow_warnings_total", map[string]string{"rule": "posting-duration"}, 0},
		{"wuxiao_workflow_warnings_total", map[string]string{"rule": "conflict-of-interest"}, 0},
		{"wuxiao_workflow_timer_backlog", map[string]string{"kind": "reminder"}, 0},
		{"wuxiao_workflow_timer_backlog", map[string]string{"kind": "escalation"}, 0},
		{"wuxiao_workflow_timer_backlog_age_seconds", nil, 0},
	}
	for _, c := range []string{"decision", "funds", "project", "duty", "organisation", "service"} {
		zero = append(zero, metricWant{"wuxiao_workflow_steps_completed_total", cat(c), 0},
			metricWant{"wuxiao_workflow_open_steps", cat(c), 0}, metricWant{"wuxiao_workflow_overdue_steps", cat(c), 0})
	}
	checkMetrics(t, "before any process", scrape(), zero)

	var ids []string
	for range 3 {
		inst, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "议题"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inst.ID)
	}
	clk.Advance(time.Hour)
	if _, _, err := s.Complete(ctx, cadre("secretary"), ids[0], "propose", CompleteRequest{}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Get(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	proposeDue := *b.Steps[0].DueAt

	for _, st := range []struct {
		name string
		act  func(t *testing.T)
		want []metricWant
	}{
		{"three started, one step done", func(*testing.T) {}, []metricWant{
			{"wuxiao_workflow_steps_completed_total", cat("decision"), 1},
			{"wuxiao_workflow_steps_completed_total", cat("funds"), 0},
			{"wuxiao_workflow_open_steps", cat("decision"), 3},
			{"wuxiao_workflow_overdue_steps", cat("decision"), 0},
			{"wuxiao_workflow_timer_backlog", map[string]string{"kind": "reminder"}, 0},
		}},
		{"a month later, before the timers fire", func(*testing.T) { clk.Advance(30 * 24 * time.Hour) }, []metricWant{
			// Every process's current step (propose twice, the first's
			// joint meeting) is past its limit; each has a reminder and an
			// escalation due, the oldest a day before propose's deadline.
			{"wuxiao_workflow_open_steps", cat("decision"), 3},
			{"wuxiao_workflow_overdue_steps", cat("decision"), 3},
			{"wuxiao_workflow_timer_backlog", map[string]string{"kind": "reminder"}, 3},
			{"wuxiao_workflow_timer_backlog", map[string]string{"kind": "escalation"}, 3},
			{"wuxiao_workflow_timer_backlog_age_seconds", nil, start.Add(time.Hour + 30*24*time.Hour).Sub(proposeDue.Add(-ReminderBefore)).Seconds()},
			{"wuxiao_workflow_warnings_total", map[string]string{"rule": "deadline"}, 0},
		}},
		{"timers fired", func(t *testing.T) {
			if n, err := other.FireTimers(ctx, 100); err != nil || n != 6 {
				t.Fatalf("fired %d timers (%v), want 6", n, err)
			}
		}, []metricWant{
			// The other replica raised the warnings: this one's counter
			// did not move, the gauges (the database's) did.
			{"wuxiao_workflow_timer_backlog", map[string]string{"kind": "reminder"}, 0},
			{"wuxiao_workflow_timer_backlog", map[string]string{"kind": "escalation"}, 0},
			{"wuxiao_workflow_timer_backlog_age_seconds", nil, 0},
			{"wuxiao_workflow_overdue_steps", cat("decision"), 3},
			{"wuxiao_workflow_warnings_total", map[string]string{"rule": "deadline"}, 0},
		}},
		{"this replica fires the next deadlines", func(t *testing.T) {
			// The late propose moves the second process to a fresh step
			// (not overdue); without the deadline warning again (once per
			// visit). Its joint meeting's timers fire here, a month on.
			if _, _, err := s.Complete(ctx, cadre("secretary"), ids[1], "propose", CompleteRequest{}); err != nil {
				t.Fatal(err)
			}
			clk.Advance(30 * 24 * time.Hour)
			if n, err := s.FireTimers(ctx, 100); err != nil || n != 2 {
				t.Fatalf("fired %d timers (%v), want 2", n, err)
			}
		}, []metricWant{
			{"wuxiao_workflow_steps_completed_total", cat("decision"), 2},
			{"wuxiao_workflow_warnings_total", map[string]string{"rule": "deadline"}, 1},
			{"wuxiao_workflow_overdue_steps", cat("decision"), 3},
		}},
		{"one done late, one withdrawn", func(t *testing.T) {
			if _, _, err := s.Complete(ctx, cadre("secretary"), ids[0], "joint-meeting", CompleteRequest{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Withdraw(ctx, cadre("secretary"), ids[2], "议题取消"); err != nil {
				t.Fatal(err)
			}
		}, []metricWant{
			{"wuxiao_workflow_steps_completed_total", cat("decision"), 3},
			{"wuxiao_workflow_open_steps", cat("decision"), 2},
			{"wuxiao_workflow_overdue_steps", cat("decision"), 1},
			{"wuxiao_workflow_open_steps", cat("funds"), 0},
		}},
	} {
		st.act(t)
		checkMetrics(t, st.name, scrape(), st.want)
	}

	// Without its database the endpoint still answers: the counters are
	// there, the gauges read from the database are not (absent rather than
	// a stale or zero value).
	s.Pool.Close()
	after := scrape()
	checkMetrics(t, "database gone", after, []metricWant{{"wuxiao_workflow_steps_completed_total", cat("decision"), 3}})
	for _, name := range []string{"wuxiao_workflow_open_steps", "wuxiao_workflow_overdue_steps", "wuxiao_workflow_timer_backlog"} {
		if v, ok := after.get(t, name, nil); ok {
			t.Errorf("database gone: %s = %v, want no series", name, v)
		}
	}
}
