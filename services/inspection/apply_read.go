package inspection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// factRead is what applying a fact reads.
type factRead struct {
	fresh    bool   // the fact was not recorded before
	facts    []Fact // the village's facts of the period, the new one included
	previous Rating // the stored rating (zero when none)
}

// recordFact locks f's village, records f and reads the village's facts
// and stored rating of period: lockVillage, insertFact, loadFacts and
// loadRating as one pipelined batch, one round trip instead of four
// (issue 18: the consumer's warnings/s). PostgreSQL runs them in order, so
// the reads come after the lock and see the new fact. When the fact was
// recorded before, the reads are wasted and nothing changes.
func recordFact(ctx context.Context, tx pgx.Tx, town string, f Fact, period Period) (factRead, error) {
	var r factRead
	b := &pgx.Batch{}
	b.Queue(lockVillageSQL, f.Village)
	b.Queue(insertFactSQL, f.ID, f.Village, town, string(f.Kind), f.Subkind, f.At, f.Ref, f.Note).Exec(func(ct pgconn.CommandTag) error {
		r.fresh = ct.RowsAffected() == 1
		return nil
	})
	b.Queue(loadFactsSQL, f.Village, period.Start(), period.End()).Query(func(rows pgx.Rows) error {
		var err error
		r.facts, err = pgx.CollectRows(rows, scanFact)
		return err
	})
	b.Queue(loadRatingSQL, f.Village, period.String()).QueryRow(func(row pgx.Row) error {
		var doc []byte
		err := row.Scan(&doc)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(doc, &r.previous); err != nil {
			return fmt.Errorf("rating of %s %s: %w", f.Village, period, err)
		}
		return nil
	})
	return r, tx.SendBatch(ctx, b).Close()
}
