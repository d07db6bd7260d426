package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// inConnTx runs fn on a pooled connection whose transaction fn opens
// and commits with batches (BEGIN and COMMIT queued in them, see
// fileApplication): a transaction fn leaves open or failed is rolled back,
// so the connection goes back to the pool clean.
func inConnTx(ctx context.Context, pool *pgxpool.Pool, fn func(*pgx.Conn) error) (err error) {
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer pc.Release()
	conn := pc.Conn()
	defer func() {
		if st := conn.PgConn().TxStatus(); st == 'T' || st == 'E' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	return fn(conn)
}

// queueAudit chains a keyed entry after prev and queues it with its
// anchor event (writeAudit, also returning the entry, for a chain of more
// than one entry written in one batch).
func (s *Service) queueAudit(ctx context.Context, w writer, inst *Instance, prev *AuditEntry, at time.Time, actor Actor, action string, data any) (AuditEntry, error) {
	if len(s.AuditKey) == 0 {
		return AuditEntry{}, errors.New("workflow: no audit key (set --audit-key / WUXIAO_AUDIT_KEY): refusing to write an unkeyed audit entry")
	}
	e, err := NewAuditEntry(prev, s.AuditKey, inst.ID, at, actor, action, data)
	if err != nil {
		return e, err
	}
	if err := w.exec(ctx, insertAuditSQL, e.InstanceID, e.Seq, e.At, e.ActorID, e.ActorRole, e.Action, e.Data, e.PrevHash, e.Hash, e.Alg); err != nil {
		return e, err
	}
	return e, s.publishTo(ctx, w, inst, eventsv1.TypeAuditAnchored, eventsv1.AuditAnchored{InstanceID: e.InstanceID,
		TrackingNumber: inst.TrackingNumber, Seq: e.Seq, Hash: e.Hash, Alg: e.Alg, At: e.At})
}

// queueApplication queues a new application with the hash of its access
// code (the code itself is shown once, to the applicant).
func queueApplication(b *pgx.Batch, a *Application, codeHash string) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	b.Queue(`INSERT INTO applications (instance_id, village, item_id, applicant_id_hash, access_code_hash, on_behalf, filed_by, filed_at, doc)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		a.InstanceID, a.Village, a.ItemID, a.ApplicantIDHash, codeHash, a.Channel == ChannelOnBehalf, a.FiledBy, a.FiledAt, doc)
	return nil
}

// updateApplication saves the application's document; requested also
// sets materials_requested_at, which may be set only once (the WHERE
// keeps a second request from overwriting the first even if two cadres
// raced past the check).
func updateApplication(ctx context.Context, tx pgx.Tx, a *Application, requested bool) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	q := `UPDATE applications SET doc = $2 WHERE instance_id = $1`
	args := []any{a.InstanceID, doc}
	if requested {
		q = `UPDATE applications SET doc = $2, materials_requested_at = $3 WHERE instance_id = $1 AND materials_requested_at IS NULL`
		args = append(args, a.Request.RequestedAt)
	}
	tag, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return errConflict
	}
	return nil
}

// loadApplication reads an instance's application; forUpdate locks it.
func loadApplication(ctx context.Context, tx pgx.Tx, instanceID string, forUpdate bool) (*Application, error) {
	q := `SELECT doc FROM applications WHERE instance_id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	var doc []byte
	if err := tx.QueryRow(ctx, q, instanceID).Scan(&doc); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	a := &Application{}
	return a, json.Unmarshal(doc, a)
}

func applicationCodeHash(ctx context.Context, tx pgx.Tx, instanceID string) (string, error) {
	var h string
	err := tx.QueryRow(ctx, `SELECT access_code_hash FROM applications WHERE instance_id = $1`, instanceID).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return h, err
}

// insertMaterialFiles stores the applicant's files as evidence files of
// the step (the instance's document lists them already).
func insertMaterialFiles(ctx context.Context, tx pgx.Tx, instanceID, stepID string, files []storedMaterial) error {
	for _, f := range files {
		if _, err := tx.Exec(ctx, insertEvidenceFileSQL,
			f.ID, instanceID, stepID, f.Kind, f.Name, f.ContentType, f.Size, f.SHA256, f.AddedBy, f.AddedAt); err != nil {
			return err
		}
		if err := insertFileData(ctx, tx.Conn(), f.ID, f.Data); err != nil {
			return err
		}
	}
	return nil
}

// queueMaterialFiles queues insertMaterialFiles' rows; the caller copies
// the bytes (insertFileData).
func queueMaterialFiles(b *pgx.Batch, instanceID, stepID string, files []storedMaterial) {
	for _, f := range files {
		b.Queue(insertEvidenceFileSQL, f.ID, instanceID, stepID, f.Kind, f.Name, f.ContentType, f.Size, f.SHA256, f.AddedBy, f.AddedAt)
	}
}

const insertEvidenceFileSQL = `INSERT INTO evidence_files (id, instance_id, step_id, kind, name, content_type, size, sha256, uploaded_by, uploaded_at)
	VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`

// villageName is the name the operator registered for a village ("" if
// none).
func villageName(ctx context.Context, pool *pgxpool.Pool, code string) (string, error) {
	var name string
	err := pool.QueryRow(ctx, `SELECT name FROM villages WHERE code = $1`, code).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return name, err
}

// villageThresholdsSQL reads the village's amount thresholds (none: the defaults).
const villageThresholdsSQL = `SELECT representatives_resolution_above_yuan, town_approval_above_yuan FROM villages WHERE code = $1`
