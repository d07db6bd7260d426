package disclosure

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/keys"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the disclosure schema's migrations, after those of the
// fingerprints of its keys (keys.Check), which live in its schema too.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return store.MigrateEmbedded(ctx, pool, keys.Migrations, store.Embedded{Set: "disclosure", FS: migrationFiles})
}

// ErrNotFound: no such entry or payment.
var ErrNotFound = errors.New("not found")

// querier is what both a pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lockVillage locks the village's row for the rest of the transaction,
// inserting it first if missing: whoever holds it is the only writer
// numbering the village's entries (and recording its payments).
func lockVillage(ctx context.Context, tx pgx.Tx, code, town string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO villages (code, town) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING`, code, town); err != nil {
		return err
	}
	var got string
	return tx.QueryRow(ctx, `SELECT code FROM villages WHERE code = $1 FOR UPDATE`, code).Scan(&got)
}

const entryColumns = `id::text, village, seq, kind, category, amount_fen, to_char(entry_date, 'YYYY-MM-DD'), description,
	counterparty, instance_id, tracking_number, coalesce(reverses::text, ''), reason, recorded_by, recorded_at`

func scanEntries(rows pgx.Rows) ([]Entry, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.ID, &e.Village, &e.Seq, &e.Kind, &e.Category, &e.AmountFen, &e.Date, &e.Description,
			&e.Counterparty, &e.InstanceID, &e.TrackingNumber, &e.Reverses, &e.Reason, &e.RecordedBy, &e.RecordedAt)
		return e, err
	})
}

// villageEntries reads every entry of a village, in seq order.
func villageEntries(ctx context.Context, q querier, village string) ([]Entry, error) {
	rows, err := q.Query(ctx, `SELECT `+entryColumns+` FROM ledger_entries WHERE village = $1 ORDER BY seq`, village)
	if err != nil {
		return nil, err
	}
	return scanEntries(rows)
}

// yearEntries reads a village's entries dated in year. A reversal carries
// its original's date, so both are always in the same year.
func yearEntries(ctx context.Context, q querier, village string, year int) ([]Entry, error) {
	rows, err := q.Query(ctx, `SELECT `+entryColumns+` FROM ledger_entries
		WHERE village = $1 AND entry_date >= make_date($2, 1, 1) AND entry_date < make_date($2 + 1, 1, 1)
		ORDER BY seq`, village, year)
	if err != nil {
		return nil, err
	}
	return scanEntries(rows)
}

func loadEntry(ctx context.Context, q querier, id string) (Entry, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return Entry{}, ErrNotFound
	}
	rows, err := q.Query(ctx, `SELECT `+entryColumns+` FROM ledger_entries WHERE id = $1`, u.String())
	if err != nil {
		return Entry{}, err
	}
	es, err := scanEntries(rows)
	if err != nil {
		return Entry{}, err
	}
	if len(es) == 0 {
		return Entry{}, ErrNotFound
	}
	return es[0], nil
}

// insertEntry stores e; inserted is false when an entry with its id exists
// already (a redelivered event's deterministic id).
func insertEntry(ctx context.Context, tx pgx.Tx, e Entry) (inserted bool, err error) {
	tag, err := tx.Exec(ctx, `INSERT INTO ledger_entries (id, village, seq, kind, category, amount_fen, entry_date, description,
		counterparty, instance_id, tracking_number, reverses, reason, recorded_by, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7::date, $8, $9, $10, $11, NULLIF($12, '')::uuid, $13, $14, $15)
		ON CONFLICT (id) DO NOTHING`,
		e.ID, e.Village, e.Seq, e.Kind, e.Category, e.AmountFen, e.Date, e.Description,
		e.Counterparty, e.InstanceID, e.TrackingNumber, e.Reverses, e.Reason, e.RecordedBy, e.RecordedAt)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

const paymentColumns = `id::text, village, programme, household_name, id_hash, id_prefix, id_last4, amount_fen,
	to_char(paid_on, 'YYYY-MM-DD'), coalesce(reverses::text, ''), reason, recorded_by, recorded_at`

func scanPayments(rows pgx.Rows) ([]Payment, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Payment, error) {
		var p Payment
		err := r.Scan(&p.ID, &p.Village, &p.Programme, &p.HouseholdName, &p.IDHash, &p.IDPrefix, &p.IDLast4, &p.AmountFen,
			&p.PaidOn, &p.Reverses, &p.Reason, &p.RecordedBy, &p.RecordedAt)
		return p, err
	})
}

func villagePayments(ctx context.Context, q querier, village string) ([]Payment, error) {
	rows, err := q.Query(ctx, `SELECT `+paymentColumns+` FROM subsidy_payments WHERE village = $1 ORDER BY paid_on, recorded_at, id`, village)
	if err != nil {
		return nil, err
	}
	return scanPayments(rows)
}

func loadPayment(ctx context.Context, q querier, id string) (Payment, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return Payment{}, ErrNotFound
	}
	rows, err := q.Query(ctx, `SELECT `+paymentColumns+` FROM subsidy_payments WHERE id = $1`, u.String())
	if err != nil {
		return Payment{}, err
	}
	ps, err := scanPayments(rows)
	if err != nil {
		return Payment{}, err
	}
	if len(ps) == 0 {
		return Payment{}, ErrNotFound
	}
	return ps[0], nil
}

func insertPayment(ctx context.Context, tx pgx.Tx, p Payment) error {
	_, err := tx.Exec(ctx, `INSERT INTO subsidy_payments (id, village, programme, household_name, id_hash, id_prefix, id_last4,
		amount_fen, paid_on, reverses, reason, recorded_by, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::date, NULLIF($10, '')::uuid, $11, $12, $13)`,
		p.ID, p.Village, p.Programme, p.HouseholdName, p.IDHash, p.IDPrefix, p.IDLast4,
		p.AmountFen, p.PaidOn, p.Reverses, p.Reason, p.RecordedBy, p.RecordedAt)
	return err
}

func fmtErr(op string, err error) error {
	var fe domainerr.FieldErrors
	if err == nil || errors.Is(err, ErrNotFound) || errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
