package inspection

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/auditchain"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// testAuditKey is the town's audit key in these tests (32 bytes).
var testAuditKey = []byte("audit-key-audit-key-audit-key-32")

// auditTown is a town's workflow (writing the audit chain) and inspection
// (keeping its anchors, verifying it) on one real PostgreSQL database.
type auditTown struct {
	wf   *workflow.Service
	ins  *Service
	town string
}

func newAuditTown(t *testing.T, town string) *auditTown {
	t.Helper()
	ctx := context.Background()
	url := testinfra.Postgres(t)
	wfPool, err := store.Open(ctx, url, "workflow")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wfPool.Close)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{events.Migrate, workflow.Migrate} {
		if err := m(ctx, wfPool); err != nil {
			t.Fatal(err)
		}
	}
	catalog, err := workflow.LoadCatalog(testinfra.CatalogFile(t))
	if err != nil {
		t.Fatal(err)
	}
	cal, err := workflow.NewCalendar(workflow.CalendarFile{})
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	ins := newService(t, url, town, clk)
	ins.AuditKey = testAuditKey
	return &auditTown{town: town, ins: ins, wf: &workflow.Service{Engine: &workflow.Engine{Catalog: catalog, Calendar: cal}, Pool: wfPool,
		Town: town, IDHashKey: []byte(strings.Repeat("i", 32)), AuditKey: testAuditKey, Log: slog.New(slog.DiscardHandler)}}
}

// trail starts a process and comments on it four times: five audit entries.
func (a *auditTown) trail(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	secretary := workflow.Actor{ID: "sec-1", Name: "书记", Role: "secretary", Town: a.town, Village: svcVillage}
	inst, err := a.wf.Start(ctx, secretary, svcVillage, workflow.StartRequest{ItemID: "decision-major-matters", Title: "村道硬化"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if err := a.wf.Comment(ctx, secretary, inst.ID, fmt.Sprintf("意见 %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return inst.ID
}

// entries reads an instance's audit rows.
func (a *auditTown) entries(t *testing.T, id string) []workflow.AuditEntry {
	t.Helper()
	entries, _, err := a.wf.Audit(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// anchorEvent is the anchor the workflow publishes for e.
func anchorEvent(t *testing.T, town string, e workflow.AuditEntry) eventsv1.Event {
	t.Helper()
	raw, err := json.Marshal(eventsv1.AuditAnchored{InstanceID: e.InstanceID, Seq: e.Seq, Hash: e.Hash, Alg: e.Alg, At: e.At})
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/workflow", Type: eventsv1.TypeAuditAnchored,
		Time: e.At, Town: town, Village: svcVillage, Data: raw}
}

// anchor delivers the anchors of an instance's current entries to the
// inspection's workflow handler.
func (a *auditTown) anchor(t *testing.T, id string) {
	t.Helper()
	for _, e := range a.entries(t, id) {
		handle(t, a.ins, anchorEvent(t, a.town, e))
	}
}

// asOwner runs fn as someone who got past the workflow role's privileges
// (the test's superuser, owner of the tables), with the append-only
// trigger bypassed.
func (a *auditTown) asOwner(t *testing.T, fn func(pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, a.wf.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		return fn(tx)
	}); err != nil {
		t.Fatal(err)
	}
}

// rehash rewrites an instance's entries from seq from on with plain
// SHA-256 (no key needed), changing the first of them and relinking the
// rest: a suffix re-hashed by someone without the key.
func (a *auditTown) rehash(t *testing.T, id string, from int64) {
	t.Helper()
	entries := a.entries(t, id)
	a.asOwner(t, func(tx pgx.Tx) error {
		for i := range entries {
			e := &entries[i]
			if e.Seq < from {
				continue
			}
			if e.Seq == from {
				e.Data = `{"body":"同意"}`
			}
			if i > 0 {
				e.PrevHash = entries[i-1].Hash
			}
			e.Alg = auditchain.AlgSHA256
			e.Hash = e.ComputeHash(nil)
			if _, err := tx.Exec(context.Background(), `UPDATE audit SET data = $3, prev_hash = $4, hash = $5, alg = $6 WHERE instance_id = $1 AND seq = $2`,
				id, e.Seq, e.Data, e.PrevHash, e.Hash, e.Alg); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestAuditVerifiedAgainstAnchors: someone who can write the workflow's
// audit table (past its role's privileges) but has neither the audit key
// nor the inspection's anchors cannot delete a tail, re-hash a suffix,
// alter a row or append an unkeyed entry unseen; a forged anchor is kept
// beside the real one and reported. The workflow's own verification
// (the unanchored chain) saw neither the deleted tail nor a chain
// re-hashed from its first entry.
func TestAuditVerifiedAgainstAnchors(t *testing.T) {
	ctx := context.Background()
	a := newAuditTown(t, svcTown)
	cases := []struct {
		name   string
		tamper func(t *testing.T, id string)
		status auditchain.Status
		at     int64
	}{
		{"untouched", func(*testing.T, string) {}, auditchain.Valid, 0},
		{"anchors delivered twice", func(t *testing.T, id string) { a.anchor(t, id) }, auditchain.Valid, 0},
		{"tail deleted", func(t *testing.T, id string) {
			a.asOwner(t, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `DELETE FROM audit WHERE instance_id = $1 AND seq >= 4`, id)
				return err
			})
		}, auditchain.MissingTail, 4},
		{"every entry deleted", func(t *testing.T, id string) {
			a.asOwner(t, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `DELETE FROM audit WHERE instance_id = $1`, id)
				return err
			})
		}, auditchain.MissingTail, 1},
		{"suffix re-hashed with plain SHA-256", func(t *testing.T, id string) { a.rehash(t, id, 3) }, auditchain.Rehashed, 3},
		{"whole chain re-hashed with plain SHA-256", func(t *testing.T, id string) { a.rehash(t, id, 1) }, auditchain.Rehashed, 1},
		{"row data altered", func(t *testing.T, id string) {
			a.asOwner(t, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE audit SET data = replace(data, '意见 2', '同意') WHERE instance_id = $1 AND seq = 3`, id)
				return err
			})
		}, auditchain.Altered, 3},
		{"unkeyed entry after keyed ones", func(t *testing.T, id string) {
			entries := a.entries(t, id)
			last := entries[len(entries)-1]
			e := workflow.AuditEntry{InstanceID: id, Seq: last.Seq + 1, At: last.At.Add(time.Minute), ActorID: "sec-1", ActorRole: "secretary",
				Action: "comment.added", Data: `{"body":"补记"}`, PrevHash: last.Hash, Alg: auditchain.AlgSHA256}
			e.Hash = e.ComputeHash(nil)
			a.asOwner(t, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO audit (instance_id, seq, at, actor_id, actor_role, action, data, prev_hash, hash, alg)
					VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, e.InstanceID, e.Seq, e.At, e.ActorID, e.ActorRole, e.Action, e.Data, e.PrevHash, e.Hash, e.Alg)
				return err
			})
		}, auditchain.Unkeyed, 6},
		{"forged second anchor", func(t *testing.T, id string) {
			e := a.entries(t, id)[1]
			e.Hash = strings.Repeat("f", 64)
			handle(t, a.ins, anchorEvent(t, a.town, e))
		}, auditchain.AnchorConflict, 2},
	}
	ids := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := a.trail(t)
			ids[tc.name] = id
			a.anchor(t, id)
			tc.tamper(t, id)
			r, err := a.ins.VerifyAudit(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status || r.BrokenAt != tc.at || r.Valid != (tc.status == auditchain.Valid) {
				t.Fatalf("got %+v, want %s at %d", r.Check, tc.status, tc.at)
			}
			if r.Village != svcVillage || r.TrackingNumber != "" && !strings.HasPrefix(r.TrackingNumber, svcVillage) {
				t.Errorf("report names village %q", r.Village)
			}
		})
	}
	// Anchors are insert-only: the same anchor again adds nothing, a
	// forged one is kept beside the real one.
	if n := count(t, a.ins.Pool, `SELECT count(*) FROM audit_anchors WHERE instance_id = $1`, ids["anchors delivered twice"]); n != 5 {
		t.Errorf("anchors delivered twice: %d rows, want 5", n)
	}
	if n := count(t, a.ins.Pool, `SELECT count(*) FROM audit_anchors WHERE instance_id = $1 AND seq = 2`, ids["forged second anchor"]); n != 2 {
		t.Errorf("forged anchor: %d rows for seq 2, want 2", n)
	}
	if _, err := a.ins.Pool.Exec(ctx, `UPDATE audit_anchors SET hash = $1`, strings.Repeat("0", 64)); err == nil {
		t.Error("an anchor was overwritten")
	}
	// An anchor naming another town is dead-lettered, not kept (it could
	// otherwise plant conflicts in this town's trails).
	foreign := anchorEvent(t, "jinping", a.entries(t, ids["untouched"])[0])
	foreign.Data = json.RawMessage(strings.Replace(string(foreign.Data), a.entries(t, ids["untouched"])[0].Hash, strings.Repeat("e", 64), 1))
	err := store.InTx(ctx, a.ins.Pool, func(tx pgx.Tx) error { return a.ins.HandleWorkflowEvent(ctx, tx, foreign) })
	if err == nil || fmt.Sprintf("%T", err) != "events.permanentError" {
		t.Errorf("another town's anchor: %v, want a Permanent error", err)
	}
	if n := count(t, a.ins.Pool, `SELECT count(*) FROM audit_anchors WHERE instance_id = $1`, ids["untouched"]); n != 5 {
		t.Errorf("another town's anchor was kept: %d anchors", n)
	}

	// Inspectors see the same through the API; nobody else does.
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Town: svcTown, MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	a.ins.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	inspector, _ := testinfra.KratosUser(t, string(identity.RoleTownDiscipline), svcTown, "")
	secretary, _ := testinfra.KratosUser(t, string(identity.RoleSecretary), svcTown, svcVillage)
	res := get(t, ts, "/v1/audit/verify?instance="+ids["tail deleted"], inspector)
	if res.status != http.StatusOK || res.body["status"] != string(auditchain.MissingTail) || res.body["brokenAt"] != 4.0 {
		t.Errorf("GET one instance: %d %s", res.status, res.raw)
	}
	res = get(t, ts, "/v1/audit/verify", inspector)
	var sweep AuditSweep
	if err := json.Unmarshal([]byte(res.raw), &sweep); err != nil || res.status != http.StatusOK || sweep.Instances != len(cases) ||
		sweep.Valid != 2 || len(sweep.Broken) != len(cases)-2 {
		t.Errorf("GET every instance: %d %s", res.status, res.raw)
	}
	for path, want := range map[string]int{
		"/v1/audit/verify?instance=" + ids["untouched"]: http.StatusForbidden,
		"/v1/audit/verify": http.StatusForbidden,
	} {
		if res := get(t, ts, path, secretary); res.status != want {
			t.Errorf("secretary GET %s: %d, want %d", path, res.status, want)
		}
	}
	if res := get(t, ts, "/v1/audit/verify?instance=nope", inspector); res.status != http.StatusUnprocessableEntity {
		t.Errorf("bad instance id: %d", res.status)
	}
	if res := get(t, ts, "/v1/audit/verify?instance="+uuid.NewString(), inspector); res.status != http.StatusNotFound {
		t.Errorf("unknown instance: %d", res.status)
	}
}

// TestAuditAnchorsThroughKafka: the anchors travel the real path, the
// workflow's outbox, its relay, the town's workflow topic and the
// inspection's consumer, into the anchors table; a tail deleted
// afterwards is reported.
func TestAuditAnchorsThroughKafka(t *testing.T) {
	ctx := context.Background()
	town := testinfra.UniqueName("t")
	brokers := testinfra.KafkaBrokers(t)
	topic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	testinfra.CreateTopics(t, brokers, 1, topic, eventsv1.DeadLetterTopic(topic))
	a := newAuditTown(t, town)
	id := a.trail(t)

	relay := events.NewRelay(a.wf.Pool, brokers, events.RelayOptions{PollInterval: 100 * time.Millisecond})
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { _ = relay.Run(relayCtx); close(relayDone) }()
	defer func() { stopRelay(); <-relayDone }()
	c := events.NewConsumer(a.ins.Pool, brokers, testinfra.UniqueName("inspection-test-"), []string{topic}, a.ins.HandleWorkflowEvent,
		events.ConsumerOptions{MaxWait: time.Second, SessionTimeout: 6 * time.Second})
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	}()

	eventually(t, "the anchors in inspection", func() bool {
		return count(t, a.ins.Pool, `SELECT count(*) FROM audit_anchors WHERE instance_id = $1`, id) == 5
	})
	entries := a.entries(t, id)
	for _, e := range entries {
		if n := count(t, a.ins.Pool, `SELECT count(*) FROM audit_anchors WHERE instance_id = $1 AND seq = $2 AND hash = $3 AND alg = $4 AND village = $5`,
			id, e.Seq, e.Hash, auditchain.AlgHMAC, svcVillage); n != 1 {
			t.Errorf("entry %d: %d matching anchors", e.Seq, n)
		}
	}
	if r, err := a.ins.VerifyAudit(ctx, id); err != nil || !r.Valid {
		t.Fatalf("before tampering: %+v (%v)", r, err)
	}
	a.asOwner(t, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM audit WHERE instance_id = $1 AND seq = 5`, id)
		return err
	})
	// The workflow's own (unanchored) check cannot see it; the anchors do.
	if _, check, err := a.wf.Audit(ctx, id); err != nil || !check.Valid {
		t.Fatalf("workflow's check: %+v (%v)", check, err)
	}
	if r, err := a.ins.VerifyAudit(ctx, id); err != nil || r.Status != auditchain.MissingTail || r.BrokenAt != 5 {
		t.Fatalf("after the tail was deleted: %+v (%v)", r, err)
	}
}
