package inspection

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// metricsEndpoint is a /metrics endpoint as telemetry.Setup builds it (the
// OpenTelemetry Prometheus exporter on a private registry, the town and
// district as labels of every series), without installing global
// providers; scrape reads it as Prometheus would.
func metricsEndpoint(t *testing.T) (*sdkmetric.MeterProvider, func() promSamples) {
	t.Helper()
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithResourceAsConstantLabels(attribute.NewAllowKeysFilter(telemetry.TownKey, telemetry.DistrictKey)))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp),
		sdkmetric.WithResource(resource.NewSchemaless(telemetry.TownKey.String(svcTown), telemetry.DistrictKey.String("fenghua"))))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	ts := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	t.Cleanup(ts.Close)
	return mp, func() promSamples {
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

// promSample is one line of the text exposition format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

type promSamples []promSample

var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseSamples(t *testing.T, r io.Reader) promSamples {
	t.Helper()
	var out promSamples
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
		s := promSample{labels: map[string]string{}, value: v}
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
func (ss promSamples) get(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	var found []promSample
	for _, s := range ss {
		if s.name != name {
			continue
		}
		if s.labels["wuxiao_town"] != svcTown || s.labels["wuxiao_district"] != "fenghua" {
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

func checkMetrics(t *testing.T, stage string, ss promSamples, wants []metricWant) {
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

func grade(g string) map[string]string { return map[string]string{"grade": g} }

func change(from, to string) map[string]string { return map[string]string{"from": from, "to": to} }

// The inspection's metrics follow the town's ratings, notices and tours in
// PostgreSQL: a grade change counts with its from/to grades, a notice with
// its kind, a rolled-back fact not at all; coverage is the share of the
// registry's villages visited this year. A second replica reads the same
// values.
func TestInspectionMetrics(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	url := testinfra.Postgres(t)
	s := newService(t, url, svcTown, clk)
	mp, scrape := metricsEndpoint(t)
	if err := s.Instrument(mp); err != nil {
		t.Fatal(err)
	}
	villages := append([]string{svcVillage, svcVillage2}, villageCodes(2)...)
	for i, v := range villages {
		if err := apply(s, s.HandleTenantEvent, tenantEvent(t, svcTown, v, fmt.Sprintf("村%d", i+1), 1)); err != nil {
			t.Fatal(err)
		}
	}
	disc := identity.Principal{IdentityID: "disc-1", Role: identity.RoleTownDiscipline, Town: svcTown}
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	conflict := func(n int) func(t *testing.T) { // the n-th conflict of interest in svcVillage: −15 each
		return func(t *testing.T) {
			handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day.AddDate(0, 0, n)))
		}
	}
	for _, st := range []struct {
		name string
		act  func(t *testing.T)
		want []metricWant
	}{
		{"registered", func(*testing.T) {}, []metricWant{
			{"wuxiao_inspection_villages_known", nil, 4},
			{"wuxiao_inspection_villages_covered", nil, 0},
			{"wuxiao_inspection_coverage_ratio", nil, 0},
			{"wuxiao_inspection_village_grades", grade("A"), 4},
			{"wuxiao_inspection_village_grades", grade("D"), 0},
			{"wuxiao_inspection_grade_changes_total", change("A", "B"), 0},
			{"wuxiao_inspection_grade_changes_total", change("C", "D"), 0},
			{"wuxiao_inspection_notices_issued_total", map[string]string{"kind": "warning"}, 0},
			{"wuxiao_inspection_notices_issued_total", map[string]string{"kind": "rectification"}, 0},
		}},
		{"A to B: no notice", conflict(1), []metricWant{
			{"wuxiao_inspection_grade_changes_total", change("A", "B"), 1},
			{"wuxiao_inspection_village_grades", grade("A"), 3},
			{"wuxiao_inspection_village_grades", grade("B"), 1},
			{"wuxiao_inspection_notices_issued_total", map[string]string{"kind": "warning"}, 0},
		}},
		{"a fact rolled back counts nothing", func(t *testing.T) {
			errAfter := errors.New("the consumer's transaction failed after the fact")
			err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
				if err := s.HandleWorkflowEvent(ctx, tx, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day.AddDate(0, 0, 2))); err != nil {
					return err
				}
				return errAfter
			})
			if !errors.Is(err, errAfter) {
				t.Fatal(err)
			}
		}, []metricWant{
			{"wuxiao_inspection_grade_changes_total", change("B", "C"), 0},
			{"wuxiao_inspection_notices_issued_total", map[string]string{"kind": "warning"}, 0},
			{"wuxiao_inspection_village_grades", grade("B"), 1},
		}},
		{"B to C: warning notice", conflict(3), []metricWant{
			{"wuxiao_inspection_grade_changes_total", change("A", "B"), 1},
			{"wuxiao_inspection_grade_changes_total", change("B", "C"), 1},
			{"wuxiao_inspection_notices_issued_total", map[string]string{"kind": "warning"}, 1},
			{"wuxiao_inspection_village_grades", grade("B"), 0},
			{"wuxiao_inspection_village_grades", grade("C"), 1},
		}},
		{"C to D: rectification notice", conflict(4), []metricWant{
			{"wuxiao_inspection_grade_changes_total", change("C", "D"), 1},
			{"wuxiao_inspection_notices_issued_total", map[string]string{"kind": "warning"}, 1},
			{"wuxiao_inspection_notices_issued_total", map[string]string{"kind": "rectification"}, 1},
			{"wuxiao_inspection_village_grades", grade("D"), 1},
			{"wuxiao_inspection_village_grades", grade("A"), 3},
		}},
		{"two of four villages visited this year", func(t *testing.T) {
			tour, err := s.PlanTour(ctx, disc, TourInput{Name: "2026年第一轮村级巡察", Period: "2026", Team: []TeamMember{{Name: "王巡察", Role: "组长"}},
				Villages: villages[:3]})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range villages[:2] {
				if err := s.RecordVisit(ctx, disc, tour.ID, v, time.Date(2026, 4, 1, 0, 0, 0, 0, Shanghai)); err != nil {
					t.Fatal(err)
				}
			}
		}, []metricWant{
			{"wuxiao_inspection_villages_known", nil, 4},
			{"wuxiao_inspection_villages_covered", nil, 2},
			{"wuxiao_inspection_coverage_ratio", nil, 0.5},
		}},
		{"next year: not covered yet", func(*testing.T) { clk.Set(time.Date(2027, 1, 5, 9, 0, 0, 0, Shanghai)) }, []metricWant{
			{"wuxiao_inspection_villages_covered", nil, 0},
			{"wuxiao_inspection_coverage_ratio", nil, 0},
			// A new rating period: every village starts again at A.
			{"wuxiao_inspection_village_grades", grade("A"), 4},
			{"wuxiao_inspection_grade_changes_total", change("C", "D"), 1},
		}},
	} {
		st.act(t)
		checkMetrics(t, st.name, scrape(), st.want)
	}

	// Another replica of the town reports the same values.
	other := newService(t, url, svcTown, clk)
	mp2, scrape2 := metricsEndpoint(t)
	if err := other.Instrument(mp2); err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, "another replica", scrape2(), []metricWant{
		{"wuxiao_inspection_grade_changes_total", change("A", "B"), 1},
		{"wuxiao_inspection_notices_issued_total", map[string]string{"kind": "rectification"}, 1},
		{"wuxiao_inspection_villages_known", nil, 4},
	})
}
