package inspection

import (
	"net/http"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

func (s *Service) negativeList(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.guardIntegrity(w, r, "read-negative-list", false); !ok {
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, s.negativeListInUse())
}

func (s *Service) selectionCheck(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditSelectionCheck, true)
	if !ok {
		return
	}
	var req SelectionCheckRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	list := s.negativeListInUse()
	if errs := req.validate(list); len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	if req.Answers == nil {
		req.Answers = map[string]bool{}
	}
	out, err := s.RunSelectionCheck(r.Context(), p, r.PathValue("id"), list, req)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, out)
}

func (s *Service) listSelectionChecks(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditReadChecks, false)
	if !ok {
		return
	}
	list, err := s.SelectionChecks(r.Context(), p, r.PathValue("id"), limit(r))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}
