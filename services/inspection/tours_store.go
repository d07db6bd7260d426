package inspection

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// registerVillages adds villages to the town's registry (keeping names
// already known unless a new non-empty one is given).
func (s *Service) registerVillages(ctx context.Context, tx pgx.Tx, codes []string) error {
	for _, v := range codes {
		if _, err := tx.Exec(ctx, `INSERT INTO villages (code, town, name) VALUES ($1, $2, $3)
			ON CONFLICT (code) DO UPDATE SET name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE villages.name END`,
			v, s.Town, s.VillageNames[v]); err != nil {
			return err
		}
	}
	return nil
}

// KnownVillages returns the town's villages, by code, with their names:
// those registered and those configured in VillageNames. Once the operator
// has announced villages (registry.go), only the announced ones; never the
// archived ones.
func (s *Service) KnownVillages(ctx context.Context) (map[string]string, error) {
	return s.knownVillages(ctx, s.Pool)
}

// poolQuerier is a pool, a connection or a transaction.
type poolQuerier interface {
	querier
	rowsQuerier
}

func (s *Service) knownVillages(ctx context.Context, q poolQuerier) (map[string]string, error) {
	closed, err := s.registryClosed(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT code, name FROM villages WHERE town = $1 AND (generation IS NOT NULL OR NOT $2) AND archived_at IS NULL`, s.Town, closed)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var code, name string
	if _, err := pgx.ForEachRow(rows, []any{&code, &name}, func() error {
		out[code] = name
		return nil
	}); err != nil {
		return nil, err
	}
	// An archived village leaves the universe (its records stay), even when
	// configured in VillageNames.
	archived := map[string]bool{}
	rows, err = q.Query(ctx, `SELECT code FROM villages WHERE town = $1 AND archived_at IS NOT NULL`, s.Town)
	if err != nil {
		return nil, err
	}
	if _, err := pgx.ForEachRow(rows, []any{&code}, func() error {
		archived[code] = true
		return nil
	}); err != nil {
		return nil, err
	}
	for v, n := range s.VillageNames {
		if name, ok := out[v]; (!closed || ok) && name == "" && (ok || !archived[v]) {
			out[v] = n
		}
	}
	return out, nil
}

// RegisterVillage records a village of the town (and its name); once the
// operator announces the town's villages, only an announced one (renamed
// until its next announcement).
func (s *Service) RegisterVillage(ctx context.Context, code, name string) error {
	if err := s.requireRegistered(ctx, s.Pool, "village", code); err != nil {
		return err
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO villages (code, town, name) VALUES ($1, $2, $3)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name`, code, s.Town, name)
	return err
}

// PlanTour records a tour and registers its villages.
func (s *Service) PlanTour(ctx context.Context, by identity.Principal, in TourInput) (*Tour, error) {
	if errs := in.Validate(); len(errs) > 0 {
		return nil, httpapi.ValidationFailed(errs...)
	}
	p, _ := ParsePeriod(in.Period)
	id := uuid.NewString()
	team, err := json.Marshal(in.Team)
	if err != nil {
		return nil, err
	}
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := s.requireRegistered(ctx, tx, "villages", in.Villages...); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tours (id, town, name, period, team, created_by, created_by_role, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			id, s.Town, strings.TrimSpace(in.Name), p.String(), team, by.IdentityID, string(by.Role), s.now()); err != nil {
			return err
		}
		if err := s.registerVillages(ctx, tx, in.Villages); err != nil {
			return err
		}
		for _, v := range in.Villages {
			if _, err := tx.Exec(ctx, `INSERT INTO tour_villages (tour_id, village) VALUES ($1, $2)`, id, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.TourByID(ctx, id)
}

// TourByID returns one of the town's tours (ErrNotFound otherwise).
func (s *Service) TourByID(ctx context.Context, id string) (*Tour, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	list, err := s.tours(ctx, `WHERE t.id = $2`, id)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return &list[0], nil
}

// Tours lists the town's tours, newest first, optionally of one year.
func (s *Service) Tours(ctx context.Context, year int) ([]Tour, error) {
	if year > 0 {
		return s.tours(ctx, `WHERE t.period LIKE $2`, strconv.Itoa(year)+"%")
	}
	return s.tours(ctx, `WHERE $2 = ''`, "")
}

func (s *Service) tours(ctx context.Context, where string, arg any) ([]Tour, error) {
	rows, err := s.Pool.Query(ctx, `SELECT t.id::text, t.name, t.period, t.team, t.created_by, t.created_by_role, t.created_at,
			coalesce(json_agg(json_build_object('village', v.village, 'name', coalesce(g.name, ''), 'visitedOn', to_char(v.visited_on, 'YYYY-MM-DD'),
				'visitedByRole', v.visited_by_role)
				ORDER BY v.village) FILTER (WHERE v.village IS NOT NULL), '[]')
		FROM tours t LEFT JOIN tour_villages v ON v.tour_id = t.id LEFT JOIN villages g ON g.code = v.village
		`+where+` AND t.town = $1
		GROUP BY t.id ORDER BY t.created_at DESC, t.id`, s.Town, arg)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tour, error) {
		t := Tour{Town: s.Town}
		var team, villages []byte
		if err := r.Scan(&t.ID, &t.Name, &t.Period, &team, &t.CreatedBy, &t.CreatedByRole, &t.CreatedAt, &villages); err != nil {
			return t, err
		}
		if err := json.Unmarshal(team, &t.Team); err != nil {
			return t, err
		}
		if err := json.Unmarshal(villages, &t.Villages); err != nil {
			return t, err
		}
		for i, v := range t.Villages {
			if v.Name == "" {
				t.Villages[i].Name = s.VillageNames[v.Village]
			}
			if v.VisitedOn != nil {
				t.Visited++
			}
		}
		return t, nil
	})
}

// RecordVisit records the day a tour visited one of its villages and
// announces it (eventsv1.TypeVisitRecorded, for the district's coverage).
func (s *Service) RecordVisit(ctx context.Context, by identity.Principal, tourID, village string, day time.Time) error {
	tour, err := s.TourByID(ctx, tourID)
	if err != nil {
		return err
	}
	date := day.Format(time.DateOnly)
	return store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tour_villages SET visited_on = $3, visited_by = $4, visited_by_role = $5 WHERE tour_id = $1 AND village = $2`,
			tourID, village, date, by.IdentityID, string(by.Role))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return httpapi.ValidationFailed(httpapi.FieldError{Field: "village", Detail: "the tour does not cover village " + village})
		}
		return s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeVisitRecorded, village, tourID, eventsv1.VisitRecorded{
			TourID: tourID, Village: village, Date: date, Period: tour.Period, ActorRole: string(by.Role)})
	})
}

// visitedVillages returns the villages visited (in year, or ever when 0),
// with the last day each was visited.
func (s *Service) visitedVillages(ctx context.Context, q rowsQuerier, year int) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT v.village, to_char(max(v.visited_on), 'YYYY-MM-DD') FROM tour_villages v JOIN tours t ON t.id = v.tour_id
		WHERE t.town = $1 AND v.visited_on IS NOT NULL AND ($2 = 0 OR extract(year FROM v.visited_on) = $2)
		GROUP BY v.village`, s.Town, year)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var v, day string
	_, err = pgx.ForEachRow(rows, []any{&v, &day}, func() error {
		out[v] = day
		return nil
	})
	return out, err
}

// CoverageFor reports the coverage of the town's known villages by visits
// in year (every visit when 0).
func (s *Service) CoverageFor(ctx context.Context, year int) (CoverageReport, error) {
	known, err := s.KnownVillages(ctx)
	if err != nil {
		return CoverageReport{}, err
	}
	visited, err := s.visitedVillages(ctx, s.Pool, year)
	if err != nil {
		return CoverageReport{}, err
	}
	universe := make([]string, 0, len(known))
	for v := range known {
		universe = append(universe, v)
	}
	seen := make(map[string]bool, len(visited))
	for v := range visited {
		seen[v] = true
	}
	c := CoverageOf(universe, seen)
	names := map[string]string{}
	for _, v := range c.Uncovered {
		names[v] = known[v]
	}
	return CoverageReport{Town: s.Town, Year: year, Coverage: c, UncoveredNames: names}, nil
}
