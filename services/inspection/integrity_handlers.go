package inspection

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

func (s *Service) integrityRoutes(srv *httpapi.Server) {
	srv.HandleFunc("POST /v1/integrity-files", s.createIntegrityFile)
	srv.HandleFunc("GET /v1/integrity-files", s.listIntegrityFiles)
	srv.HandleFunc("GET /v1/integrity-files/{id}", s.readIntegrityFile)
	srv.HandleFunc("PUT /v1/integrity-files/{id}/sections/{section}", s.writeSection)
	srv.HandleFunc("GET /v1/integrity-files/{id}/sections/{section}/history", s.sectionHistory)
	srv.HandleFunc("POST /v1/integrity-files/{id}/relatives", s.addRelative)
	srv.HandleFunc("DELETE /v1/integrity-files/{id}/relatives/{relative}", s.removeRelative)
	srv.HandleFunc("GET /v1/integrity-audit", s.readAudit)
	srv.HandleFunc("GET /v1/negative-list", s.negativeList)
	srv.HandleFunc("POST /v1/integrity-files/{id}/selection-checks", s.selectionCheck)
	srv.HandleFunc("GET /v1/integrity-files/{id}/selection-checks", s.listSelectionChecks)
	s.crossCheckRoutes(srv)
	srv.HandleFunc("GET /v1/notices/{number}/pdf", s.noticePDF)
}

// guardIntegrity answers 401/403 when the caller may not read (or write)
// integrity files, recording a refused attempt in the audit.
func (s *Service) guardIntegrity(w http.ResponseWriter, r *http.Request, action string, write bool) (identity.Principal, bool) {
	p, ok := principal(w, r)
	if !ok {
		return p, false
	}
	if s.canIntegrity(p, write) {
		return p, true
	}
	if err := s.auditRefused(r.Context(), p, action, r.PathValue("id"), r.Method+" "+r.URL.Path); err != nil {
		s.log().Error("integrity audit of a refused attempt failed", "error", err)
	}
	msg := "only the town's discipline office reads integrity files (the district commission too, read-only)"
	if write {
		msg = "only the town's discipline office writes integrity files"
	}
	httpapi.WriteProblem(w, r, httpapi.Forbidden(msg))
	return p, false
}

// hashReady answers 503 when no ID hash key is configured: an ID number
// hashed with an empty key would never match the disclosure service's.
func (s *Service) hashReady(w http.ResponseWriter, r *http.Request) bool {
	if len(s.Integrity.IDHashKey) > 0 {
		return true
	}
	httpapi.WriteStatusProblem(w, r, http.StatusServiceUnavailable, "ID numbers cannot be recorded",
		"the service has no ID hash key: set --id-hash-key / WUXIAO_ID_HASH_KEY to the town's key (the disclosure service's)")
	return false
}

func (s *Service) createIntegrityFile(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditCreate, true)
	if !ok {
		return
	}
	var req CreateFileRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	errs := req.validate()
	var hash, masked string
	if req.IDNumber != "" {
		if !s.hashReady(w, r) {
			return
		}
		var idErrs []httpapi.FieldError
		hash, masked, idErrs = idNumberOf(s.Integrity.IDHashKey, "idNumber", req.IDNumber)
		errs = append(errs, idErrs...)
	}
	unknown, rerr := s.unregistered(r.Context(), s.Pool, "village", req.Village)
	if rerr != nil {
		httpapi.WriteError(w, r, rerr)
		return
	}
	if errs = append(errs, unknown...); len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	f := IntegrityFile{ID: uuid.NewString(), Town: s.Town, Village: req.Village, CadreName: req.CadreName, CadrePost: req.CadrePost,
		CadreIDMasked: masked, CreatedAt: s.now(), CreatedBy: p.IdentityID}
	if err := s.CreateIntegrityFile(r.Context(), p, f, hash); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/integrity-files/"+f.ID)
	_ = httpapi.WriteJSON(w, http.StatusCreated, f)
}

func (s *Service) listIntegrityFiles(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditList, false)
	if !ok {
		return
	}
	village, prob := villageParam(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	list, err := s.IntegrityFiles(r.Context(), p, village, limit(r))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

func (s *Service) readIntegrityFile(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditRead, false)
	if !ok {
		return
	}
	f, err := s.IntegrityFileByID(r.Context(), p, r.PathValue("id"))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	_ = httpapi.WriteJSON(w, http.StatusOK, f)
}

func (s *Service) writeSection(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditWriteSection, true)
	if !ok {
		return
	}
	section := Section(r.PathValue("section"))
	if !section.Valid() {
		httpapi.WriteProblem(w, r, httpapi.NotFound(fmt.Sprintf("no section %q; sections are resume, marital, homestead, businesses, ceremonies, handovers, petitions, dispositions, sanctions, penalties, crimes", section)))
		return
	}
	var req WriteSectionRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	if req.Content.Items == nil {
		req.Content.Items = []Record{}
	}
	if errs := req.Content.Validate(section); len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	out, err := s.WriteSection(r.Context(), p, r.PathValue("id"), section, req)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) sectionHistory(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditReadHistory, false)
	if !ok {
		return
	}
	section := Section(r.PathValue("section"))
	if !section.Valid() {
		httpapi.WriteProblem(w, r, httpapi.NotFound(fmt.Sprintf("no section %q", section)))
		return
	}
	list, err := s.SectionHistory(r.Context(), p, r.PathValue("id"), section)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	_ = httpapi.WriteItems(w, list)
}

func (s *Service) addRelative(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditAddRelative, true)
	if !ok {
		return
	}
	var req AddRelativeRequest
	if !s.hashReady(w, r) || !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	errs := req.validate()
	hash, masked, idErrs := idNumberOf(s.Integrity.IDHashKey, "idNumber", req.IDNumber)
	if errs = append(errs, idErrs...); len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	rel := Relative{ID: uuid.NewString(), Name: req.Name, Relation: req.Relation, IDMasked: masked, RecordedAt: s.now(), RecordedBy: p.IdentityID}
	flagged, err := s.AddRelative(r.Context(), p, r.PathValue("id"), rel, hash)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"relative": rel, "flagged": flagged})
}

func (s *Service) removeRelative(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditRemoveRelative, true)
	if !ok {
		return
	}
	if err := s.RemoveRelative(r.Context(), p, r.PathValue("id"), r.PathValue("relative")); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readAudit lists the integrity audit, newest first; ?file= narrows it to
// one file, ?before= pages on (a seq). Reading the audit is audited too.
func (s *Service) readAudit(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditReadAudit, false)
	if !ok {
		return
	}
	q := r.URL.Query()
	file := q.Get("file")
	if file != "" {
		if _, err := uuid.Parse(file); err != nil {
			httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "file", Detail: "must be a file id (uuid)"}))
			return
		}
	}
	before := int64(1<<63 - 1)
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "before", Detail: "must be a positive sequence number"}))
			return
		}
		before = n
	}
	list, err := s.IntegrityAudit(r.Context(), p, file, before, limit(r))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}
