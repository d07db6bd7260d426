package inspection

// Inspection tours (巡察): rounds the town's discipline office plans per
// period, with a team and the villages each round covers; each village's
// visit is recorded with its date. Coverage (巡察全覆盖) is the share of the
// town's villages visited at least once, with the list of those not yet
// covered.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
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

// TeamMember is one member of a tour's team.
type TeamMember struct {
	Name string `json:"name"`
	// Role in the team, e.g. 组长, 副组长, 组员.
	Role string `json:"role"`
	// IdentityID of the member's account, when they have one.
	IdentityID string `json:"identityId,omitempty"`
}

// TourVillage is a village a tour covers; VisitedOn is set once visited.
type TourVillage struct {
	Village   string  `json:"village"`
	Name      string  `json:"name,omitempty"`
	VisitedOn *string `json:"visitedOn,omitempty"` // 2026-04-12 (Shanghai)
}

// Tour is a round of inspection (一轮巡察).
type Tour struct {
	ID        string        `json:"id"`
	Town      string        `json:"town"`
	Name      string        `json:"name"`
	Period    string        `json:"period"`
	Team      []TeamMember  `json:"team"`
	Villages  []TourVillage `json:"villages"`
	Visited   int           `json:"visited"`
	CreatedBy string        `json:"createdBy"`
	CreatedAt time.Time     `json:"createdAt"`
}

// TourInput plans a tour.
type TourInput struct {
	Name     string       `json:"name"`
	Period   string       `json:"period"` // 2026, or 2026Q2
	Team     []TeamMember `json:"team"`
	Villages []string     `json:"villages"`
}

var periodPattern = regexp.MustCompile(`^([0-9]{4})(?:Q([1-4]))?$`)

// ParsePeriod reads "2026" or "2026Q2".
func ParsePeriod(s string) (Period, error) {
	m := periodPattern.FindStringSubmatch(s)
	if m == nil {
		return Period{}, fmt.Errorf("period %q is not a year (2026) or a quarter (2026Q2)", s)
	}
	y, _ := strconv.Atoi(m[1])
	q := 0
	if m[2] != "" {
		q, _ = strconv.Atoi(m[2])
	}
	p := Period{Year: y, Quarter: q}
	return p, p.Validate()
}

// Validate returns every problem of the input, by field.
func (in TourInput) Validate() []httpapi.FieldError {
	var errs []httpapi.FieldError
	if strings.TrimSpace(in.Name) == "" {
		errs = append(errs, httpapi.FieldError{Field: "name", Detail: "is required"})
	}
	if _, err := ParsePeriod(in.Period); err != nil {
		errs = append(errs, httpapi.FieldError{Field: "period", Detail: err.Error()})
	}
	if len(in.Team) == 0 {
		errs = append(errs, httpapi.FieldError{Field: "team", Detail: "a tour needs at least one team member"})
	}
	for i, m := range in.Team {
		if strings.TrimSpace(m.Name) == "" {
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("team[%d].name", i), Detail: "is required"})
		}
	}
	if len(in.Villages) == 0 {
		errs = append(errs, httpapi.FieldError{Field: "villages", Detail: "a tour covers at least one village"})
	}
	seen := map[string]bool{}
	for i, v := range in.Villages {
		switch {
		case !identity.ValidVillage(v):
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("villages[%d]", i), Detail: fmt.Sprintf("%q is not a 12-digit village code", v)})
		case seen[v]:
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("villages[%d]", i), Detail: fmt.Sprintf("%s is listed twice", v)})
		}
		seen[v] = true
	}
	return errs
}

// Coverage is how many of a set of villages inspection tours visited.
type Coverage struct {
	Total   int `json:"total"`
	Covered int `json:"covered"`
	// Percent covered, rounded down to one decimal: a target of 100% is
	// reached only when every village is covered.
	Percent float64 `json:"percent"`
	// Uncovered villages, sorted by code.
	Uncovered []string `json:"uncovered"`
}

// CoverageOf computes coverage of the villages in universe by the visited
// ones. Visited villages outside the universe do not count, and a village
// listed twice counts once. An empty universe is 0% covered (nothing to
// show yet), not 100%.
func CoverageOf(universe []string, visited map[string]bool) Coverage {
	all := slices.Clone(universe)
	slices.Sort(all)
	all = slices.Compact(all)
	c := Coverage{Total: len(all), Uncovered: []string{}}
	for _, v := range all {
		if visited[v] {
			c.Covered++
		} else {
			c.Uncovered = append(c.Uncovered, v)
		}
	}
	if c.Total > 0 {
		c.Percent = math.Floor(float64(c.Covered)*1000/float64(c.Total)) / 10
	}
	return c
}

// ---- store ----

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
	closed, err := s.registryClosed(ctx, s.Pool)
	if err != nil {
		return nil, err
	}
	rows, err := s.Pool.Query(ctx, `SELECT code, name FROM villages WHERE town = $1 AND (generation IS NOT NULL OR NOT $2) AND archived_at IS NULL`, s.Town, closed)
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
	rows, err = s.Pool.Query(ctx, `SELECT code FROM villages WHERE town = $1 AND archived_at IS NOT NULL`, s.Town)
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
		if _, err := tx.Exec(ctx, `INSERT INTO tours (id, town, name, period, team, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, s.Town, strings.TrimSpace(in.Name), p.String(), team, by.IdentityID, s.now()); err != nil {
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
	rows, err := s.Pool.Query(ctx, `SELECT t.id::text, t.name, t.period, t.team, t.created_by, t.created_at,
			coalesce(json_agg(json_build_object('village', v.village, 'name', coalesce(g.name, ''), 'visitedOn', to_char(v.visited_on, 'YYYY-MM-DD'))
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
		if err := r.Scan(&t.ID, &t.Name, &t.Period, &team, &t.CreatedBy, &t.CreatedAt, &villages); err != nil {
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
		tag, err := tx.Exec(ctx, `UPDATE tour_villages SET visited_on = $3, visited_by = $4 WHERE tour_id = $1 AND village = $2`,
			tourID, village, date, by.IdentityID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return httpapi.ValidationFailed(httpapi.FieldError{Field: "village", Detail: "the tour does not cover village " + village})
		}
		return s.publish(ctx, tx, uuid.NewString(), eventsv1.TypeVisitRecorded, village, tourID, eventsv1.VisitRecorded{
			TourID: tourID, Village: village, Date: date, Period: tour.Period})
	})
}

// CoverageReport is the town's coverage, with the villages' names.
type CoverageReport struct {
	Town string `json:"town"`
	// Year the visits were counted in; 0 counts every visit ever recorded.
	Year int `json:"year,omitempty"`
	Coverage
	UncoveredNames map[string]string `json:"uncoveredNames"`
}

// visitedVillages returns the villages visited (in year, or ever when 0),
// with the last day each was visited.
func (s *Service) visitedVillages(ctx context.Context, year int) (map[string]string, error) {
	rows, err := s.Pool.Query(ctx, `SELECT v.village, to_char(max(v.visited_on), 'YYYY-MM-DD') FROM tour_villages v JOIN tours t ON t.id = v.tour_id
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
	visited, err := s.visitedVillages(ctx, year)
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

// ---- access ----

// isTownDiscipline: the discipline office of this service's town, which
// plans tours, raises findings, issues orders and records interviews.
func (s *Service) isTownDiscipline(p identity.Principal) bool {
	return p.Role == identity.RoleTownDiscipline && p.Town == s.Town
}

// canReadInspection: the town's discipline office and the district's
// (which reads every town). Nobody else reads tours, findings, orders or
// interviews; village officials read their own village's rectification
// tasks only (see rectifications).
func (s *Service) canReadInspection(p identity.Principal) bool {
	return s.isTownDiscipline(p) || p.Role == identity.RoleDistrictDiscipline
}

// need answers 401/403 unless ok(p); it returns the principal.
func need(w http.ResponseWriter, r *http.Request, ok func(identity.Principal) bool, why string) (identity.Principal, bool) {
	p, authed := principal(w, r)
	if !authed {
		return p, false
	}
	if !ok(p) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden(why))
		return p, false
	}
	return p, true
}

const (
	whyWrite = "only the town's discipline office (town-discipline) does this"
	whyRead  = "only the town's discipline office and the district's discipline staff read inspection records"
)

// writeNotFound answers errors, naming what was not found.
// serveReadable answers GET of one tour, finding or order: 404 to anyone
// who may not read this town's inspection records, so that another town's
// staff cannot even confirm one exists.
func serveReadable[T any](s *Service, w http.ResponseWriter, r *http.Request, what string,
	get func(context.Context, string) (T, error), key string) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	v, err := get(r.Context(), r.PathValue(key))
	if err == nil && !s.canReadInspection(p) {
		err = ErrNotFound
	}
	if err != nil {
		writeNotFound(w, r, what, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, v)
}

func writeNotFound(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, ErrNotFound) {
		httpapi.WriteProblem(w, r, httpapi.NotFound("no such "+what))
		return
	}
	httpapi.WriteError(w, r, err)
}

// parseDay reads a day (2026-04-12) in Shanghai time.
func parseDay(field, s string) (time.Time, *httpapi.Problem) {
	d, err := time.ParseInLocation(time.DateOnly, s, Shanghai)
	if err != nil {
		return time.Time{}, httpapi.ValidationFailed(httpapi.FieldError{Field: field, Detail: fmt.Sprintf("%q is not a date (2006-01-02)", s)})
	}
	return d, nil
}

// yearParam reads ?year=, 0 when absent.
func yearParam(r *http.Request) (int, *httpapi.Problem) {
	q := r.URL.Query().Get("year")
	if q == "" {
		return 0, nil
	}
	y, err := strconv.Atoi(q)
	if err != nil || y < 2000 || y > 2999 {
		return 0, httpapi.BadRequest("year must be a year such as 2026")
	}
	return y, nil
}

// villageParam reads the optional ?village= filter: "" when absent, a
// problem when it is not a village code.
func villageParam(r *http.Request) (string, *httpapi.Problem) {
	v := r.URL.Query().Get("village")
	if v != "" && !identity.ValidVillage(v) {
		return "", httpapi.ValidationFailed(httpapi.FieldError{Field: "village", Detail: "must be a 12-digit village code"})
	}
	return v, nil
}

// ---- handlers ----

// tourRoutes registers tours, findings, rectifications, orders, interviews
// and the district views.
func (s *Service) tourRoutes(srv *httpapi.Server) {
	srv.HandleFunc("PUT /v1/villages/{village}", s.putVillage)
	srv.HandleFunc("POST /v1/tours", s.postTour)
	srv.HandleFunc("GET /v1/tours", s.getTours)
	srv.HandleFunc("GET /v1/tours/coverage", s.getCoverage)
	srv.HandleFunc("GET /v1/tours/{id}", s.getTour)
	srv.HandleFunc("POST /v1/tours/{id}/visits", s.postVisit)
	s.findingRoutes(srv)
	s.orderRoutes(srv)
	s.districtRoutes(srv)
}

func (s *Service) putVillage(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, s.isTownDiscipline, whyWrite); !ok {
		return
	}
	code := r.PathValue("village")
	if !identity.ValidVillage(code) {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "village", Detail: "is not a 12-digit village code"}))
		return
	}
	var in struct {
		Name string `json:"name"`
	}
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Name) == "" {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "name", Detail: "is required"}))
		return
	}
	if err := s.RegisterVillage(r.Context(), code, strings.TrimSpace(in.Name)); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]string{"village": code, "name": strings.TrimSpace(in.Name)})
}

func (s *Service) postTour(w http.ResponseWriter, r *http.Request) {
	p, ok := need(w, r, s.isTownDiscipline, whyWrite)
	if !ok {
		return
	}
	var in TourInput
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	t, err := s.PlanTour(r.Context(), p, in)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/tours/"+t.ID)
	_ = httpapi.WriteJSON(w, http.StatusCreated, t)
}

func (s *Service) getTours(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, s.canReadInspection, whyRead); !ok {
		return
	}
	year, prob := yearParam(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	list, err := s.Tours(r.Context(), year)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"town": s.Town, "items": list})
}

func (s *Service) getTour(w http.ResponseWriter, r *http.Request) {
	serveReadable(s, w, r, "tour", s.TourByID, "id")
}

func (s *Service) postVisit(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	if !s.isTownDiscipline(p) {
		writeNotFound(w, r, "tour", ErrNotFound)
		return
	}
	var in struct {
		Village string `json:"village"`
		Date    string `json:"date"`
	}
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	day, prob := parseDay("date", in.Date)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	if day.After(s.now()) {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "date", Detail: "a visit cannot be recorded before it happens"}))
		return
	}
	if err := s.RecordVisit(r.Context(), p, r.PathValue("id"), in.Village, day); err != nil {
		writeNotFound(w, r, "tour", err)
		return
	}
	t, err := s.TourByID(r.Context(), r.PathValue("id"))
	if err != nil {
		writeNotFound(w, r, "tour", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, t)
}

func (s *Service) getCoverage(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, func(p identity.Principal) bool { return s.canReadInspection(p) || p.Role == identity.RoleDistrictAdmin }, whyRead); !ok {
		return
	}
	year, prob := yearParam(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	c, err := s.CoverageFor(r.Context(), year)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, c)
}
