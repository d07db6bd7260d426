package workflow

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/media/mediatest"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// TestApplicationRememberedVillage: the intake remembers an open village
// and its thresholds (knownVillages) and builds the application from
// them; when the registry changed meanwhile the transaction's guard fails
// it with nothing written, and the application is filed with the
// registry as it is now (new thresholds) or refused (archived), on a
// connection left clean.
func TestApplicationRememberedVillage(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t)+"&pool_max_conns=1", clk)
	s.appGuard = newApplicationGuard(ApplicationLimits{})
	if err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleTenantEvent(ctx, tx, registered(village, "u-"+village, 1)) }); err != nil {
		t.Fatal(err)
	}
	in := ApplyInput{ItemID: "duty-homestead", Name: "张小明", Phone: "13800138000", IDNumber: applicantID, Description: "翻建",
		Files: []MaterialUpload{{Material: OtherMaterial, Name: "身份证.jpg", Data: mediatest.JPEG(8, 8)}}}
	remembered := func() (villageState, bool) {
		s.appGuard.known.mu.Lock()
		defer s.appGuard.known.mu.Unlock()
		st, ok := s.appGuard.known.seen[village]
		return st, ok
	}
	counts := func() string {
		var inst, files int
		if err := s.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM instances), (SELECT count(DISTINCT file_id) FROM file_chunks)`).Scan(&inst, &files); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d/%d", inst, files)
	}

	if _, err := s.Apply(ctx, village, in, nil); err != nil {
		t.Fatal(err)
	}
	if st, ok := remembered(); !ok || st.Thresholds != DefaultThresholds || !st.Known || st.Archived {
		t.Fatalf("remembered %+v %v", st, ok)
	}
	conns := s.Pool.Stat().NewConnsCount()

	// The thresholds change: the remembered ones fail the guard, the
	// application is filed with the new ones.
	if _, err := s.Pool.Exec(ctx, `UPDATE villages SET town_approval_above_yuan = 90000 WHERE code = $1`, village); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, village, in, nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := remembered(); st.Thresholds.TownApprovalAboveYuan != 90000 {
		t.Errorf("remembered thresholds %+v after the change", st.Thresholds)
	}
	if got := counts(); got != "2/2" {
		t.Errorf("instances/chunked files %s, want 2/2", got)
	}

	// Archived: refused, nothing written, not remembered.
	if err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleTenantEvent(ctx, tx, archived(village, "u-"+village, 2)) }); err != nil {
		t.Fatal(err)
	}
	_, err := s.Apply(ctx, village, in, nil)
	if de := (*domainerr.Error)(nil); !errors.As(err, &de) || de.Type != "village-archived" {
		t.Fatalf("archived village: %v", err)
	}
	if got := counts(); got != "2/2" {
		t.Errorf("instances/chunked files %s after the refusal, want 2/2", got)
	}
	if _, ok := remembered(); ok {
		t.Error("an archived village is remembered")
	}
	if n := s.Pool.Stat().NewConnsCount(); n != conns {
		t.Errorf("%d connections opened, %d before: a failed guard's transaction was not rolled back", n, conns)
	}
}

// TestVillageGuard: the guard passes what the registry says and fails
// (WXV01) on any difference.
func TestVillageGuard(t *testing.T) {
	ctx := context.Background()
	s := replica(t, testinfra.Postgres(t), &clock{})
	if err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleTenantEvent(ctx, tx, registered(village, "u-"+village, 1)) }); err != nil {
		t.Fatal(err)
	}
	now := villageState{Known: true, Closed: true, Thresholds: DefaultThresholds}
	for _, tc := range []struct {
		name    string
		village string
		st      func(villageState) villageState
		changed bool
	}{
		{"as it is", village, func(st villageState) villageState { return st }, false},
		{"unknown then", village, func(st villageState) villageState { st.Known = false; return st }, true},
		{"archived then", village, func(st villageState) villageState { st.Archived = true; return st }, true},
		{"open then", village, func(st villageState) villageState { st.Closed = false; return st }, true},
		{"other thresholds", village, func(st villageState) villageState { st.Thresholds.RepresentativesResolutionAboveYuan++; return st }, true},
		{"unknown village as it is", "330213100299", func(st villageState) villageState { st.Known = false; return st }, false},
		{"unknown village, thresholds not compared", "330213100299", func(st villageState) villageState {
			st.Known, st.Thresholds = false, Thresholds{}
			return st
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Pool.Exec(ctx, villageGuardSQL, villageGuardArgs(tc.village, tc.st(now))...)
			if isVillageChanged(err) != tc.changed || (err != nil && !tc.changed) {
				t.Errorf("guard: %v, want changed=%v", err, tc.changed)
			}
		})
	}
}
