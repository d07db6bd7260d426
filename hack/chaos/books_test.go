//go:build chaos

package main

// The books must see what they are there to see: an accepted request
// without its effect is lost, an effect present twice is applied twice.
// This runs against the district of hack/district.sh (like the suite):
//
//	eval "$(hack/district.sh env)"; go test -tags chaos ./hack/chaos/

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestBooksSeeLossAndDuplicates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := setup(ctx, "xikou")
	if err != nil {
		t.Fatal(err)
	}
	// A little real load, so that there is an instance with steps.
	s.g.phase.Store("selfcheck")
	lctx, stop := context.WithTimeout(ctx, 8*time.Second)
	s.g.start(lctx, 1).Wait()
	stop()
	since := time.Now().Add(-time.Minute)
	if _, err := s.drain(ctx, since, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	var real op
	for _, o := range s.led.of("selfcheck") {
		if o.kind == "step" && o.outcome == accepted && o.town == "xikou" {
			real = o
			break
		}
	}
	if real.instance == "" {
		t.Fatal("the load completed no step")
	}
	clean, err := s.check(ctx, s.led.of("selfcheck"), since)
	if err != nil {
		t.Fatal(err)
	}
	if clean.lost != 0 || clean.twice != 0 {
		t.Fatalf("books of a run without faults: lost %d, twice %d: %v", clean.lost, clean.twice, clean.problems)
	}

	db, err := s.dbOf(ctx, "xikou")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	// A second copy of a step on the portal (what a consumer applying an
	// event twice would leave), removed again afterwards.
	dup := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.Exec(ctx, `INSERT INTO disclosure.process_steps (instance_id, step_id, step_name, completed_at) VALUES ($1, $2, 'chaos selfcheck', $3)`,
		real.instance, real.step, dup); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec(context.Background(), `DELETE FROM disclosure.process_steps WHERE instance_id = $1 AND step_id = $2 AND completed_at = $3`, real.instance, real.step, dup)
	})
	for _, tc := range []struct {
		name        string
		ops         []op
		lost, twice int
	}{
		{"a step accepted for an instance that does not exist", []op{{kind: "step", town: "xikou", instance: uuid.NewString(), step: "apply", outcome: accepted}}, 1, 0},
		{"a process accepted that was never stored", []op{{kind: "start", town: "xikou", marker: "混沌测试 never-" + uuid.NewString(), outcome: accepted}}, 1, 0},
		{"a report accepted that was never stored", []op{{kind: "complaint", town: "xikou", marker: "HD-never", tracking: "TS-999-ZZZZ-ZZZZ", outcome: accepted}}, 1, 0},
		{"a step twice on the portal", []op{real}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := s.check(ctx, tc.ops, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if b.lost != tc.lost || b.twice != tc.twice {
				t.Fatalf("lost %d, twice %d, want %d, %d: %v", b.lost, b.twice, tc.lost, tc.twice, b.problems)
			}
		})
	}
}
