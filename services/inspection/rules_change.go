package inspection

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// Hash identifies a set of rules: the SHA-256 of their JSON (maps are
// encoded in key order, so equal rules hash equally).
func (r Rules) Hash() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("rules do not encode: %v", err)) // plain data: cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ApplyRules re-grades the current period's villages when the service runs
// with other rules than those the stored ratings were computed with (a
// district or town changed its rating rules), so that every grade follows
// the rules in force at once instead of at each village's next fact. A
// grade changed this way is recorded and published like any other, with no
// facts in "because" (none is new): it issues no notice, since a notice
// answers a village's own facts, not a change of rules. Run at start-up,
// before the consumers; replicas starting together re-grade once.
func (s *Service) ApplyRules(ctx context.Context) (regraded int, err error) {
	hash := s.Rules.Hash()
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		regraded = 0 // InTx retries this function after a conflict
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('wuxiao/inspection/rules', 0))`); err != nil {
			return err
		}
		var stored string
		err := tx.QueryRow(ctx, `SELECT hash FROM rules_in_force`).Scan(&stored)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if stored == hash {
			return nil
		}
		now := s.now()
		period := s.Rules.PeriodOf(now)
		rows, err := tx.Query(ctx, `SELECT village FROM ratings WHERE period = $1
			UNION SELECT village FROM facts WHERE at >= $2 AND at < $3 ORDER BY 1`, period.String(), period.Start(), period.End())
		if err != nil {
			return err
		}
		villages, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, v := range villages {
			changed, err := s.regrade(ctx, tx, v, period)
			if err != nil {
				return fmt.Errorf("re-grading %s: %w", v, err)
			}
			if changed {
				regraded++
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO rules_in_force (hash, applied_at) VALUES ($1, $2)
			ON CONFLICT (only_row) DO UPDATE SET hash = EXCLUDED.hash, applied_at = EXCLUDED.applied_at`, hash, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("applying the rating rules: %w", err)
	}
	return regraded, nil
}

// regrade rates one village of period again and records a change of grade.
func (s *Service) regrade(ctx context.Context, tx pgx.Tx, village string, period Period) (bool, error) {
	if err := lockVillage(ctx, tx, village); err != nil {
		return false, err
	}
	facts, err := loadFacts(ctx, tx, village, period)
	if err != nil {
		return false, err
	}
	next := Rate(s.Rules, village, period, facts)
	previous, _, err := loadRating(ctx, tx, village, period)
	if err != nil {
		return false, err
	}
	now := s.now()
	if err := saveRating(ctx, tx, next, now); err != nil {
		return false, err
	}
	ch := Diff(previous, next)
	if ch == nil {
		return false, nil
	}
	changeID := uuid.NewString()
	if err := insertGradeChange(ctx, tx, changeID, ch, now); err != nil {
		return false, err
	}
	return true, s.publish(ctx, tx, changeID, eventsv1.TypeRatingChanged, village, period.String(), eventsv1.RatingChanged{
		Village: village, Period: period.String(), From: string(ch.From), To: string(ch.To),
		FromPoints: ch.FromPoints, Points: ch.ToPoints, At: ch.At, Because: []eventsv1.RatingFactRef{}})
}
