package inspection

// The ratings' store: facts, ratings, changes of grade and the notices
// they bring, and their document numbers.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The statements of applying a fact (recordFact, apply_read.go): a fact
// whose id is there already (a redelivered event) is not inserted again.
const (
	insertFactSQL = `INSERT INTO facts (id, village, town, kind, subkind, at, ref, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`
	loadFactsSQL = `SELECT id, village, kind, subkind, at, ref, note FROM facts
		WHERE village = $1 AND at >= $2 AND at < $3`
	loadRatingSQL  = `SELECT doc FROM ratings WHERE village = $1 AND period = $2`
	lockVillageSQL = `SELECT pg_advisory_xact_lock(hashtextextended('wuxiao/inspection/village/' || $1, 0))`
)

// lockVillage serialises the rating of one village: two transactions
// applying facts of the same village would otherwise each miss the other's
// fact and both compare with the same stored rating.
func lockVillage(ctx context.Context, tx pgx.Tx, village string) error {
	_, err := tx.Exec(ctx, lockVillageSQL, village)
	return err
}

// loadFacts reads a village's facts of a period.
func loadFacts(ctx context.Context, tx pgx.Tx, village string, p Period) ([]Fact, error) {
	rows, err := tx.Query(ctx, loadFactsSQL, village, p.Start(), p.End())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanFact)
}

func scanFact(r pgx.CollectableRow) (Fact, error) {
	var f Fact
	var kind string
	err := r.Scan(&f.ID, &f.Village, &kind, &f.Subkind, &f.At, &f.Ref, &f.Note)
	f.Kind = FactKind(kind)
	return f, err
}

// loadRating reads the stored rating of a village and period; ok is false
// when there is none yet.
func loadRating(ctx context.Context, q querier, village string, p Period) (r Rating, ok bool, err error) {
	var doc []byte
	err = q.QueryRow(ctx, loadRatingSQL, village, p.String()).Scan(&doc)
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

func saveRating(ctx context.Context, tx execer, r Rating, now time.Time) error {
	sql, args, err := saveRatingsArgs([]ratingSave{{r, now}})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, sql, args...)
	return err
}

// ratingSave is a rating to store and when it was computed.
type ratingSave struct {
	r  Rating
	at time.Time
}

// saveRatingsArgs is the statement storing ratings (one per village and
// period) and its arguments.
func saveRatingsArgs(rs []ratingSave) (string, []any, error) {
	villages, periods, grades, docs := make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs))
	points, ats := make([]int, len(rs)), make([]time.Time, len(rs))
	for i, x := range rs {
		doc, err := json.Marshal(x.r)
		if err != nil {
			return "", nil, err
		}
		villages[i], periods[i], points[i], grades[i], ats[i], docs[i] = x.r.Village, x.r.Period.String(), x.r.Points, string(x.r.Grade), x.at, string(doc)
	}
	return saveRatingsSQL, []any{villages, periods, points, grades, ats, docs}, nil
}

const saveRatingsSQL = `INSERT INTO ratings (village, period, points, grade, computed_at, doc)
	SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::jsonb[])
	ON CONFLICT (village, period) DO UPDATE SET points = EXCLUDED.points, grade = EXCLUDED.grade,
		computed_at = EXCLUDED.computed_at, doc = EXCLUDED.doc`

func insertGradeChange(ctx context.Context, tx execer, id string, ch *GradeChange, now time.Time) error {
	because, err := json.Marshal(ch.Because)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO grade_changes (id, village, period, from_grade, to_grade, from_points, to_points, at, recorded_at, because)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		id, ch.Village, ch.Period.String(), string(ch.From), string(ch.To), ch.FromPoints, ch.ToPoints, ch.At, now, because)
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

// gradeChanges lists a village's changes of grade, newest first.
func (s *Service) gradeChanges(ctx context.Context, village string, n int) ([]GradeChangeView, error) {
	rows, err := s.Pool.Query(ctx, `SELECT g.id::text, g.village, g.period, g.from_grade, g.to_grade, g.from_points, g.to_points,
			g.at, g.recorded_at, g.because, coalesce(n.number, '')
		FROM grade_changes g LEFT JOIN notices n ON n.change_id = g.id
		WHERE g.village = $1 ORDER BY g.recorded_at DESC, g.at DESC LIMIT $2`, village, n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (GradeChangeView, error) {
		var v GradeChangeView
		var from, to string
		var because []byte
		if err := row.Scan(&v.ID, &v.Village, &v.Period, &from, &to, &v.FromPoints, &v.ToPoints, &v.At, &v.RecordedAt, &because, &v.Notice); err != nil {
			return v, err
		}
		v.From, v.To = Grade(from), Grade(to)
		v.Because = []Contribution{}
		return v, json.Unmarshal(because, &v.Because)
	})
}

// ratingsOf returns the stored ratings of a period, by village, with the
// initial rating for every named village without one.
func (s *Service) ratingsOf(ctx context.Context, period Period) ([]Rating, error) {
	rows, err := s.Pool.Query(ctx, `SELECT doc FROM ratings WHERE period = $1 ORDER BY village`, period.String())
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Rating, error) {
		var doc []byte
		var rt Rating
		if err := row.Scan(&doc); err != nil {
			return rt, err
		}
		return rt, json.Unmarshal(doc, &rt)
	})
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(list))
	for _, rt := range list {
		seen[rt.Village] = true
	}
	for v := range s.VillageNames {
		if !seen[v] {
			list = append(list, s.Rules.Initial(v, period))
		}
	}
	slices.SortFunc(list, func(a, b Rating) int { return strings.Compare(a.Village, b.Village) })
	return list, nil
}
