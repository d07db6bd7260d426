package complaint

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/keys"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the complaint schema's migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	// The fingerprints of the service's keys (keys.Check) live in its schema.
	if err := keys.Migrate(ctx, pool); err != nil {
		return err
	}
	return store.MigrateEmbedded(ctx, pool, store.Embedded{Set: "complaint", FS: migrationFiles})
}

// ErrNotFound: no such complaint, or not visible to the caller.
var ErrNotFound = errors.New("not found")

var errConflict = errors.New("complaint changed concurrently")

// document is what the doc column holds: the complaint without its
// reporter (kept in separate columns) and without the secret hash.
func document(c *Complaint) ([]byte, error) {
	d := *c
	d.Reporter = nil
	return json.Marshal(&d)
}

func reporterColumns(c *Complaint) (id, name, phone *string) {
	if c.Reporter == nil {
		return nil, nil, nil
	}
	return &c.Reporter.ID, &c.Reporter.Name, &c.Reporter.Phone
}

func insertComplaint(ctx context.Context, tx pgx.Tx, c *Complaint) error {
	doc, err := document(c)
	if err != nil {
		return err
	}
	rid, rname, rphone := reporterColumns(c)
	_, err = tx.Exec(ctx, `INSERT INTO complaints (id, tracking_code, town, village, category, status, filed_at, updated_at, due_at,
		version, secret_hash, reporter_id, reporter_name, reporter_phone, doc, trace_parent, posting_id)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$7,$8,$9,$10,$11,$12,$13,$14,$15,NULLIF($16, '')::uuid)`,
		c.ID, c.TrackingCode, c.Town, c.Village, c.Category, c.Status, c.FiledAt, c.DueAt, c.Version, c.SecretHash,
		rid, rname, rphone, doc, c.TraceParent, c.PostingID)
	return err
}

const complaintColumns = `doc, secret_hash, reporter_id, reporter_name, reporter_phone, trace_parent`

func scanComplaint(row pgx.Row) (*Complaint, error) {
	var doc []byte
	var hash string
	var rid, rname, rphone *string
	var traceParent string
	if err := row.Scan(&doc, &hash, &rid, &rname, &rphone, &traceParent); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	c := &Complaint{}
	if err := json.Unmarshal(doc, c); err != nil {
		return nil, err
	}
	c.SecretHash, c.TraceParent = hash, traceParent
	if rid != nil {
		c.Reporter = &Reporter{ID: *rid}
		if rname != nil {
			c.Reporter.Name = *rname
		}
		if rphone != nil {
			c.Reporter.Phone = *rphone
		}
	}
	return c, nil
}

// loadComplaint reads one complaint; forUpdate locks its row for the rest
// of the transaction, which serialises every change to one complaint.
func loadComplaint(ctx context.Context, q pgx.Tx, where string, arg any, forUpdate bool) (*Complaint, error) {
	sql := `SELECT ` + complaintColumns + ` FROM complaints WHERE ` + where
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	return scanComplaint(q.QueryRow(ctx, sql, arg))
}

func saveComplaint(ctx context.Context, tx pgx.Tx, c *Complaint, now time.Time) error {
	prev := c.Version
	c.Version++
	doc, err := document(c)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE complaints SET status = $3, updated_at = $4, due_at = $5, version = $6, doc = $7, outcome = $8
		WHERE id = $1 AND version = $2`, c.ID, prev, c.Status, now, c.DueAt, c.Version, doc, outcomeColumn(c.Outcome))
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return errConflict
	}
	return nil
}

// outcomeColumn is NULL for no outcome, as the column's CHECK wants.
func outcomeColumn(o Outcome) *string {
	if o == "" {
		return nil
	}
	s := string(o)
	return &s
}

// insertAttachments stores the uploaded files of a new complaint, numbered
// by their position (1-based) in c.Attachments.
func insertAttachments(ctx context.Context, tx pgx.Tx, c *Complaint) error {
	for i, a := range c.Attachments {
		if !a.Stored {
			continue
		}
		if a.staged != "" {
			// The database concatenates the staged chunks: the file never
			// passes through the service's memory whole.
			tag, err := tx.Exec(ctx, `INSERT INTO attachments (complaint_id, seq, name, content_type, size, sha256, content)
				SELECT $1, $2, $3, $4, $5, $6, f.content FROM (
					SELECT string_agg(data, ''::bytea ORDER BY n) AS content FROM upload_chunks WHERE upload_id = $7) f
				WHERE encode(sha256(f.content), 'hex') = $6`,
				c.ID, i+1, a.Name, a.ContentType, a.Size, a.SHA256, a.staged)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 { // the chunks are gone or not what was hashed
				return fmt.Errorf("attachment %d: the staged upload is missing or does not match its hash", i+1)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM upload_chunks WHERE upload_id = $1`, a.staged); err != nil {
				return err
			}
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO attachments (complaint_id, seq, name, content_type, size, sha256, content)
			VALUES ($1,$2,$3,$4,$5,$6,$7)`, c.ID, i+1, a.Name, a.ContentType, a.Size, a.SHA256, a.Content); err != nil {
			return err
		}
	}
	return nil
}

// readAttachment reads a stored file and records who read it, in one
// transaction: no read goes unaudited.
func readAttachment(ctx context.Context, pool *pgxpool.Pool, id string, seq int, reader Actor, now time.Time) (Attachment, error) {
	var a Attachment
	err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT name, content_type, size, sha256, content FROM attachments WHERE complaint_id = $1 AND seq = $2`,
			id, seq).Scan(&a.Name, &a.ContentType, &a.Size, &a.SHA256, &a.Content)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO attachment_reads (complaint_id, seq, at, actor_id, actor_role) VALUES ($1,$2,$3,$4,$5)`,
			id, seq, now, reader.ID, reader.Role)
		return err
	})
	a.Stored = true
	return a, err
}

func insertTransition(ctx context.Context, tx pgx.Tx, id string, seq int, t Transition) error {
	_, err := tx.Exec(ctx, `INSERT INTO transitions (complaint_id, seq, at, actor_id, actor_role, action, from_status, to_status, reason, outcome)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, id, seq, t.At, t.ActorID, t.Role, t.Action, t.From, t.To, t.Reason, t.Outcome)
	return err
}

func insertNote(ctx context.Context, tx pgx.Tx, id string, seq int, authorID string, n StatusNote) error {
	_, err := tx.Exec(ctx, `INSERT INTO status_notes (complaint_id, seq, at, author_id, author_role, body, public)
		VALUES ($1,$2,$3,$4,$5,$6,$7)`, id, seq, n.At, authorID, n.Role, n.Body, n.Public)
	return err
}

func queryComplaints(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) ([]*Complaint, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Complaint, error) { return scanComplaint(r) })
}

// lockOverdue locks the first limit complaints (by id) after the id after
// whose stage's deadline passed before now, skipping those another
// replica holds.
func lockOverdue(ctx context.Context, tx pgx.Tx, now time.Time, limit int, after string) ([]*Complaint, error) {
	rows, err := tx.Query(ctx, `SELECT `+complaintColumns+` FROM complaints
		WHERE status IN ('received', 'accepted', 'investigating') AND due_at < $1 AND ($3 = '' OR id > $3::uuid)
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit, after)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Complaint, error) { return scanComplaint(r) })
}

// complaintsByID reads the complaint id (none or one).
func complaintsByID(ctx context.Context, pool *pgxpool.Pool, id string) ([]*Complaint, error) {
	return queryComplaints(ctx, pool, `SELECT `+complaintColumns+` FROM complaints WHERE id = $1`, id)
}

// complaintsByCode reads the complaint of a tracking code (none or one).
func complaintsByCode(ctx context.Context, pool *pgxpool.Pool, code string) ([]*Complaint, error) {
	return queryComplaints(ctx, pool, `SELECT `+complaintColumns+` FROM complaints WHERE tracking_code = $1`, code)
}

// listComplaints reads a town's complaints, of one village unless village
// is empty, without those about cadre conduct when excludeCadre, newest
// first.
func listComplaints(ctx context.Context, pool *pgxpool.Pool, town, village string, excludeCadre bool, limit int) ([]*Complaint, error) {
	return queryComplaints(ctx, pool, `SELECT `+complaintColumns+` FROM complaints
		WHERE town = $1 AND ($2 = '' OR village = $2) AND NOT ($3 AND category = 'cadre-conduct')
		ORDER BY filed_at DESC LIMIT $4`, town, village, excludeCadre, limit)
}

// complaintsFiled reads a town's complaints filed in [from, to).
func complaintsFiled(ctx context.Context, pool *pgxpool.Pool, town string, from, to time.Time) ([]*Complaint, error) {
	return queryComplaints(ctx, pool, `SELECT `+complaintColumns+` FROM complaints
		WHERE town = $1 AND filed_at >= $2 AND filed_at < $3`, town, from, to)
}

func fmtErr(op string, err error) error {
	if err == nil || errors.Is(err, ErrNotFound) {
		return err
	}
	var e *domainerr.Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
