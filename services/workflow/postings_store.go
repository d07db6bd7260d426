package workflow

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

const postingColumns = `id, instance_id, village, item_id, kind, step_id, visit, what, section, title, body, min_days, calendar,
	start_at, planned_end_at, ended_at, COALESCE(end_reason, '')`

func scanPosting(r pgx.CollectableRow) (Posting, error) {
	var p Posting
	err := r.Scan(&p.ID, &p.InstanceID, &p.Village, &p.ItemID, &p.Kind, &p.StepID, &p.Visit, &p.What, &p.Section, &p.Title, &p.Text,
		&p.MinDays, &p.Calendar, &p.StartAt, &p.PlannedEndAt, &p.EndedAt, &p.EndReason)
	return p, err
}

// openPostings are the step postings of an instance still up, locked: the
// instance's row lock already serialises its changes, this guards the rows.
const openPostingsSQL = `SELECT ` + postingColumns + ` FROM postings
	WHERE instance_id = $1 AND kind = 'step' AND ended_at IS NULL ORDER BY start_at FOR UPDATE`

func openPostings(ctx context.Context, tx pgx.Tx, instanceID string) ([]Posting, error) {
	rows, err := tx.Query(ctx, openPostingsSQL, instanceID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanPosting)
}

func insertPosting(ctx context.Context, w writer, p Posting) error {
	return w.exec(ctx, `INSERT INTO postings (id, instance_id, village, item_id, kind, step_id, visit, what, section, title, body,
		min_days, calendar, start_at, planned_end_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
		p.ID, p.InstanceID, p.Village, p.ItemID, p.Kind, p.StepID, p.Visit, p.What, p.Section, p.Title, p.Text,
		p.MinDays, p.Calendar, p.StartAt, p.PlannedEndAt)
}

func endPosting(ctx context.Context, w writer, id string, at time.Time, reason string) error {
	return w.exec(ctx, `UPDATE postings SET ended_at = $2, end_reason = $3 WHERE id = $1 AND ended_at IS NULL`, id, at, reason)
}

// villagePostings lists a village's postings up at now (current) or come
// down by now, newest first.
func villagePostings(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, village string, current bool, now time.Time, limit int) ([]Posting, error) {
	rows, err := q.Query(ctx, `SELECT `+postingColumns+` FROM postings
		WHERE village = $1 AND (ended_at IS NULL AND (kind = 'step' OR planned_end_at IS NULL OR planned_end_at > $2)) = $3
		ORDER BY start_at DESC LIMIT $4`, village, now, current, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanPosting)
}
