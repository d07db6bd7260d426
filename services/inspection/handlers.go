package inspection

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wuxiao/wuxiao/api/openapi"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// Routes registers the inspection API. Only the OpenAPI document is public;
// everything else needs a Kratos session, and every handler checks the
// caller's town and village itself. Each feature's routes and handlers are
// in its *_handlers.go file; this one holds what they share.
func (s *Service) Routes(srv *httpapi.Server) {
	srv.Handle("GET /openapi.yaml", httpapi.Public(openapi.Handler(openapi.Inspection))) // api/openapi/inspection.yaml
	srv.HandleFunc("GET /v1/villages/{village}/rating", s.villageRating)
	srv.HandleFunc("GET /v1/villages/{village}/grade-changes", s.villageGradeChanges)
	srv.HandleFunc("GET /v1/notices/{number}", s.notice)
	srv.HandleFunc("GET /v1/notices/{number}/html", s.noticeHTML)
	srv.HandleFunc("GET /v1/district/ratings", s.districtRatings)
	srv.HandleFunc("GET /v1/audit/verify", s.auditVerify) // anchors_handlers.go
	s.tourRoutes(srv)
	s.integrityRoutes(srv)
	s.noticeRoutes(srv) // notice_handlers.go
	s.notifyRoutes(srv) // notify_handlers.go: the inbox
}

// principal returns the authenticated caller, answering 401 when there is none.
func principal(w http.ResponseWriter, r *http.Request) (identity.Principal, bool) {
	p, ok := identity.FromContext(r.Context())
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Unauthenticated("sign in first"))
	}
	return p, ok
}

// writeErr answers err as problem details (domainerr's mapping, written
// once for the services), ErrNotFound as a 404 naming what was not found.
func writeErr(w http.ResponseWriter, r *http.Request, what string, err error) {
	domainerr.Problems{Namespace: "inspection/", NotFound: ErrNotFound, NotFoundDetail: "no such " + what}.Write(w, r, err)
}

func limit(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 || n > 200 {
		return 50
	}
	return n
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
		writeErr(w, r, what, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, v)
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
