package workflow

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// clock is a test clock shared by the "replicas" of a test.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// replica opens a Service as one replica of the workflow would, on its own pool.
func replica(t testing.TB, url string, clk *clock) *Service {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, url, "workflow")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return &Service{Engine: newEngine(t), Pool: pool, Town: town, IDHashKey: []byte("test-key"), AuditKey: testAuditKey,
		Log: slog.New(slog.DiscardHandler), Now: clk.Now}
}

// outboxTypes lists the enqueued events' types but the audit anchors
// (one per audit entry; audit_anchor_test.go checks them).
func outboxTypes(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT headers->>'ce_type' FROM outbox WHERE headers->>'ce_type' <> $1 ORDER BY seq`,
		eventsv1.TypeAuditAnchored)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		types = append(types, strings.TrimPrefix(strings.TrimSuffix(s, ".v1"), "cn.wuxiao.workflow."))
	}
	return types
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var pe *domainerr.Error
	if !errors.As(err, &pe) || pe.Status != status {
		t.Fatalf("got %v, want a %d refusal", err, status)
	}
}

func TestServiceFlowEventsAndAudit(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)

	inst, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "村道硬化", AmountFen: 9_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(inst.TrackingNumber, village+"-20260302-") {
		t.Errorf("tracking number %s", inst.TrackingNumber)
	}
	steps := []struct {
		step, role string
		after      time.Duration
	}{
		{"propose", "secretary", time.Hour}, {"joint-meeting", "secretary", 48 * time.Hour},
		{"plan-posting", "director", 10 * 24 * time.Hour}, // posted 10 days: too short
	}
	var warnings []Warning
	for _, st := range steps {
		clk.Advance(st.after)
		_, ws, err := s.Complete(ctx, cadre(st.role), inst.ID, st.step, CompleteRequest{})
		if err != nil {
			t.Fatalf("%s: %v", st.step, err)
		}
		warnings = append(warnings, ws...)
	}
	if len(warnings) != 1 || warnings[0].Rule != "posting-duration" {
		t.Fatalf("warnings %+v", warnings)
	}
	stored, err := s.Warnings(ctx, village, "", true, 10)
	if err != nil || len(stored) != 1 || stored[0].Norm == "" {
		t.Fatalf("stored warnings %+v (%v)", stored, err)
	}
	got := strings.Join(outboxTypes(t, s.Pool), " ")
	want := "instance.started step.completed step.completed posting.published step.completed warning.raised posting.ended"
	if got != want {
		t.Errorf("outbox %q, want %q", got, want)
	}

	// The audit trail holds and detects a row changed behind the service's back.
	entries, check, err := s.Audit(ctx, inst.ID)
	if err != nil || !check.Valid || len(entries) != 4 {
		t.Fatalf("audit %d entries, %+v, %v", len(entries), check, err)
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE audit SET actor_id = 'x' WHERE instance_id = $1 AND seq = 2`, inst.ID); err == nil ||
		!strings.Contains(err.Error(), "append-only") {
		t.Fatalf("the audit table accepted an UPDATE: %v", err)
	}
	// Only someone bypassing the trigger (a superuser) can change a row...
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `SET session_replication_role = replica; UPDATE audit SET data = replace(data, 'plan-posting', 'members-review') WHERE instance_id = '`+inst.ID+`' AND seq = 4; SET session_replication_role = origin`)
	conn.Release()
	if err != nil {
		t.Fatal(err)
	}
	// ...and the chain shows it.
	if _, check, _ := s.Audit(ctx, inst.ID); check.Valid || check.BrokenAt != 4 {
		t.Fatalf("tampering not detected: %+v", check)
	}
}

func TestServiceTenantIsolation(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	inst, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "议题"})
	if err != nil {
		t.Fatal(err)
	}
	other := Actor{ID: "b-sec", Role: "secretary", Town: town, Village: "330213100202"}
	foreign := Actor{ID: "j-off", Role: "town-official", Town: "jinping"}
	villager := Actor{ID: "v", Role: "villager", Town: town, Village: village}
	_, _, err = s.Complete(ctx, other, inst.ID, "propose", CompleteRequest{})
	wantStatus(t, err, 403)
	_, err = s.AddEvidence(ctx, other, inst.ID, EvidenceRequest{StepID: "propose", Kind: "minutes", Name: "m.pdf", URL: "https://x/m.pdf", SHA256: strings.Repeat("a", 64)})
	wantStatus(t, err, 403)
	wantStatus(t, s.Comment(ctx, foreign, inst.ID, "看看"), 403)
	wantStatus(t, s.Comment(ctx, villager, inst.ID, "村民意见"), 403)
	_, err = s.Withdraw(ctx, other, inst.ID, "不要了")
	wantStatus(t, err, 403)
	// Another village's cadre cannot start a process in this village either.
	_, err = s.Start(ctx, other, village, StartRequest{ItemID: "decision-major-matters", Title: "x"})
	wantStatus(t, err, 403)
	if _, check, _ := s.Audit(ctx, inst.ID); check.Entries != 1 {
		t.Fatalf("refused actions left %d audit entries", check.Entries)
	}
}

func TestTimersFireOnceAcrossReplicasAndRestarts(t *testing.T) {
	ctx := context.Background()
	url := testinfra.Postgres(t)
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	first := replica(t, url, clk)
	var ids []string
	for i := 0; i < 5; i++ {
		inst, err := first.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "议题"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inst.ID)
	}
	// The first replica "crashes" before any deadline; two new replicas come up.
	first.Pool.Close()
	a, b := replica(t, url, clk), replica(t, url, clk)
	clk.Advance(10 * 24 * time.Hour) // past reminder and escalation of "propose"

	var wg sync.WaitGroup
	var total atomic.Int64
	for _, r := range []*Service{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := r.FireTimers(ctx, 3)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(n))
		}()
	}
	wg.Wait()
	for { // drain what the small batches left
		n, err := a.FireTimers(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total.Add(int64(n))
	}
	if total.Load() != 10 { // a reminder and an escalation per instance
		t.Fatalf("fired %d timers, want 10", total.Load())
	}
	ws, err := a.Warnings(ctx, village, "", false, 100)
	if err != nil {
		t.Fatal(err)
	}
	perInstance := map[string]int{}
	for _, w := range ws {
		if w.Rule != "deadline" || w.StepID != "propose" {
			t.Errorf("unexpected warning %+v", w)
		}
		perInstance[w.InstanceID]++
	}
	if len(perInstance) != 5 {
		t.Fatalf("overdue warnings for %d instances, want 5", len(perInstance))
	}
	for id, n := range perInstance {
		if n != 1 {
			t.Errorf("instance %s warned %d times", id, n)
		}
	}
	types := outboxTypes(t, a.Pool)
	sort.Strings(types)
	count := map[string]int{}
	for _, ty := range types {
		count[ty]++
	}
	if count["step.reminder"] != 5 || count["step.escalated"] != 5 || count["warning.raised"] != 5 {
		t.Fatalf("outbox counts %v", count)
	}
	// Reminders name the step and the role that records it (whom the
	// inspection service's notifications tell).
	var stepName, role string
	if err := a.Pool.QueryRow(ctx, `SELECT convert_from(payload, 'UTF8')::jsonb->>'stepName', convert_from(payload, 'UTF8')::jsonb->>'role' FROM outbox WHERE headers->>'ce_type' = $1 LIMIT 1`,
		eventsv1.TypeStepReminder).Scan(&stepName, &role); err != nil || stepName == "" || role != "secretary" {
		t.Fatalf("reminder names step %q role %q (%v), want the step's name and secretary", stepName, role, err)
	}
	// Completing the overdue step late does not warn a second time.
	_, late, err := a.Complete(ctx, cadre("secretary"), ids[0], "propose", CompleteRequest{})
	if err != nil || len(late) != 0 {
		t.Fatalf("late completion: %v, warnings %+v", err, late)
	}
}

func TestConflictOfInterestFromRecordedRelatives(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	cashier := cadre("cashier")
	if err := s.RecordRelative(ctx, Actor{ID: "disc", Role: "town-discipline", Town: town}, village, cashier.ID, "330283199001011234", "配偶"); err != nil {
		t.Fatal(err)
	}
	inst, err := s.Start(ctx, cadre("committee-member"), village, StartRequest{ItemID: "funds-expenditure", Title: "劳务费",
		AmountFen: 300_000, PayeeName: "王*", PayeeIDNumber: "330283199001011234"})
	if err != nil {
		t.Fatal(err)
	}
	var raw string
	_ = s.Pool.QueryRow(ctx, `SELECT doc::text FROM instances WHERE id = $1`, inst.ID).Scan(&raw)
	if strings.Contains(raw, "330283199001011234") {
		t.Fatal("the payee's ID number was stored in clear")
	}
	_, err = s.AddEvidence(ctx, cadre("committee-member"), inst.ID, EvidenceRequest{StepID: "apply", Kind: "invoice", Name: "发票.pdf",
		URL: "https://files.example.cn/a.pdf", SHA256: strings.Repeat("ab", 32), Size: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct{ step, role, next string }{
		{"apply", "committee-member", ""}, {"supervision-review", "supervision-chair", ""}, {"approval", "director", "payment"},
	} {
		clk.Advance(time.Hour)
		if _, ws, err := s.Complete(ctx, cadre(st.role), inst.ID, st.step, CompleteRequest{Next: st.next}); err != nil || len(ws) != 0 {
			t.Fatalf("%s: %v %+v", st.step, err, ws)
		}
	}
	_, ws, err := s.Complete(ctx, cashier, inst.ID, "payment", CompleteRequest{})
	if err != nil || len(ws) != 1 || ws[0].Rule != "conflict-of-interest" || ws[0].Public {
		t.Fatalf("payment by the payee's relative: %v %+v", err, ws)
	}
	if public, _ := s.Warnings(ctx, village, inst.ID, true, 10); len(public) != 0 {
		t.Fatalf("a conflict-of-interest warning is public: %+v", public)
	}
}
