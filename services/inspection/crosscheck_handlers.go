package inspection

import (
	"encoding/csv"
	"errors"
	"mime"
	"net/http"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

func (s *Service) crossCheckRoutes(srv *httpapi.Server) {
	srv.HandleFunc("POST /v1/deceased-persons", s.addDeceased)
	srv.HandleFunc("POST /v1/deceased-persons/import", s.importDeceased)
	srv.HandleFunc("GET /v1/deceased-persons", s.listDeceased)
	srv.HandleFunc("GET /v1/crosscheck-flags", s.listCrossCheckFlags)
}

func (s *Service) addDeceased(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditDeceasedWrite, true)
	if !ok {
		return
	}
	var req DeceasedPerson
	if !s.hashReady(w, r) || !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	row, errs := s.parseDeceased("", req.IDNumber, req.Name, req.DiedOn)
	if len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	flagged, err := s.saveDeceased(r.Context(), p, "manual", []deceasedRow{row})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"entry": DeceasedPerson{DiedOn: req.DiedOn, IDMasked: row.idMasked, NameMasked: row.nameMasked,
		Source: "manual", RecordedAt: s.now(), RecordedBy: p.IdentityID}, "flagged": flagged})
}

// importDeceased imports a CSV (text/csv, UTF-8, header row naming the
// columns idNumber/身份证号, name/姓名, diedOn/死亡日期): all rows or none.
func (s *Service) importDeceased(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditDeceasedWrite, true)
	if !ok {
		return
	}
	if !s.hashReady(w, r) {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
		w.Header().Set("Accept", "text/csv")
		httpapi.WriteProblem(w, r, httpapi.UnsupportedMediaType(r.Header.Get("Content-Type")).With("expected", "text/csv"))
		return
	}
	cr := csv.NewReader(r.Body)
	cr.FieldsPerRecord = -1
	records, err := cr.ReadAll()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpapi.WriteProblem(w, r, httpapi.BodyTooLarge(mbe.Limit))
			return
		}
		httpapi.WriteProblem(w, r, httpapi.BadRequest("the body is not valid CSV: "+err.Error()))
		return
	}
	list, errs, prob := s.parseDeceasedCSV(records)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	if len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	flagged, err := s.saveDeceased(r.Context(), p, "csv", list)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"imported": len(list), "flagged": flagged})
}

func (s *Service) listDeceased(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditDeceasedRead, false)
	if !ok {
		return
	}
	list, err := s.DeceasedPersons(r.Context(), p, limit(r))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

// listCrossCheckFlags lists flags, newest first (?village= narrows). The
// detail names cadres and relations, so the integrity-file rule applies.
func (s *Service) listCrossCheckFlags(w http.ResponseWriter, r *http.Request) {
	p, ok := s.guardIntegrity(w, r, AuditCrossCheckRead, false)
	if !ok {
		return
	}
	village, prob := villageParam(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	list, err := s.CrossCheckFlags(r.Context(), p, village, limit(r))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}
