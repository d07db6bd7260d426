package inspection

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/auditchain"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// handleAuditAnchor keeps an anchor. The same anchor again changes
// nothing; a different hash for an anchored entry is kept beside the
// first, as evidence, and verification reports the conflict.
func (s *Service) handleAuditAnchor(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if err := s.ownTown(ev); err != nil {
		return err
	}
	var a eventsv1.AuditAnchored
	if err := ev.Decode(&a); err != nil {
		return events.Permanent(err)
	}
	if _, err := uuid.Parse(a.InstanceID); err != nil || a.Seq <= 0 || !hashPattern.MatchString(a.Hash) || a.At.IsZero() {
		return events.Permanent(fmt.Errorf("audit anchor %s: instance %q, seq %d, hash %q: not an anchor", ev.ID, a.InstanceID, a.Seq, a.Hash))
	}
	tag, err := tx.Exec(ctx, `INSERT INTO audit_anchors (instance_id, seq, hash, alg, village, tracking_number, at, event_id, received_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (instance_id, seq, hash) DO NOTHING`,
		a.InstanceID, a.Seq, a.Hash, a.Alg, ev.Village, a.TrackingNumber, a.At, ev.ID, s.now())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_anchors WHERE instance_id = $1 AND seq = $2`, a.InstanceID, a.Seq).Scan(&n); err != nil {
			return err
		}
		if n > 1 {
			s.log().ErrorContext(ctx, "audit anchor conflict: a second hash was published for an anchored entry (kept as evidence)",
				"instance", a.InstanceID, "seq", a.Seq, "event", ev.ID)
		}
	}
	return nil
}

// VerifyAudit verifies one instance's trail, as the workflow stores it
// (workflow.audit, read with SELECT only), against the anchors kept here.
func (s *Service) VerifyAudit(ctx context.Context, instanceID string) (AuditReport, error) {
	r := AuditReport{InstanceID: instanceID}
	exists, err := s.workflowAuditExists(ctx)
	if err != nil {
		return r, err
	}
	var entries []auditchain.Entry
	if exists {
		rows, err := s.Pool.Query(ctx, `SELECT instance_id::text, seq, at, actor_id, actor_role, action, data, prev_hash, hash, alg
			FROM workflow.audit WHERE instance_id = $1 ORDER BY seq`, instanceID)
		if err != nil {
			return r, fmt.Errorf("reading the workflow's audit trail: %w", err)
		}
		entries, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (auditchain.Entry, error) {
			var e auditchain.Entry
			err := row.Scan(&e.InstanceID, &e.Seq, &e.At, &e.ActorID, &e.ActorRole, &e.Action, &e.Data, &e.PrevHash, &e.Hash, &e.Alg)
			return e, err
		})
		if err != nil {
			return r, fmt.Errorf("reading the workflow's audit trail: %w", err)
		}
	}
	rows, err := s.Pool.Query(ctx, `SELECT seq, hash, village, tracking_number FROM audit_anchors WHERE instance_id = $1 ORDER BY seq, received_at`, instanceID)
	if err != nil {
		return r, err
	}
	var anchors []auditchain.Anchor
	var a auditchain.Anchor
	if _, err := pgx.ForEachRow(rows, []any{&a.Seq, &a.Hash, &r.Village, &r.TrackingNumber}, func() error {
		anchors = append(anchors, a)
		return nil
	}); err != nil {
		return r, err
	}
	if len(entries) == 0 && len(anchors) == 0 {
		return r, ErrNoAuditInstance
	}
	r.Check = auditchain.VerifyAnchored(entries, s.AuditKey, anchors)
	return r, nil
}

// workflowAuditExists reports whether the workflow's audit table exists
// in this database. Without it (dropped, or the workflow not yet
// migrated) the trails are verified as having no entries: every anchored
// one is then reported as a missing tail, which is what it is.
func (s *Service) workflowAuditExists(ctx context.Context) (bool, error) {
	var exists bool
	err := s.Pool.QueryRow(ctx, `SELECT to_regclass('workflow.audit') IS NOT NULL`).Scan(&exists)
	return exists, err
}

// VerifyAllAudits verifies every instance the workflow's audit table or
// the anchors know (an instance whose rows were all deleted is known by its
// anchors).
func (s *Service) VerifyAllAudits(ctx context.Context) (AuditSweep, error) {
	sweep := AuditSweep{VerifiedAt: s.now().UTC(), Broken: []AuditReport{}}
	exists, err := s.workflowAuditExists(ctx)
	if err != nil {
		return sweep, err
	}
	q := `SELECT instance_id::text FROM audit_anchors UNION SELECT instance_id::text FROM workflow.audit ORDER BY 1`
	if !exists {
		q = `SELECT DISTINCT instance_id::text FROM audit_anchors ORDER BY 1`
	}
	rows, err := s.Pool.Query(ctx, q)
	if err != nil {
		return sweep, fmt.Errorf("listing the audit trails: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return sweep, fmt.Errorf("listing the audit trails: %w", err)
	}
	for _, id := range ids {
		r, err := s.VerifyAudit(ctx, id)
		if err != nil {
			return sweep, err
		}
		sweep.Instances++
		if r.Valid {
			sweep.Valid++
		} else {
			sweep.Broken = append(sweep.Broken, r)
		}
	}
	return sweep, nil
}
