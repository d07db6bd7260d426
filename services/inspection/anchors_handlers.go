package inspection

import (
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// auditVerify answers GET /v1/audit/verify[?instance=<id>]: discipline
// inspectors of the town (and the district's) verify one instance's trail,
// or every trail of the town.
func (s *Service) auditVerify(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	if !p.IsDiscipline() || !p.InTown(s.Town) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("only discipline inspectors verify the audit trails"))
		return
	}
	id := r.URL.Query().Get("instance")
	if id == "" {
		sweep, err := s.VerifyAllAudits(r.Context())
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		_ = httpapi.WriteJSON(w, http.StatusOK, sweep)
		return
	}
	if _, err := uuid.Parse(id); err != nil {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "instance", Detail: "must be a process instance id (uuid)"}))
		return
	}
	report, err := s.VerifyAudit(r.Context(), id)
	if errors.Is(err, ErrNoAuditInstance) {
		httpapi.WriteProblem(w, r, httpapi.NotFound("no audit trail for instance "+id))
		return
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, report)
}
