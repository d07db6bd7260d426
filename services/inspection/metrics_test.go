package inspection

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/telemetry/metricstest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

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
	mp, scrape := metricstest.Endpoint(t, svcTown, "fenghua")
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
		want []metricstest.Want
	}{
		{"registered", func(*testing.T) {}, []metricstest.Want{
			{Name: "wuxiao_inspection_villages_known", Labels: nil, Value: 4},
			{Name: "wuxiao_inspection_villages_covered", Labels: nil, Value: 0},
			{Name: "wuxiao_inspection_coverage_ratio", Labels: nil, Value: 0},
			{Name: "wuxiao_inspection_village_grades", Labels: grade("A"), Value: 4},
			{Name: "wuxiao_inspection_village_grades", Labels: grade("D"), Value: 0},
			{Name: "wuxiao_inspection_grade_changes_total", Labels: change("A", "B"), Value: 0},
			{Name: "wuxiao_inspection_grade_changes_total", Labels: change("C", "D"), Value: 0},
			{Name: "wuxiao_inspection_notices_issued_total", Labels: map[string]string{"kind": "warning"}, Value: 0},
			{Name: "wuxiao_inspection_notices_issued_total", Labels: map[string]string{"kind": "rectification"}, Value: 0},
		}},
		{"A to B: no notice", conflict(1), []metricstest.Want{
			{Name: "wuxiao_inspection_grade_changes_total", Labels: change("A", "B"), Value: 1},
			{Name: "wuxiao_inspection_village_grades", Labels: grade("A"), Value: 3},
			{Name: "wuxiao_inspection_village_grades", Labels: grade("B"), Value: 1},
			{Name: "wuxiao_inspection_notices_issued_total", Labels: map[string]string{"kind": "warning"}, Value: 0},
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
		}, []metricstest.Want{
			{Name: "wuxiao_inspection_grade_changes_total", Labels: change("B", "C"), Value: 0},
			{Name: "wuxiao_inspection_notices_issued_total", Labels: map[string]string{"kind": "warning"}, Value: 0},
			{Name: "wuxiao_inspection_village_grades", Labels: grade("B"), Value: 1},
		}},
		{"B to C: a draft is not issued", conflict(3), []metricstest.Want{
			{Name: "wuxiao_inspection_grade_changes_total", Labels: change("B", "C"), Value: 1},
			{Name: "wuxiao_inspection_notices_issued_total", Labels: map[string]string{"kind": "warning"}, Value: 0},
		}},
		{"B to C: warning notice signed", func(t *testing.T) { signDrafts(t, s) }, []metricstest.Want{
			{Name: "wuxiao_inspection_grade_changes_total", Labels: change("A", "B"), Value: 1},
			{Name: "wuxiao_inspection_grade_changes_total", Labels: change("B", "C"), Value: 1},
			{Name: "wuxiao_inspection_notices_issued_total", Labels: map[string]string{"kind": "warning"}, Value: 1},
			{Name: "wuxiao_inspection_village_grades", Labels: grade("B"), Value: 0},
			{Name: "wuxiao_inspection_village_grades", Labels: grade("C"), Value: 1},
		}},
		{"C to D: rectification notice", func(t *testing.T) { conflict(4)(t); signDrafts(t, s) }, []metricstest.Want{
			{Name: "wuxiao_inspection_grade_changes_total", Labels: change("C", "D"), Value: 1},
			{Name: "wuxiao_inspection_notices_issued_total", Labels: map[string]string{"kind": "warning"}, Value: 1},
			{Name: "wuxiao_inspection_notices_issued_total", Labels: map[string]string{"kind": "rectification"}, Value: 1},
			{Name: "wuxiao_inspection_village_grades", Labels: grade("D"), Value: 1},
			{Name: "wuxiao_inspection_village_grades", Labels: grade("A"), Value: 3},
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
		}, []metricstest.Want{
			{Name: "wuxiao_inspection_villages_known", Labels: nil, Value: 4},
			{Name: "wuxiao_inspection_villages_covered", Labels: nil, Value: 2},
			{Name: "wuxiao_inspection_coverage_ratio", Labels: nil, Value: 0.5},
		}},
		{"next year: not covered yet", func(*testing.T) { clk.Set(time.Date(2027, 1, 5, 9, 0, 0, 0, Shanghai)) }, []metricstest.Want{
			{Name: "wuxiao_inspection_villages_covered", Labels: nil, Value: 0},
			{Name: "wuxiao_inspection_coverage_ratio", Labels: nil, Value: 0},
			// A new rating period: every village starts again at A.
			{Name: "wuxiao_inspection_village_grades", Labels: grade("A"), Value: 4},
			{Name: "wuxiao_inspection_grade_changes_total", Labels: change("C", "D"), Value: 1},
		}},
	} {
		st.act(t)
		metricstest.Check(t, st.name, scrape(), st.want)
	}

	// Another replica of the town reports the same values.
	other := newService(t, url, svcTown, clk)
	mp2, scrape2 := metricstest.Endpoint(t, svcTown, "fenghua")
	if err := other.Instrument(mp2); err != nil {
		t.Fatal(err)
	}
	metricstest.Check(t, "another replica", scrape2(), []metricstest.Want{
		{Name: "wuxiao_inspection_grade_changes_total", Labels: change("A", "B"), Value: 1},
		{Name: "wuxiao_inspection_notices_issued_total", Labels: map[string]string{"kind": "rectification"}, Value: 1},
		{Name: "wuxiao_inspection_villages_known", Labels: nil, Value: 4},
	})
}

// A scrape at rest reads its five series on one connection, which goes
// back to the server afterwards (store.Background): scraped every 15-30 s,
// a pool would otherwise keep a connection open for good in every replica
// (make dev measured 1-2 per service at rest).
func TestMetricsScrapeHoldsNoConnection(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	mp, scrape := metricstest.Endpoint(t, svcTown, "fenghua")
	if err := s.Instrument(mp); err != nil {
		t.Fatal(err)
	}
	opened, held := testinfra.AtRest(t, s.Pool, func() {
		metricstest.Check(t, "at rest", scrape(), []metricstest.Want{{Name: "wuxiao_inspection_coverage_ratio", Labels: nil, Value: 0}})
	})
	if opened != 1 || held != 0 {
		t.Errorf("a scrape at rest opened %d connections and left %d open, want 1 and 0", opened, held)
	}
}
