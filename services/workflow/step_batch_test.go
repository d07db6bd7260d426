package workflow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// TestStepBatchIsOneTransaction: a step's writes go to PostgreSQL as one
// pipelined batch ending in COMMIT (step_batch.go). When a statement in
// the middle fails, nothing of the step remains (instance, timers,
// warnings, audit, outbox, postings), the connection goes back to the pool
// clean, and the same step then records normally, once.
func TestStepBatchIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	// One connection: the failed step's connection is the next step's.
	pool, err := store.Open(ctx, s.Pool.Config().ConnString(), "workflow", store.WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s.Pool = pool
	inst, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "村道硬化", AmountFen: 9_000_000})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct{ step, role string }{{"propose", "secretary"}, {"joint-meeting", "secretary"}} {
		if _, _, err := s.Complete(ctx, cadre(st.role), inst.ID, st.step, CompleteRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// The audit row is written after the timers, the instance and before
	// the events and postings: fail it.
	if _, err := pool.Exec(ctx, `CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.data LIKE '%refuse-me%' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION refuse_audit()`); err != nil {
		t.Fatal(err)
	}
	counts := func() map[string]int {
		out := map[string]int{}
		for _, table := range []string{"outbox", "audit", "timers", "warnings", "postings", "instances"} {
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		var cancelled int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM timers WHERE cancelled`).Scan(&cancelled); err != nil {
			t.Fatal(err)
		}
		out["cancelled timers"] = cancelled
		return out
	}
	before := counts()
	stored, err := s.Get(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * 24 * time.Hour) // the posting is too short: the step warns
	if _, _, err := s.Complete(ctx, cadre("director"), inst.ID, "plan-posting", CompleteRequest{Note: "refuse-me"}); err == nil {
		t.Fatal("the step recorded although its audit row was refused")
	}
	if after := counts(); !equalCounts(before, after) {
		t.Errorf("a failed step left rows behind: before %v, after %v", before, after)
	}
	if got, err := s.Get(ctx, inst.ID); err != nil || got.Version != stored.Version || got.Current != "plan-posting" {
		t.Fatalf("instance after the failed step: %+v (%v)", got, err)
	}
	_, ws, err := s.Complete(ctx, cadre("director"), inst.ID, "plan-posting", CompleteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Rule != "posting-duration" {
		t.Errorf("warnings %+v", ws)
	}
	entries, check, err := s.Audit(ctx, inst.ID)
	if err != nil || !check.Valid || len(entries) != 4 {
		t.Errorf("audit: %d entries, %+v (%v)", len(entries), check, err)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestStepRecordedOnceWhenRacing: cadres recording the same step of one
// process at once (the row lock serialises them) record it once; the
// others are refused, and the audit chain holds.
func TestStepRecordedOnceWhenRacing(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	inst, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "村道硬化"})
	if err != nil {
		t.Fatal(err)
	}
	const racers = 6
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.Complete(ctx, cadre("secretary"), inst.ID, "propose", CompleteRequest{})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var de *domainerr.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &de) && de.Status >= 400 && de.Status < 500:
		default:
			t.Errorf("racer: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d racers recorded the step, want 1 (%v)", ok, errs)
	}
	entries, check, err := s.Audit(ctx, inst.ID)
	if err != nil || !check.Valid || len(entries) != 2 {
		t.Errorf("audit: %d entries, %+v (%v)", len(entries), check, err)
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE headers->>'ce_type' = 'cn.wuxiao.workflow.step.completed.v1'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d step.completed events (%v), want 1", n, err)
	}
}
