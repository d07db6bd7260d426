package inspection

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// District builds the overview for the current period, counting visits of
// year (every visit when 0): every town when wide (district staff on an
// instance running the projection), else this town only. A wide request to
// an instance that knows the projection runs elsewhere fails with
// districtViewElsewhere rather than pass this town off as the district.
func (s *Service) District(ctx context.Context, wide bool, year int) (DistrictView, error) {
	if wide && s.elsewhere() {
		return DistrictView{}, s.districtViewElsewhere()
	}
	period := s.Rules.PeriodOf(s.now())
	own, err := s.ownDistrictTown(ctx, period, year)
	if err != nil {
		return DistrictView{}, err
	}
	v := DistrictView{Period: period.String(), Year: year, AsOf: s.now(), Scope: districtScope, Towns: []DistrictTown{own}}
	switch {
	case wide && s.DistrictWide:
		others, err := s.projectedTowns(ctx, period, year)
		if err != nil {
			return DistrictView{}, err
		}
		v.Towns = append(v.Towns, others...)
		slices.SortFunc(v.Towns, func(a, b DistrictTown) int { return strings.Compare(a.Town, b.Town) })
		v.DistrictWide, v.Scope = true, districtWideScope
	case s.DistrictWide || s.elsewhere():
		v.Scope = districtTownScope
	}
	v.Grades, v.Coverage = sumTowns(v.Towns)
	return v, nil
}

// ownDistrictTown is this town's part, from its own tables.
func (s *Service) ownDistrictTown(ctx context.Context, period Period, year int) (DistrictTown, error) {
	ratings, err := s.ratingsOf(ctx, period)
	if err != nil {
		return DistrictTown{}, err
	}
	known, err := s.KnownVillages(ctx)
	if err != nil {
		return DistrictTown{}, err
	}
	visited, err := s.visitedVillages(ctx, s.Pool, year)
	if err != nil {
		return DistrictTown{}, err
	}
	rated := make(map[string]townGrade, len(ratings))
	for _, r := range ratings {
		rated[r.Village] = townGrade{r.Grade, r.Points}
	}
	named := make(map[string]string, len(known))
	for v, n := range known {
		if n == "" {
			n = s.VillageNames[v]
		}
		named[v] = n
	}
	t := s.buildTown(s.Town, s.TownName, period, named, rated, visited)
	for i, v := range t.Villages {
		if v.Name == "" {
			t.Villages[i].Name = s.VillageNames[v.Village]
		}
	}
	if t.Orders, err = s.countByYear(ctx, `SELECT year, colour, count(*) FROM orders WHERE town = $1 GROUP BY year, colour`); err != nil {
		return DistrictTown{}, err
	}
	if t.Interviews, err = s.countByYear(ctx, `SELECT extract(year FROM held_at AT TIME ZONE 'Asia/Shanghai')::int, '', count(*)
		FROM interviews WHERE town = $1 GROUP BY 1`); err != nil {
		return DistrictTown{}, err
	}
	return t, nil
}

// projectedTown collects one other town's rows of the projection.
type projectedTown struct {
	known      map[string]string
	rated      map[string]townGrade
	visited    map[string]string
	orders     map[int]*YearCount
	interviews map[int]*YearCount
}

// projectedTowns builds every town of the projection but this one (read
// from its own tables instead), sorted by town.
func (s *Service) projectedTowns(ctx context.Context, period Period, year int) ([]DistrictTown, error) {
	towns := map[string]*projectedTown{}
	get := func(town string) *projectedTown {
		t := towns[town]
		if t == nil {
			t = &projectedTown{known: map[string]string{}, rated: map[string]townGrade{}, visited: map[string]string{},
				orders: map[int]*YearCount{}, interviews: map[int]*YearCount{}}
			towns[town] = t
		}
		return t
	}
	var town, village, text string
	var n, y int
	queries := []struct {
		sql  string
		args []any
		scan []any
		fold func()
	}{
		{`SELECT town, code, name FROM district_villages WHERE town <> $1 AND archived_at IS NULL`, nil, []any{&town, &village, &text},
			func() { get(town).known[village] = text }},
		{`SELECT town, village, grade, points FROM district_grades WHERE town <> $1 AND period = $2`, []any{period.String()},
			[]any{&town, &village, &text, &n}, func() { get(town).rated[village] = townGrade{Grade(text), n} }},
		{`SELECT town, village, to_char(max(visited_on), 'YYYY-MM-DD') FROM district_visits
			WHERE town <> $1 AND ($2 = 0 OR extract(year FROM visited_on) = $2) GROUP BY town, village`, []any{year},
			[]any{&town, &village, &text}, func() { get(town).visited[village] = text }},
		{`SELECT town, colour, year, count(*) FROM district_orders WHERE town <> $1 GROUP BY town, year, colour`, nil,
			[]any{&town, &text, &y, &n}, func() { foldYear(get(town).orders, y, text, n) }},
		{`SELECT town, '', extract(year FROM held_at AT TIME ZONE 'Asia/Shanghai')::int, count(*) FROM district_interviews
			WHERE town <> $1 GROUP BY 1, 3`, nil, []any{&town, &text, &y, &n}, func() { foldYear(get(town).interviews, y, "", n) }},
	}
	for _, q := range queries {
		rows, err := s.Pool.Query(ctx, q.sql, append([]any{s.Town}, q.args...)...)
		if err != nil {
			return nil, err
		}
		if _, err := pgx.ForEachRow(rows, q.scan, func() error { q.fold(); return nil }); err != nil {
			return nil, err
		}
	}
	out := make([]DistrictTown, 0, len(towns))
	for code, p := range towns {
		t := s.buildTown(code, "", period, p.known, p.rated, p.visited)
		t.Orders, t.Interviews = sortedYears(p.orders), sortedYears(p.interviews)
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b DistrictTown) int { return strings.Compare(a.Town, b.Town) })
	return out, nil
}

// countByYear runs a (year, colour, count) query and folds it by year.
func (s *Service) countByYear(ctx context.Context, sql string) ([]YearCount, error) {
	rows, err := s.Pool.Query(ctx, sql, s.Town)
	if err != nil {
		return nil, err
	}
	by := map[int]*YearCount{}
	var year, n int
	var colour string
	if _, err := pgx.ForEachRow(rows, []any{&year, &colour, &n}, func() error {
		foldYear(by, year, colour, n)
		return nil
	}); err != nil {
		return nil, err
	}
	return sortedYears(by), nil
}

// HandleDistrictEvent is the events.Handler of the district projection: a
// village registered in any town, a change of grade, a visit, an order
// issued or an interview recorded updates the district tables. Each row is
// keyed by what it counts and later facts replace earlier ones only when
// newer (generation, time), so redelivery, republication and reordering
// count nothing twice. Other types are ignored.
func (s *Service) HandleDistrictEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	town := ev.Town
	village := func(code string) error {
		if !identity.ValidVillage(code) {
			return events.Permanent(fmt.Errorf("event %s (%s): village %q is not a 12-digit code", ev.ID, ev.Type, code))
		}
		// The envelope's village is the one the topic's town published
		// the event for: data naming another is not trusted.
		if ev.Village != "" && ev.Village != code {
			return events.Permanent(fmt.Errorf("event %s (%s): data names village %q, the envelope %q", ev.ID, ev.Type, code, ev.Village))
		}
		return nil
	}
	switch ev.Type {
	case eventsv1.TypeVillageRegistered:
		v, err := decodeVillageRegistered(ev)
		if err != nil {
			return events.Permanent(err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO district_villages (town, code, name, kind, generation) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (town, code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, generation = EXCLUDED.generation
			WHERE district_villages.generation < EXCLUDED.generation`, town, v.Code, v.Name, v.Kind, v.Generation)
		return err
	case eventsv1.TypeVillageArchived:
		// An archived village leaves the district's coverage; its rows stay.
		var v eventsv1.VillageArchived
		if err := ev.Decode(&v); err != nil {
			return events.Permanent(err)
		}
		if err := village(v.Code); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE district_villages SET archived_at = $3 WHERE town = $1 AND code = $2 AND archived_at IS NULL`,
			town, v.Code, ev.Time)
		return err
	case eventsv1.TypeRatingChanged:
		var d eventsv1.RatingChanged
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		if err := village(d.Village); err != nil {
			return err
		}
		if _, err := ParsePeriod(d.Period); err != nil || !validGrade(d.To) {
			return events.Permanent(fmt.Errorf("event %s: period %q or grade %q is invalid", ev.ID, d.Period, d.To))
		}
		at := d.At
		if at.IsZero() {
			at = ev.Time
		}
		_, err := tx.Exec(ctx, `INSERT INTO district_grades (town, village, period, grade, points, at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (town, village, period) DO UPDATE SET grade = EXCLUDED.grade, points = EXCLUDED.points, at = EXCLUDED.at
			WHERE district_grades.at <= EXCLUDED.at`, town, d.Village, d.Period, d.To, d.Points, at)
		return err
	case eventsv1.TypeVisitRecorded:
		var d eventsv1.VisitRecorded
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		if err := village(d.Village); err != nil {
			return err
		}
		day, err := time.Parse(time.DateOnly, d.Date)
		if err != nil || d.TourID == "" {
			return events.Permanent(fmt.Errorf("event %s: visit of tour %q on %q is invalid", ev.ID, d.TourID, d.Date))
		}
		_, err = tx.Exec(ctx, `INSERT INTO district_visits (town, tour_id, village, visited_on, at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (town, tour_id, village) DO UPDATE SET visited_on = EXCLUDED.visited_on, at = EXCLUDED.at
			WHERE district_visits.at <= EXCLUDED.at`, town, d.TourID, d.Village, day, ev.Time)
		return err
	case eventsv1.TypeOrderIssued:
		var d eventsv1.OrderIssued
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		if err := village(d.Village); err != nil {
			return err
		}
		if d.Number == "" || d.IssuedAt.IsZero() {
			return events.Permanent(fmt.Errorf("event %s: order without number or issue time", ev.ID))
		}
		_, err := tx.Exec(ctx, `INSERT INTO district_orders (town, number, village, colour, year, issued_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT DO NOTHING`, town, d.Number, d.Village, d.Colour, d.IssuedAt.In(Shanghai).Year(), d.IssuedAt)
		return err
	case eventsv1.TypeInterviewRecorded:
		var d eventsv1.InterviewRecorded
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		if err := village(d.Village); err != nil {
			return err
		}
		if d.InterviewID == "" || d.HeldAt.IsZero() {
			return events.Permanent(fmt.Errorf("event %s: interview without id or time", ev.ID))
		}
		_, err := tx.Exec(ctx, `INSERT INTO district_interviews (town, id, village, held_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, town, d.InterviewID, d.Village, d.HeldAt)
		return err
	}
	return nil
}

var _ events.Handler = (*Service)(nil).HandleDistrictEvent
