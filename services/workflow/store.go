package workflow

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/internal/keys"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the workflow schema's migrations, after those of the
// fingerprints of its keys (keys.Check), which live in its schema too.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return store.MigrateEmbedded(ctx, pool, keys.Migrations, store.Embedded{Set: "workflow", FS: migrationFiles})
}

// ErrNotFound: no such instance (or not visible to the caller).
var ErrNotFound = errors.New("not found")

// errConflict: the instance changed since it was read.
var errConflict = errors.New("instance changed concurrently")

func insertInstance(ctx context.Context, tx pgx.Tx, inst *Instance) error {
	return insertInstanceTo(ctx, txWriter{tx}, inst)
}

func insertInstanceTo(ctx context.Context, w writer, inst *Instance) error {
	doc, err := json.Marshal(inst)
	if err != nil {
		return err
	}
	return w.exec(ctx, `INSERT INTO instances (id, tracking_number, town, village, item_id, status, current_step, version, started_at, updated_at, doc)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9, $9, $10)`,
		inst.ID, inst.TrackingNumber, inst.Town, inst.Village, inst.ItemID, inst.Status, inst.Current, inst.Version, inst.StartedAt, doc)
}

// loadInstance reads an instance; forUpdate locks its row for the rest of
// the transaction, which serialises every change to one instance.
func loadInstance(ctx context.Context, q pgx.Tx, where string, arg any, forUpdate bool) (*Instance, error) {
	sql := `SELECT doc FROM instances WHERE ` + where
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	var doc []byte
	if err := q.QueryRow(ctx, sql, arg).Scan(&doc); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	inst := &Instance{}
	return inst, json.Unmarshal(doc, inst)
}

func saveInstance(ctx context.Context, tx pgx.Tx, inst *Instance, now time.Time) error {
	prev := inst.Version
	inst.Version++
	doc, err := json.Marshal(inst)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, saveInstanceSQL, inst.ID, prev, inst.Status, inst.Current, inst.Version, now, doc)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return errConflict
	}
	return nil
}

// insertWarnings stores warnings and returns those that are new (a control
// warns once per step visit).
func insertWarnings(ctx context.Context, tx pgx.Tx, ws []Warning, visit int) ([]Warning, error) {
	var fresh []Warning
	for _, w := range ws {
		tag, err := tx.Exec(ctx, insertWarningSQL, warningArgs(w, visit)...)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 1 {
			fresh = append(fresh, w)
		}
	}
	return fresh, nil
}

func insertTimers(ctx context.Context, tx pgx.Tx, instanceID string, ts []Timer) error {
	return insertTimersTo(ctx, txWriter{tx}, instanceID, ts)
}

func cancelTimers(ctx context.Context, tx pgx.Tx, instanceID, step string) error {
	return cancelTimersTo(ctx, txWriter{tx}, instanceID, step)
}

// appendAudit chains a keyed entry after the instance's last one and, in
// the same transaction, enqueues its anchor (eventsv1.AuditAnchored) for
// the inspection service to keep outside this database. The caller holds
// the instance's row lock, so no two writers race for a sequence.
func (s *Service) appendAudit(ctx context.Context, tx pgx.Tx, inst *Instance, at time.Time, actor Actor, action string, data any) error {
	var prev *AuditEntry
	var last AuditEntry
	err := tx.QueryRow(ctx, lastAuditSQL, inst.ID).Scan(&last.Seq, &last.Hash)
	switch {
	case err == nil:
		prev = &last
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	return s.writeAudit(ctx, txWriter{tx}, inst, prev, at, actor, action, data)
}

func readAudit(ctx context.Context, pool *pgxpool.Pool, instanceID string) ([]AuditEntry, error) {
	rows, err := pool.Query(ctx, `SELECT instance_id, seq, at, actor_id, actor_role, action, data, prev_hash, hash, alg
		FROM audit WHERE instance_id = $1 ORDER BY seq`, instanceID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.InstanceID, &e.Seq, &e.At, &e.ActorID, &e.ActorRole, &e.Action, &e.Data, &e.PrevHash, &e.Hash, &e.Alg)
		return e, err
	})
}

type timerRow struct {
	ID int64
	Timer
}

// claimDueTimers locks due timers; SKIP LOCKED lets another replica claim
// different ones at the same moment instead of firing the same ones twice.
func claimDueTimers(ctx context.Context, tx pgx.Tx, now time.Time, limit int) ([]timerRow, error) {
	rows, err := tx.Query(ctx, `SELECT id, instance_id, step_id, kind, fire_at FROM timers
		WHERE fired_at IS NULL AND NOT cancelled AND fire_at <= $1 ORDER BY fire_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (timerRow, error) {
		var t timerRow
		err := r.Scan(&t.ID, &t.InstanceID, &t.StepID, &t.Kind, &t.FireAt)
		return t, err
	})
}

func markFired(ctx context.Context, tx pgx.Tx, id int64, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE timers SET fired_at = $2 WHERE id = $1`, id, now)
	return err
}

func scanWarnings(rows pgx.Rows) ([]Warning, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Warning, error) {
		var w Warning
		err := r.Scan(&w.ID, &w.InstanceID, &w.Town, &w.Village, &w.ItemID, &w.StepID, &w.ControlID, &w.Rule, &w.Message,
			&w.Norm, &w.Basis, &w.ActorID, &w.Public, &w.RaisedAt)
		return w, err
	})
}

const warningColumns = `id, instance_id, town, village, item_id, step_id, control_id, rule, message, norm, basis, actor_id, public, raised_at`

func fmtErr(op string, err error) error {
	if err == nil || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
