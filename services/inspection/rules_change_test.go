package inspection

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// A service starting with other rules re-grades the period's villages at
// once: the change is recorded and published with no facts to blame and no
// notice; starting again with the same rules changes nothing.
func TestApplyRulesRegradesAtOnce(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 5, 10, 9, 0, 0, 0, Shanghai))
	url := testinfra.Postgres(t)
	s := newService(t, url, svcTown, clk)

	// Two conflicts of interest under the steep rules (−15 each): 70, C.
	for i, at := range []time.Time{clk.Now().Add(-2 * time.Hour), clk.Now().Add(-time.Hour)} {
		ev := warningEvent(t, svcTown, svcVillage, "conflict-of-interest", at)
		if err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleWorkflowEvent(ctx, tx, ev) }); err != nil {
			t.Fatalf("warning %d: %v", i, err)
		}
	}
	if r := rating(t, s, svcVillage); r.Points != 70 || r.Grade != GradeC {
		t.Fatalf("under the steep rules: %d %s, want 70 C", r.Points, r.Grade)
	}
	if n, err := s.ApplyRules(ctx); err != nil || n != 0 {
		t.Fatalf("first ApplyRules with the rules the ratings were made with: %d re-graded, %v", n, err)
	}
	notices := count(t, s.Pool, `SELECT count(*) FROM notices`)
	changes := count(t, s.Pool, `SELECT count(*) FROM grade_changes`)

	// A day later the district softens the rules (the built-in −10): 80,
	// B, at start-up.
	clk.Set(clk.Now().Add(24 * time.Hour))
	soft := newService(t, url, svcTown, clk)
	soft.Rules = DefaultRules()
	n, err := soft.ApplyRules(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ApplyRules with other rules: %d re-graded, %v; want 1", n, err)
	}
	if r := rating(t, soft, svcVillage); r.Points != 80 || r.Grade != GradeB {
		t.Fatalf("after the rules changed: %d %s, want 80 B", r.Points, r.Grade)
	}
	list, err := soft.gradeChanges(ctx, svcVillage, 10)
	if err != nil || len(list) != changes+1 {
		t.Fatalf("grade changes %+v %v", list, err)
	}
	if ch := list[0]; ch.From != GradeC || ch.To != GradeB || ch.FromPoints != 70 || ch.ToPoints != 80 || len(ch.Because) != 0 || ch.Notice != "" {
		t.Fatalf("the change the rules made: %+v", ch)
	}
	if got := count(t, s.Pool, `SELECT count(*) FROM notices`); got != notices {
		t.Errorf("notices %d -> %d: a change of rules issued a notice", notices, got)
	}
	types, _ := outbox(t, s.Pool)
	if !slices.Contains(types, eventsv1.TypeRatingChanged) || types[len(types)-1] != eventsv1.TypeRatingChanged {
		t.Errorf("outbox %v: the re-grading is not announced last", types)
	}

	// Another replica starting with the same rules finds nothing to do.
	if n, err := soft.ApplyRules(ctx); err != nil || n != 0 {
		t.Fatalf("ApplyRules again: %d re-graded, %v", n, err)
	}
	if got := count(t, s.Pool, `SELECT count(*) FROM grade_changes`); got != changes+1 {
		t.Errorf("grade changes %d, want %d", got, changes+1)
	}
}
