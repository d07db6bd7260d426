package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/auditchain"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// asOwner runs sql as someone who got past the service role's privileges
// (the test's superuser, which owns the tables): the append-only trigger
// is bypassed for the transaction.
func asOwner(t *testing.T, s *Service, fn func(pgx.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		return fn(tx)
	}); err != nil {
		t.Fatal(err)
	}
}

// rewrite replaces an instance's entries from seq from on: change edits
// each one, then every hash from there is recomputed with alg (plain
// SHA-256 needs no key: what an attacker without the key can do) and
// relinked, as a careful attacker would.
func rewrite(t *testing.T, s *Service, id string, from int64, alg string, change func(*AuditEntry)) {
	t.Helper()
	entries, err := readAudit(context.Background(), s.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	asOwner(t, s, func(tx pgx.Tx) error {
		for i := range entries {
			e := &entries[i]
			if e.Seq < from {
				continue
			}
			if i > 0 {
				e.PrevHash = entries[i-1].Hash
			}
			change(e)
			e.Alg = alg
			e.Hash = e.ComputeHash(nil)
			if alg == auditchain.AlgHMAC { // claims a key, has none: hashes with SHA-256 under the label
				e.Alg = auditchain.AlgSHA256
				e.Hash = e.ComputeHash(nil)
				e.Alg = auditchain.AlgHMAC
			}
			if _, err := tx.Exec(context.Background(), `UPDATE audit SET data = $3, action = $4, prev_hash = $5, hash = $6, alg = $7
				WHERE instance_id = $1 AND seq = $2`, id, e.Seq, e.Data, e.Action, e.PrevHash, e.Hash, e.Alg); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestAuditChainIsKeyed: entries are HMAC-SHA256 under the audit key, so
// someone who can write the table but lacks the key cannot re-hash a
// changed suffix; plain SHA-256 entries written before keying still
// verify, an unkeyed entry after a keyed one does not. On the unkeyed
// chain, the re-hashed suffixes verified as valid.
func TestAuditChainIsKeyed(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	newTrail := func(t *testing.T) string {
		inst, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "村道硬化"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 4; i++ {
			if err := s.Comment(ctx, cadre("secretary"), inst.ID, fmt.Sprintf("意见 %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		return inst.ID
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, id string)
		status auditchain.Status
		at     int64
	}{
		{"untouched", func(*testing.T, string) {}, auditchain.Valid, 0},
		{"suffix re-hashed with plain SHA-256", func(t *testing.T, id string) {
			rewrite(t, s, id, 3, auditchain.AlgSHA256, func(e *AuditEntry) {
				if e.Seq == 3 {
					e.Data = `{"body":"同意"}`
				}
			})
		}, auditchain.Unkeyed, 3},
		{"suffix re-hashed claiming the key", func(t *testing.T, id string) {
			rewrite(t, s, id, 3, auditchain.AlgHMAC, func(e *AuditEntry) {
				if e.Seq == 3 {
					e.Data = `{"body":"同意"}`
				}
			})
		}, auditchain.Altered, 3},
		{"row data altered", func(t *testing.T, id string) {
			asOwner(t, s, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE audit SET data = replace(data, '意见 2', '同意') WHERE instance_id = $1 AND seq = 3`, id)
				return err
			})
		}, auditchain.Altered, 3},
		{"unkeyed entry appended after keyed ones", func(t *testing.T, id string) {
			entries, err := readAudit(ctx, s.Pool, id)
			if err != nil {
				t.Fatal(err)
			}
			last := entries[len(entries)-1]
			e := AuditEntry{InstanceID: id, Seq: last.Seq + 1, At: last.At.Add(time.Minute), ActorID: "id-secretary", ActorRole: "secretary",
				Action: "comment.added", Data: `{"body":"补记"}`, PrevHash: last.Hash, Alg: auditchain.AlgSHA256}
			e.Hash = e.ComputeHash(nil)
			asOwner(t, s, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO audit (instance_id, seq, at, actor_id, actor_role, action, data, prev_hash, hash, alg)
					VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, e.InstanceID, e.Seq, e.At, e.ActorID, e.ActorRole, e.Action, e.Data, e.PrevHash, e.Hash, e.Alg)
				return err
			})
		}, auditchain.Unkeyed, 6},
		{"entries written before keying, continued keyed", func(t *testing.T, id string) {
			// The migration's state: every existing row plain SHA-256.
			rewrite(t, s, id, 1, auditchain.AlgSHA256, func(*AuditEntry) {})
			if err := s.Comment(ctx, cadre("secretary"), id, "键控之后"); err != nil {
				t.Fatal(err)
			}
		}, auditchain.Valid, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := newTrail(t)
			tc.tamper(t, id)
			entries, check, err := s.Audit(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if check.Status != tc.status || check.BrokenAt != tc.at || check.Valid != (tc.status == auditchain.Valid) {
				t.Fatalf("got %+v, want %s at %d", check, tc.status, tc.at)
			}
			if tc.status == auditchain.Valid && entries[len(entries)-1].Alg != auditchain.AlgHMAC {
				t.Fatalf("new entries are %s, want %s", entries[len(entries)-1].Alg, auditchain.AlgHMAC)
			}
		})
	}

	// Another key does not verify the keyed entries.
	id := newTrail(t)
	// Without bypassing the triggers (as the service's role, which cannot
	// disable them), an unkeyed entry is refused outright.
	entries, err := readAudit(ctx, s.Pool, id)
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	unkeyed := AuditEntry{InstanceID: id, Seq: last.Seq + 1, At: last.At, ActorID: "x", ActorRole: "secretary", Action: "comment.added",
		Data: "{}", PrevHash: last.Hash, Alg: auditchain.AlgSHA256}
	unkeyed.Hash = unkeyed.ComputeHash(nil)
	if _, err := s.Pool.Exec(ctx, `INSERT INTO audit (instance_id, seq, at, actor_id, actor_role, action, data, prev_hash, hash, alg)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, unkeyed.InstanceID, unkeyed.Seq, unkeyed.At, unkeyed.ActorID, unkeyed.ActorRole,
		unkeyed.Action, unkeyed.Data, unkeyed.PrevHash, unkeyed.Hash, unkeyed.Alg); err == nil || !strings.Contains(err.Error(), "must be keyed") {
		t.Fatalf("an unkeyed entry was inserted: %v", err)
	}
	other := *s
	other.AuditKey = []byte(strings.Repeat("x", 32))
	if _, check, err := other.Audit(ctx, id); err != nil || check.Valid || check.Status != auditchain.Altered || check.BrokenAt != 1 {
		t.Fatalf("verified under another key: %+v (%v)", check, err)
	}
	// Without a key, nothing is written (never an unkeyed entry).
	other.AuditKey = nil
	if _, err := other.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "无密钥"}); err == nil ||
		!strings.Contains(err.Error(), "WUXIAO_AUDIT_KEY") {
		t.Fatalf("started without an audit key: %v", err)
	}
}

// TestAuditAnchorsEnqueued: every audit entry enqueues its anchor in its
// own transaction, with the entry's seq and hash, for the inspection
// service to keep outside this database.
func TestAuditAnchorsEnqueued(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	inst, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "村道硬化"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Comment(ctx, cadre("secretary"), inst.ID, "请尽快办理"); err != nil {
		t.Fatal(err)
	}
	entries, _, err := s.Audit(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT topic, headers->>'ce_subject', payload FROM outbox WHERE headers->>'ce_type' = $1 ORDER BY seq`, eventsv1.TypeAuditAnchored)
	if err != nil {
		t.Fatal(err)
	}
	type anchor struct {
		topic, subject string
		data           eventsv1.AuditAnchored
	}
	var got []anchor
	for rows.Next() {
		var a anchor
		var payload []byte
		if err := rows.Scan(&a.topic, &a.subject, &payload); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(payload, &a.data); err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if len(got) != len(entries) || len(entries) != 2 {
		t.Fatalf("%d anchors for %d entries", len(got), len(entries))
	}
	for i, a := range got {
		e := entries[i]
		if a.topic != eventsv1.Topic(town, eventsv1.StreamWorkflow) || a.subject != inst.TrackingNumber || a.data.InstanceID != inst.ID ||
			a.data.Seq != e.Seq || a.data.Hash != e.Hash || a.data.Alg != auditchain.AlgHMAC || !a.data.At.Equal(e.At) {
			t.Errorf("anchor %d: %+v, entry %+v", i, a, e)
		}
	}
}
