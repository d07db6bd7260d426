package inspection

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

func (s *Service) findingRoutes(srv *httpapi.Server) {
	srv.HandleFunc("POST /v1/tours/{id}/findings", s.postFinding)
	srv.HandleFunc("GET /v1/findings", s.getFindings)
	srv.HandleFunc("GET /v1/findings/{id}", s.getFinding)
	srv.HandleFunc("GET /v1/rectifications", s.getTasks)
	srv.HandleFunc("GET /v1/rectifications/{id}", s.getTask)
	srv.HandleFunc("POST /v1/rectifications/{id}/{action}", s.postTaskAction)
}

func (s *Service) postFinding(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	if !s.canRunInspection(p) {
		writeErr(w, r, "tour", ErrNotFound)
		return
	}
	var in FindingInput
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	f, applied, err := s.RaiseFinding(r.Context(), p, r.PathValue("id"), in)
	if err != nil {
		writeErr(w, r, "tour", err)
		return
	}
	w.Header().Set("Location", "/v1/findings/"+f.ID)
	_ = httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"finding": f, "rating": applied.Rating, "gradeChange": applied.Change})
}

func (s *Service) getFindings(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, s.canReadInspection, whyRead); !ok {
		return
	}
	village, tour := r.URL.Query().Get("village"), ""
	if village == "" {
		if tour = r.URL.Query().Get("tour"); tour != "" {
			if _, err := uuid.Parse(tour); err != nil {
				httpapi.WriteProblem(w, r, httpapi.BadRequest("tour must be a tour id"))
				return
			}
		}
	}
	list, err := s.FindingsOf(r.Context(), village, tour)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

func (s *Service) getFinding(w http.ResponseWriter, r *http.Request) {
	serveReadable(s, w, r, "finding", s.FindingByID, "id")
}

// getTasks lists rectification tasks: inspection readers any village's
// (?village= optional), village officials only their own village's.
func (s *Service) getTasks(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	village := r.URL.Query().Get("village")
	switch {
	case s.canReadInspection(p):
	case p.Role.IsVillageRole() && p.Town == s.Town && (village == "" || village == p.Village):
		village = p.Village
	default:
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you read only your own village's rectification tasks"))
		return
	}
	list, err := s.Tasks(r.Context(), village, r.URL.Query().Get("status"))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

func (s *Service) getTask(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	t, err := s.TaskByID(r.Context(), r.PathValue("id"))
	if err == nil && !s.canSeeTask(p, t) {
		err = ErrNotFound
	}
	if err != nil {
		writeErr(w, r, "rectification task", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, t)
}

func (s *Service) postTaskAction(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	if action != "submit" && action != "accept" && action != "return" {
		httpapi.WriteProblem(w, r, httpapi.NotFound("no such action: submit, accept or return"))
		return
	}
	if action == "submit" && !s.canRunInspection(p) && !p.Role.IsVillageRole() {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("the village's officials or discipline staff submit a rectification"))
		return
	}
	var in TaskAction
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	t, err := s.ActOnTask(r.Context(), p, r.PathValue("id"), action, in)
	if err != nil {
		writeErr(w, r, "rectification task", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, t)
}
