package inspection

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/api/openapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// Routes registers the inspection API. Only the OpenAPI document is public;
// everything else needs a Kratos session, and every handler checks the
// caller's town and village itself.
func (s *Service) Routes(srv *httpapi.Server) {
	srv.Handle("GET /openapi.yaml", httpapi.Public(openapi.Handler(openapi.Inspection))) // api/openapi/inspection.yaml
	srv.HandleFunc("GET /v1/villages/{village}/rating", s.villageRating)
	srv.HandleFunc("GET /v1/villages/{village}/grade-changes", s.villageGradeChanges)
	srv.HandleFunc("GET /v1/notices/{number}", s.notice)
	srv.HandleFunc("GET /v1/notices/{number}/html", s.noticeHTML)
	srv.HandleFunc("GET /v1/district/ratings", s.districtRatings)
	srv.HandleFunc("GET /v1/audit/verify", s.auditVerify) // anchors.go
	s.tourRoutes(srv)
	s.integrityRoutes(srv)
}

// principal returns the authenticated caller, answering 401 when there is none.
func principal(w http.ResponseWriter, r *http.Request) (identity.Principal, bool) {
	p, ok := identity.FromContext(r.Context())
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Unauthenticated("sign in first"))
	}
	return p, ok
}

// writeErr turns not-found into problem details.
func writeErr(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotFound) {
		httpapi.WriteProblem(w, r, httpapi.NotFound("no such notice"))
		return
	}
	httpapi.WriteError(w, r, err)
}

// canReadRating: the town's discipline office, district staff and the
// village's own officials read a village's rating; other town staff,
// other villages' officials and villagers do not.
func (s *Service) canReadRating(p identity.Principal, village string) bool {
	if !p.CanReadVillage(s.Town, village) {
		return false
	}
	return p.IsDiscipline() || p.Role.IsDistrictRole() || p.Role.IsVillageRole()
}

// canReadDistrict: district staff and the town's discipline office.
func (s *Service) canReadDistrict(p identity.Principal) bool {
	return p.Role.IsDistrictRole() || (p.Role == identity.RoleTownDiscipline && p.Town == s.Town)
}

// canReadNotice: discipline staff covering the town, and officials of the
// addressed village.
func (s *Service) canReadNotice(p identity.Principal, village string) bool {
	if p.IsDiscipline() && p.InTown(s.Town) {
		return true
	}
	return p.Role.IsVillageRole() && p.CanReadVillage(s.Town, village)
}

func limit(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 || n > 200 {
		return 50
	}
	return n
}

func (s *Service) villageRating(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	village := r.PathValue("village")
	if !s.canReadRating(p, village) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot read the rating of village "+village))
		return
	}
	rating, err := s.RatingOf(r.Context(), village, s.Rules.PeriodOf(s.now()))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, RatingFor(p, rating))
}

// GradeChangeView is a recorded change of grade, with the facts that explain
// it and the notice it brought, if any.
type GradeChangeView struct {
	ID         string         `json:"id"`
	Village    string         `json:"village"`
	Period     string         `json:"period"`
	From       Grade          `json:"from"`
	To         Grade          `json:"to"`
	FromPoints int            `json:"fromPoints"`
	ToPoints   int            `json:"toPoints"`
	At         time.Time      `json:"at"`
	RecordedAt time.Time      `json:"recordedAt"`
	Because    []Contribution `json:"because"`
	Notice     string         `json:"notice,omitempty"`
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

func (s *Service) villageGradeChanges(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	village := r.PathValue("village")
	if !s.canReadRating(p, village) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot read the rating of village "+village))
		return
	}
	list, err := s.gradeChanges(r.Context(), village, limit(r))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, GradeChangesFor(p, list))
}

// storedNotice loads a notice with its HTML.
func (s *Service) storedNotice(ctx context.Context, number string) (*Notice, string, error) {
	var doc []byte
	var html string
	err := s.Pool.QueryRow(ctx, `SELECT doc, html FROM notices WHERE number = $1 AND town = $2`, number, s.Town).Scan(&doc, &html)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	var n Notice
	if err := json.Unmarshal(doc, &n); err != nil {
		return nil, "", err
	}
	return &n, html, nil
}

// readableNotice loads a notice the caller may read; others get 404, so
// that numbers of other villages' notices cannot even be confirmed.
func (s *Service) readableNotice(w http.ResponseWriter, r *http.Request) (*Notice, string, bool) {
	p, ok := principal(w, r)
	if !ok {
		return nil, "", false
	}
	n, html, err := s.storedNotice(r.Context(), r.PathValue("number"))
	if err == nil && !s.canReadNotice(p, n.Village) {
		err = ErrNotFound
	}
	if err != nil {
		writeErr(w, r, err)
		return nil, "", false
	}
	if p, _ := identity.FromContext(r.Context()); !seesEverything(p) {
		c, chtml, ok, err := n.ForCadres()
		if err != nil {
			writeErr(w, r, err)
			return nil, "", false
		}
		if ok {
			n, html = c, chtml
		}
	}
	return n, html, true
}

func (s *Service) notice(w http.ResponseWriter, r *http.Request) {
	if n, _, ok := s.readableNotice(w, r); ok {
		_ = httpapi.WriteJSON(w, http.StatusOK, n)
	}
}

func (s *Service) noticeHTML(w http.ResponseWriter, r *http.Request) {
	if _, html, ok := s.readableNotice(w, r); ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "private, no-store")
		_, _ = w.Write([]byte(html))
	}
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

func (s *Service) districtRatings(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	if !s.canReadDistrict(p) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("only district staff and the town's discipline office read every village's rating"))
		return
	}
	period := s.Rules.PeriodOf(s.now())
	list, err := s.ratingsOf(r.Context(), period)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"town": s.Town, "period": period.String(), "items": list})
}
