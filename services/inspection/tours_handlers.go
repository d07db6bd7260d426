package inspection

import (
	"net/http"
	"strings"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

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
	p, ok := need(w, r, s.canRunInspection, whyRun)
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
	if !s.canRunInspection(p) {
		writeErr(w, r, "tour", ErrNotFound)
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
		writeErr(w, r, "tour", err)
		return
	}
	t, err := s.TourByID(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, r, "tour", err)
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
