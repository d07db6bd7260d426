package inspection

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/internal/keys"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the inspection schema's migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	// The fingerprints of the service's keys (keys.Check) live in its schema.
	if err := keys.Migrate(ctx, pool); err != nil {
		return err
	}
	return store.Migrate(ctx, pool, "inspection", sub)
}

// ErrNotFound: no such record.
var ErrNotFound = errors.New("not found")

// insertFact records a fact; it reports false when a fact with its id is
// already there (a redelivered event).
func insertFact(ctx context.Context, tx pgx.Tx, town string, f Fact) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO facts (id, village, town, kind, subkind, at, ref, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		f.ID, f.Village, town, string(f.Kind), f.Subkind, f.At, f.Ref, f.Note)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// lockVillage serialises the rating of one village: two transactions
// applying facts of the same village would otherwise each miss the other's
// fact and both compare with the same stored rating.
func lockVillage(ctx context.Context, tx pgx.Tx, village string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('wuxiao/inspection/village/' || $1, 0))`, village)
	return err
}

// loadFacts reads a village's facts of a period.
func loadFacts(ctx context.Context, tx pgx.Tx, village string, p Period) ([]Fact, error) {
	rows, err := tx.Query(ctx, `SELECT id, village, kind, subkind, at, ref, note FROM facts
		WHERE village = $1 AND at >= $2 AND at < $3`, village, p.Start(), p.End())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Fact, error) {
		var f Fact
		var kind string
		err := r.Scan(&f.ID, &f.Village, &kind, &f.Subkind, &f.At, &f.Ref, &f.Note)
		f.Kind = FactKind(kind)
		return f, err
	})
}

// querier is what both a pool and a transaction offer.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// loadRating reads the stored rating of a village and period; ok is false
// when there is none yet.
func loadRating(ctx context.Context, q querier, village string, p Period) (r Rating, ok bool, err error) {
	var doc []byte
	err = q.QueryRow(ctx, `SELECT doc FROM ratings WHERE village = $1 AND period = $2`, village, p.String()).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return Rating{}, false, nil
	}
	if err != nil {
		return Rating{}, false, err
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return Rating{}, false, fmt.Errorf("rating of %s %s: %w", village, p, err)
	}
	return r, true, nil
}

func saveRating(ctx context.Context, tx pgx.Tx, r Rating, now time.Time) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO ratings (village, period, points, grade, computed_at, doc) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (village, period) DO UPDATE SET points = EXCLUDED.points, grade = EXCLUDED.grade,
			computed_at = EXCLUDED.computed_at, doc = EXCLUDED.doc`,
		r.Village, r.Period.String(), r.Points, string(r.Grade), now, doc)
	return err
}

func insertGradeChange(ctx context.Context, tx pgx.Tx, id string, ch *GradeChange, now time.Time) error {
	because, err := json.Marshal(ch.Because)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO grade_changes (id, village, period, from_grade, to_grade, from_points, to_points, at, recorded_at, because)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		id, ch.Village, ch.Period.String(), string(ch.From), string(ch.To), ch.FromPoints, ch.ToPoints, ch.At, now, because)
	return err
}

func insertNotice(ctx context.Context, tx pgx.Tx, n *Notice, changeID, html string) error {
	doc, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO notices (number, kind, village, town, period, issued_at, grade, points, deadline, change_id, doc, html)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		n.Number, string(n.Kind), n.Village, n.Town, n.Period.String(), n.IssuedAt, string(n.Grade), n.Points, n.Deadline, changeID, doc, html)
	return err
}

// txNumbers hands out document numbers from the notice_numbers table inside
// the caller's transaction: the series' row stays locked until it ends, so
// concurrent issuers wait for each other, and a rolled-back issue gives its
// number back.
type txNumbers struct {
	ctx context.Context
	tx  pgx.Tx
}

var _ Numbers = txNumbers{}

// Next returns the next number of a series in a year, starting at 1.
func (n txNumbers) Next(series string, year int) (int, error) {
	if _, err := n.tx.Exec(n.ctx, `INSERT INTO notice_numbers (series, year, next) VALUES ($1, $2, 1) ON CONFLICT DO NOTHING`,
		series, year); err != nil {
		return 0, err
	}
	var next int
	if err := n.tx.QueryRow(n.ctx, `SELECT next FROM notice_numbers WHERE series = $1 AND year = $2 FOR UPDATE`,
		series, year).Scan(&next); err != nil {
		return 0, err
	}
	if _, err := n.tx.Exec(n.ctx, `UPDATE notice_numbers SET next = next + 1 WHERE series = $1 AND year = $2`,
		series, year); err != nil {
		return 0, err
	}
	return next, nil
}
