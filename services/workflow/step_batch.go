package workflow

// Recording a step in two round trips to PostgreSQL (issue 18: a step's
// p99 within 10× one INSERT+COMMIT, ≥ 1,500 steps/s). Done one statement
// at a time, a step cost 14-17 round trips: BEGIN, the locked instance, the
// village's thresholds, the relatives check, the open postings (read twice),
// the audit chain's last link, then every timer, warning, audit row, outbox
// row and posting on its own, and COMMIT. Here the reads go as one pipelined
// batch that opens the transaction (BEGIN, the instance FOR UPDATE first,
// then everything else keyed by the instance's id), and the writes as a
// second one that ends with COMMIT. The guarantees are those of the
// one-at-a-time version: one transaction, the instance's row lock held from
// the first read to the commit (so the audit chain's last link and the open
// postings cannot move), the outbox rows in the same transaction, the
// version check on the instance. A failed statement aborts the
// transaction: PostgreSQL skips the rest of the pipeline, COMMIT included,
// and the transaction is rolled back. Only when the step raised warnings
// does it take one more round trip: their events are enqueued only for the
// warnings that are new (a control warns once per step visit), which the
// inserts' results say.

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// writer is where a change's writes go: a transaction, one statement at a
// time (txWriter), or a batch sent at once (batchWriter).
type writer interface {
	exec(ctx context.Context, sql string, args ...any) error
	enqueue(ctx context.Context, topic string, ev eventsv1.Event) error
}

type txWriter struct{ tx pgx.Tx }

func (w txWriter) exec(ctx context.Context, sql string, args ...any) error {
	_, err := w.tx.Exec(ctx, sql, args...)
	return err
}

func (w txWriter) enqueue(ctx context.Context, topic string, ev eventsv1.Event) error {
	return events.Enqueue(ctx, w.tx, topic, ev)
}

type batchWriter struct{ b *pgx.Batch }

func (w batchWriter) exec(_ context.Context, sql string, args ...any) error {
	w.b.Queue(sql, args...)
	return nil
}

func (w batchWriter) enqueue(ctx context.Context, topic string, ev eventsv1.Event) error {
	return events.QueueEnqueue(ctx, w.b, topic, ev)
}

// stepRead is what recording a step reads, in one batch.
type stepRead struct {
	inst       *Instance
	thresholds Thresholds
	relative   bool
	open       []Posting // the instance's step postings still up
	lastAudit  *AuditEntry
}

// beginStep opens a transaction on conn and reads, under the instance's
// row lock, everything a step of instance id needs: one round trip. The
// transaction stays open (also on error: the caller rolls back).
func beginStep(ctx context.Context, conn *pgx.Conn, id, actorID string) (stepRead, error) {
	var r stepRead
	var doc []byte
	r.thresholds = DefaultThresholds
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	// The lock comes first: the statements after it see the instance as
	// it stands for the rest of the transaction.
	b.Queue(`SELECT doc FROM instances WHERE id = $1 FOR UPDATE`, id).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&doc)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	b.Queue(`SELECT representatives_resolution_above_yuan, town_approval_above_yuan FROM villages
		WHERE code = (SELECT village FROM instances WHERE id = $1)`, id).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&r.thresholds.RepresentativesResolutionAboveYuan, &r.thresholds.TownApprovalAboveYuan)
		if errors.Is(err, pgx.ErrNoRows) {
			r.thresholds = DefaultThresholds
			return nil
		}
		return err
	})
	// Whether the actor is a recorded relative of the payee, by the
	// payee's ID hash from the row (no payee or no hash: no match).
	b.Queue(`SELECT EXISTS (SELECT FROM relatives r JOIN instances i ON r.village = i.village
		WHERE i.id = $1 AND r.cadre_id = $2 AND r.relative_id_hash = i.doc->'payee'->>'idHash')`, id, actorID).
		QueryRow(func(row pgx.Row) error { return row.Scan(&r.relative) })
	b.Queue(openPostingsSQL, id).Query(func(rows pgx.Rows) error {
		var err error
		r.open, err = pgx.CollectRows(rows, scanPosting)
		return err
	})
	b.Queue(lastAuditSQL, id).QueryRow(func(row pgx.Row) error {
		var last AuditEntry
		err := row.Scan(&last.Seq, &last.Hash)
		switch {
		case err == nil:
			r.lastAudit = &last
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		return nil
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return r, err
	}
	r.inst = &Instance{}
	return r, json.Unmarshal(doc, r.inst)
}

// recordStep is Complete's transaction: reads, engine, writes, commit.
func (s *Service) recordStep(ctx context.Context, pool *pgxpool.Pool, actor Actor, id, step string, req CompleteRequest) (inst *Instance, fresh []Warning, err error) {
	if _, perr := uuid.Parse(id); perr != nil {
		return nil, nil, ErrNotFound
	}
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer pc.Release()
	conn := pc.Conn()
	defer func() {
		if st := conn.PgConn().TxStatus(); st == 'T' || st == 'E' {
			// A failed batch left the transaction open or aborted: end it,
			// so that the connection goes back to the pool clean.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	r, err := beginStep(ctx, conn, id, actor.ID)
	if err != nil {
		return nil, nil, err
	}
	inst = r.inst
	now := s.now()
	posted := time.Time{} // the real posting of the step (postings.go)
	for _, p := range r.open {
		if p.StepID == step {
			posted = p.StartAt
			break
		}
	}
	wasCurrent := inst.Current
	warnings, timers, err := s.Engine.Complete(inst, actor, CompleteInput{StepID: step, Next: req.Next, Note: req.Note,
		OutOfOrder: req.OutOfOrder, Reason: req.Reason, Now: now, ActorIsPayeeRelative: r.relative, Thresholds: r.thresholds, PostedAt: posted})
	if err != nil {
		return nil, nil, err
	}
	b := &pgx.Batch{}
	w := batchWriter{b}
	if step == wasCurrent {
		_ = cancelTimersTo(ctx, w, inst.ID, step) // queueing cannot fail
	}
	_ = insertTimersTo(ctx, w, inst.ID, timers)
	visit := visits(inst, step)
	for i := range warnings {
		warnings[i].ID = uuid.NewString()
		wr := warnings[i]
		b.Queue(insertWarningSQL, warningArgs(wr, visit)...).Exec(func(ct pgconn.CommandTag) error {
			if ct.RowsAffected() == 1 {
				fresh = append(fresh, wr)
			}
			return nil
		})
	}
	if err := saveInstanceTo(ctx, b, inst, now); err != nil {
		return nil, nil, err
	}
	if err := s.writeAudit(ctx, w, inst, r.lastAudit, now, actor, "step.completed", map[string]any{"step": step, "request": req}); err != nil {
		return nil, nil, err
	}
	if err := s.publishTo(ctx, w, inst, eventsv1.TypeStepCompleted, s.stepCompleted(inst, actor, step, wasCurrent, req, now)); err != nil {
		return nil, nil, err
	}
	if len(warnings) > 0 {
		// Which warnings are new decides which events to enqueue.
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return nil, nil, err
		}
		b = &pgx.Batch{}
		w = batchWriter{b}
		if err := s.publishWarningsTo(ctx, w, inst, fresh); err != nil {
			return nil, nil, err
		}
	}
	if err := s.syncPostingsTo(ctx, w, inst, r.open, now); err != nil {
		return nil, nil, err
	}
	if inst.Status == StatusCompleted {
		payee := ""
		if inst.Payee != nil {
			payee = inst.Payee.Name
		}
		if err := s.publishTo(ctx, w, inst, eventsv1.TypeInstanceCompleted, eventsv1.InstanceCompleted{InstanceRef: ref(inst),
			Title: inst.Title, AmountFen: inst.AmountFen, PayeeName: payee, CompletedAt: now}); err != nil {
			return nil, nil, err
		}
	}
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}
	return inst, fresh, nil
}

// retriable is what store.InTx retries: a serialization failure or a
// deadlock.
func retriable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

const (
	saveInstanceSQL = `UPDATE instances SET status = $3, current_step = NULLIF($4, ''), version = $5, updated_at = $6, doc = $7
		WHERE id = $1 AND version = $2`
	insertWarningSQL = `INSERT INTO warnings (id, instance_id, town, village, item_id, step_id, control_id, rule, message, norm, basis, actor_id, public, raised_at, visit)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON CONFLICT DO NOTHING`
	insertTimerSQL = `INSERT INTO timers (instance_id, step_id, kind, fire_at) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING`
	lastAuditSQL   = `SELECT seq, hash FROM audit WHERE instance_id = $1 ORDER BY seq DESC LIMIT 1`
	insertAuditSQL = `INSERT INTO audit (instance_id, seq, at, actor_id, actor_role, action, data, prev_hash, hash, alg)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`
)

func warningArgs(w Warning, visit int) []any {
	return []any{w.ID, w.InstanceID, w.Town, w.Village, w.ItemID, w.StepID, w.ControlID, w.Rule, w.Message, w.Norm, w.Basis,
		w.ActorID, w.Public, w.RaisedAt, visit}
}

// saveInstanceTo queues saveInstance's update; the batch fails with
// errConflict when the instance's version moved.
func saveInstanceTo(_ context.Context, b *pgx.Batch, inst *Instance, now time.Time) error {
	prev := inst.Version
	inst.Version++
	doc, err := json.Marshal(inst)
	if err != nil {
		return err
	}
	b.Queue(saveInstanceSQL, inst.ID, prev, inst.Status, inst.Current, inst.Version, now, doc).Exec(func(ct pgconn.CommandTag) error {
		if ct.RowsAffected() != 1 {
			return errConflict
		}
		return nil
	})
	return nil
}

func insertTimersTo(ctx context.Context, w writer, instanceID string, ts []Timer) error {
	for _, t := range ts {
		if err := w.exec(ctx, insertTimerSQL, instanceID, t.StepID, t.Kind, t.FireAt); err != nil {
			return err
		}
	}
	return nil
}

func cancelTimersTo(ctx context.Context, w writer, instanceID, step string) error {
	q := `UPDATE timers SET cancelled = true WHERE instance_id = $1 AND fired_at IS NULL AND NOT cancelled`
	args := []any{instanceID}
	if step != "" {
		q += ` AND step_id = $2`
		args = append(args, step)
	}
	return w.exec(ctx, q, args...)
}

// writeAudit chains a keyed entry after prev (the instance's last entry,
// nil for none, read under the instance's row lock) and enqueues its
// anchor (see appendAudit).
func (s *Service) writeAudit(ctx context.Context, w writer, inst *Instance, prev *AuditEntry, at time.Time, actor Actor, action string, data any) error {
	if len(s.AuditKey) == 0 {
		return errors.New("workflow: no audit key (set --audit-key / WUXIAO_AUDIT_KEY): refusing to write an unkeyed audit entry")
	}
	e, err := NewAuditEntry(prev, s.AuditKey, inst.ID, at, actor, action, data)
	if err != nil {
		return err
	}
	if err := w.exec(ctx, insertAuditSQL, e.InstanceID, e.Seq, e.At, e.ActorID, e.ActorRole, e.Action, e.Data, e.PrevHash, e.Hash, e.Alg); err != nil {
		return err
	}
	return s.publishTo(ctx, w, inst, eventsv1.TypeAuditAnchored, eventsv1.AuditAnchored{InstanceID: e.InstanceID,
		TrackingNumber: inst.TrackingNumber, Seq: e.Seq, Hash: e.Hash, Alg: e.Alg, At: e.At})
}

func (s *Service) publishTo(ctx context.Context, w writer, inst *Instance, typ string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return w.enqueue(ctx, s.topic(), eventsv1.Event{
		ID: uuid.NewString(), Source: "/towns/" + s.Town + "/workflow", Type: typ, Subject: inst.TrackingNumber,
		Time: s.now().UTC(), Town: inst.Town, Village: inst.Village, Data: raw,
	})
}

func (s *Service) publishWarningsTo(ctx context.Context, w writer, inst *Instance, ws []Warning) error {
	for _, x := range ws {
		if err := s.publishTo(ctx, w, inst, eventsv1.TypeWarningRaised, eventsv1.WarningRaised{InstanceRef: ref(inst),
			WarningID: x.ID, StepID: x.StepID, ControlID: x.ControlID, Rule: x.Rule, Message: x.Message, Norm: x.Norm,
			Basis: x.Basis, ActorID: x.ActorID, Public: x.Public, RaisedAt: x.RaisedAt}); err != nil {
			return err
		}
	}
	return nil
}
