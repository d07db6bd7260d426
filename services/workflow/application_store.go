package workflow

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// insertApplication stores a new application with the hash of its access
// code (the code itself is shown once, to the applicant).
func insertApplication(ctx context.Context, tx pgx.Tx, a *Application, codeHash string) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO applications (instance_id, village, item_id, applicant_id_hash, access_code_hash, on_behalf, filed_by, filed_at, doc)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		a.InstanceID, a.Village, a.ItemID, a.ApplicantIDHash, codeHash, a.Channel == ChannelOnBehalf, a.FiledBy, a.FiledAt, doc)
	return err
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
		if _, err := tx.Exec(ctx, `INSERT INTO evidence_files (id, instance_id, step_id, kind, name, content_type, size, sha256, uploaded_by, uploaded_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
			f.ID, instanceID, stepID, f.Kind, f.Name, f.ContentType, f.Size, f.SHA256, f.AddedBy, f.AddedAt); err != nil {
			return err
		}
		if err := insertFileData(ctx, tx, f.ID, f.Data); err != nil {
			return err
		}
	}
	return nil
}

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
