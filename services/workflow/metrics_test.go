package workflow

import (
	"context"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/telemetry/metricstest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

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
	mp, scrape := metricstest.Endpoint(t, town, "fenghua")
	if err := s.Instrument(mp); err != nil {
		t.Fatal(err)
	}
	// A second replica of the same town counts nothing of the first's
	// (counters are per replica) but reads the same gauges.
	other := replica(t, url, clk)

	zero := []metricstest.Want{
		{Name: "wuxiao_workflow_warnings_total", Labels: map[string]string{"rule": "deadline"}, Value: 0},
		{Name: "wuxiao_workflow_warnings_total", Labels: map[string]string{"rule": "posting-duration"}, Value: 0},
		{Name: "wuxiao_workflow_warnings_total", Labels: map[string]string{"rule": "conflict-of-interest"}, Value: 0},
		{Name: "wuxiao_workflow_timer_backlog", Labels: map[string]string{"kind": "reminder"}, Value: 0},
		{Name: "wuxiao_workflow_timer_backlog", Labels: map[string]string{"kind": "escalation"}, Value: 0},
		{Name: "wuxiao_workflow_timer_backlog_age_seconds", Labels: nil, Value: 0},
	}
	for _, c := range []string{"decision", "funds", "project", "duty", "organisation", "service"} {
		zero = append(zero, metricstest.Want{Name: "wuxiao_workflow_steps_completed_total", Labels: cat(c), Value: 0},
			metricstest.Want{Name: "wuxiao_workflow_open_steps", Labels: cat(c), Value: 0}, metricstest.Want{Name: "wuxiao_workflow_overdue_steps", Labels: cat(c), Value: 0})
	}
	metricstest.Check(t, "before any process", scrape(), zero)

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
		want []metricstest.Want
	}{
		{"three started, one step done", func(*testing.T) {}, []metricstest.Want{
			{Name: "wuxiao_workflow_steps_completed_total", Labels: cat("decision"), Value: 1},
			{Name: "wuxiao_workflow_steps_completed_total", Labels: cat("funds"), Value: 0},
			{Name: "wuxiao_workflow_open_steps", Labels: cat("decision"), Value: 3},
			{Name: "wuxiao_workflow_overdue_steps", Labels: cat("decision"), Value: 0},
			{Name: "wuxiao_workflow_timer_backlog", Labels: map[string]string{"kind": "reminder"}, Value: 0},
		}},
		{"a month later, before the timers fire", func(*testing.T) { clk.Advance(30 * 24 * time.Hour) }, []metricstest.Want{
			// Every process's current step (propose twice, the first's
			// joint meeting) is past its limit; each has a reminder and an
			// escalation due, the oldest a day before propose's deadline.
			{Name: "wuxiao_workflow_open_steps", Labels: cat("decision"), Value: 3},
			{Name: "wuxiao_workflow_overdue_steps", Labels: cat("decision"), Value: 3},
			{Name: "wuxiao_workflow_timer_backlog", Labels: map[string]string{"kind": "reminder"}, Value: 3},
			{Name: "wuxiao_workflow_timer_backlog", Labels: map[string]string{"kind": "escalation"}, Value: 3},
			{Name: "wuxiao_workflow_timer_backlog_age_seconds", Labels: nil, Value: start.Add(time.Hour + 30*24*time.Hour).Sub(proposeDue.Add(-ReminderBefore)).Seconds()},
			{Name: "wuxiao_workflow_warnings_total", Labels: map[string]string{"rule": "deadline"}, Value: 0},
		}},
		{"timers fired", func(t *testing.T) {
			if n, err := other.FireTimers(ctx, 100); err != nil || n != 6 {
				t.Fatalf("fired %d timers (%v), want 6", n, err)
			}
		}, []metricstest.Want{
			// The other replica raised the warnings: this one's counter
			// did not move, the gauges (the database's) did.
			{Name: "wuxiao_workflow_timer_backlog", Labels: map[string]string{"kind": "reminder"}, Value: 0},
			{Name: "wuxiao_workflow_timer_backlog", Labels: map[string]string{"kind": "escalation"}, Value: 0},
			{Name: "wuxiao_workflow_timer_backlog_age_seconds", Labels: nil, Value: 0},
			{Name: "wuxiao_workflow_overdue_steps", Labels: cat("decision"), Value: 3},
			{Name: "wuxiao_workflow_warnings_total", Labels: map[string]string{"rule": "deadline"}, Value: 0},
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
		}, []metricstest.Want{
			{Name: "wuxiao_workflow_steps_completed_total", Labels: cat("decision"), Value: 2},
			{Name: "wuxiao_workflow_warnings_total", Labels: map[string]string{"rule": "deadline"}, Value: 1},
			{Name: "wuxiao_workflow_overdue_steps", Labels: cat("decision"), Value: 3},
		}},
		{"one done late, one withdrawn", func(t *testing.T) {
			if _, _, err := s.Complete(ctx, cadre("secretary"), ids[0], "joint-meeting", CompleteRequest{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Withdraw(ctx, cadre("secretary"), ids[2], "议题取消"); err != nil {
				t.Fatal(err)
			}
		}, []metricstest.Want{
			{Name: "wuxiao_workflow_steps_completed_total", Labels: cat("decision"), Value: 3},
			{Name: "wuxiao_workflow_open_steps", Labels: cat("decision"), Value: 2},
			{Name: "wuxiao_workflow_overdue_steps", Labels: cat("decision"), Value: 1},
			{Name: "wuxiao_workflow_open_steps", Labels: cat("funds"), Value: 0},
		}},
	} {
		st.act(t)
		metricstest.Check(t, st.name, scrape(), st.want)
	}

	// Without its database the endpoint still answers: the counters are
	// there, the gauges read from the database are not (absent rather than
	// a stale or zero value).
	s.Pool.Close()
	after := scrape()
	metricstest.Check(t, "database gone", after, []metricstest.Want{{Name: "wuxiao_workflow_steps_completed_total", Labels: cat("decision"), Value: 3}})
	for _, name := range []string{"wuxiao_workflow_open_steps", "wuxiao_workflow_overdue_steps", "wuxiao_workflow_timer_backlog"} {
		if v, ok := after.Value(name); ok {
			t.Errorf("database gone: %s = %v, want no series", name, v)
		}
	}
}

// A scrape at rest reads its series on one connection, which goes back to
// the server afterwards (store.Background): scraped every 15-30 s, a pool
// would otherwise keep a connection open for good in every replica.
func TestMetricsScrapeHoldsNoConnection(t *testing.T) {
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	mp, scrape := metricstest.Endpoint(t, town, "fenghua")
	if err := s.Instrument(mp); err != nil {
		t.Fatal(err)
	}
	opened, held := testinfra.AtRest(t, s.Pool, func() {
		metricstest.Check(t, "at rest", scrape(), []metricstest.Want{{Name: "wuxiao_workflow_timer_backlog_age_seconds", Labels: nil, Value: 0}})
	})
	if opened != 1 || held != 0 {
		t.Errorf("a scrape at rest opened %d connections and left %d open, want 1 and 0", opened, held)
	}
}
