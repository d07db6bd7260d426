package inspection

// Cadre integrity files (廉情档案): per village cadre, the record the
// discipline commission keeps of their resume, marriage, homestead,
// businesses, family ceremonies, handovers, petitions about them,
// dispositions, sanctions, penalties and crimes, plus their relatives (for
// the cross-checks of crosscheck.go).
//
// Who may see them (the one rule, canIntegrity):
//   - town-discipline of this service's town: read and write;
//   - district-discipline: read only. The district commission supervises
//     the towns' discipline offices and reviews cadre selection, so it must
//     be able to read a file; it does not keep them, so it does not write;
//   - everybody else, the cadre included (even for their own file), town
//     officials and other towns' discipline staff: 403, before any lookup,
//     so that nothing about a file's existence leaks.
//
// Every read and every write, and every refused attempt, leaves a row in
// integrity_audit (append-only, enforced by a trigger), written in the same
// transaction as the read or write, so that a read whose audit row cannot
// be written fails instead of going unrecorded.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// IntegrityConfig configures the integrity files, the selection check and
// the cross-checks.
type IntegrityConfig struct {
	// IDHashKey keys the hash of ID numbers (relatives, deceased persons).
	// It must be the district's shared key (WUXIAO_ID_HASH_KEY), the one
	// the disclosure service hashes payees with, or the cross-checks never
	// match.
	IDHashKey []byte
	// NegativeList is the selection check's list; nil means
	// DefaultNegativeList.
	NegativeList *NegativeList
	// NoticeFont renders PDF notices; nil means PDFs are unavailable (503).
	NoticeFont *NoticeFont
}

// Section is one part of an integrity file.
type Section string

// The sections, as the seed lists them.
const (
	SectionResume       Section = "resume"       // 履历
	SectionMarital      Section = "marital"      // 婚姻状况
	SectionHomestead    Section = "homestead"    // 宅基地
	SectionBusinesses   Section = "businesses"   // 经商办企业
	SectionCeremonies   Section = "ceremonies"   // 操办本人及近亲属婚丧喜庆事宜
	SectionHandovers    Section = "handovers"    // 离任交接
	SectionPetitions    Section = "petitions"    // 本人信访问题调查处理
	SectionDispositions Section = "dispositions" // 第一种形态处置
	SectionSanctions    Section = "sanctions"    // 党纪政务处分
	SectionPenalties    Section = "penalties"    // 行政处罚
	SectionCrimes       Section = "crimes"       // 违法犯罪
)

// SectionTitles names the sections in Chinese, in the file's order.
var SectionTitles = []struct {
	Section Section `json:"section"`
	Title   string  `json:"title"`
}{
	{SectionResume, "履历"}, {SectionMarital, "婚姻状况"}, {SectionHomestead, "宅基地"},
	{SectionBusinesses, "经商办企业"}, {SectionCeremonies, "婚丧喜庆"}, {SectionHandovers, "离任交接"},
	{SectionPetitions, "信访问题调查处理"}, {SectionDispositions, "第一种形态处置"}, {SectionSanctions, "党纪政务处分"},
	{SectionPenalties, "行政处罚"}, {SectionCrimes, "违法犯罪"},
}

// Valid reports whether s is a known section.
func (s Section) Valid() bool {
	for _, t := range SectionTitles {
		if t.Section == s {
			return true
		}
	}
	return false
}

// recordsNeedKind: sections whose records must say what they are (the kind
// of sanction, penalty, crime, disposition): the negative list matches on it.
var recordsNeedKind = []Section{SectionDispositions, SectionSanctions, SectionPenalties, SectionCrimes, SectionPetitions}

// Marital statuses.
var maritalStatuses = []string{"single", "married", "divorced", "widowed"} // 未婚 已婚 离异 丧偶

// SectionContent is one version of a section: a list of records, plus a
// status for the marital section.
type SectionContent struct {
	// Status is the marital status (single, married, divorced, widowed);
	// only the marital section has one.
	Status string   `json:"status,omitempty"`
	Items  []Record `json:"items"`
	Note   string   `json:"note,omitempty"`
}

// Record is one entry of a section: a post held, a plot, a business, a
// wedding, a sanction…
type Record struct {
	// Date is when it happened or began: YYYY, YYYY-MM or YYYY-MM-DD.
	Date string `json:"date,omitempty"`
	// Until is when it ended (a post), or when a sanction's influence period
	// (影响期) ends; same formats.
	Until string `json:"until,omitempty"`
	// Kind says what it is: 严重警告, 刑事处罚, 罚款, 诫勉谈话, 婚礼…
	Kind    string `json:"kind,omitempty"`
	Summary string `json:"summary"`
	// Ref is a document number (处分决定书, 判决书 …).
	Ref string `json:"ref,omitempty"`
	// Outcome: for petitions, substantiated, partly-substantiated,
	// unsubstantiated or pending.
	Outcome string `json:"outcome,omitempty"`
}

var datePattern = regexp.MustCompile(`^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$`)

// recordStart and recordEnd turn a record's partial dates into times: a
// year starts on 1 January and ends on 31 December.
func partialDate(s string, end bool) (time.Time, bool) {
	if !datePattern.MatchString(s) {
		return time.Time{}, false
	}
	y, _ := strconv.Atoi(s[:4])
	m, d := 1, 1
	if len(s) >= 7 {
		m, _ = strconv.Atoi(s[5:7])
	}
	if len(s) == 10 {
		d, _ = strconv.Atoi(s[8:10])
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, Shanghai)
	if t.Day() != d { // 2026-02-30
		return time.Time{}, false
	}
	if end {
		switch len(s) {
		case 4:
			t = t.AddDate(1, 0, 0)
		case 7:
			t = t.AddDate(0, 1, 0)
		default:
			t = t.AddDate(0, 0, 1)
		}
		t = t.Add(-time.Nanosecond)
	}
	return t, true
}

func tooLong(s string, n int) bool { return utf8.RuneCountInString(s) > n }

// Validate checks a section's content, naming each field at fault.
func (c SectionContent) Validate(section Section) []httpapi.FieldError {
	var errs []httpapi.FieldError
	add := func(field, format string, a ...any) {
		errs = append(errs, httpapi.FieldError{Field: field, Detail: fmt.Sprintf(format, a...)})
	}
	if section == SectionMarital {
		if !slices.Contains(maritalStatuses, c.Status) {
			add("content.status", "must be one of %s", strings.Join(maritalStatuses, ", "))
		}
	} else if c.Status != "" {
		add("content.status", "only the marital section has a status")
	}
	if len(c.Items) > 500 {
		add("content.items", "at most 500 records per section, got %d", len(c.Items))
	}
	if tooLong(c.Note, 2000) {
		add("content.note", "at most 2000 characters")
	}
	for i, r := range c.Items {
		f := fmt.Sprintf("content.items[%d]", i)
		if strings.TrimSpace(r.Summary) == "" {
			add(f+".summary", "is required")
		}
		if tooLong(r.Summary, 2000) {
			add(f+".summary", "at most 2000 characters")
		}
		if tooLong(r.Kind, 100) || tooLong(r.Ref, 200) {
			add(f, "kind is at most 100 characters and ref at most 200")
		}
		start, okStart := partialDate(r.Date, false)
		if r.Date != "" && !okStart {
			add(f+".date", "must be YYYY, YYYY-MM or YYYY-MM-DD, got %q", r.Date)
		}
		if r.Until != "" {
			end, ok := partialDate(r.Until, true)
			switch {
			case !ok:
				add(f+".until", "must be YYYY, YYYY-MM or YYYY-MM-DD, got %q", r.Until)
			case okStart && end.Before(start):
				add(f+".until", "is before date")
			}
		}
		if slices.Contains(recordsNeedKind, section) {
			if strings.TrimSpace(r.Kind) == "" {
				add(f+".kind", "is required in section %s", section)
			}
			if r.Date == "" {
				add(f+".date", "is required in section %s", section)
			}
		}
		if section == SectionPetitions && !slices.Contains([]string{"", ComplaintSubstantiated, ComplaintPartly, ComplaintUnsubstantiated, "pending"}, r.Outcome) {
			add(f+".outcome", "must be substantiated, partly-substantiated, unsubstantiated or pending")
		}
	}
	return errs
}

// IntegrityFile is a cadre's file as read: the latest version of each
// section, and the relatives on record.
type IntegrityFile struct {
	ID            string                     `json:"id"`
	Town          string                     `json:"town"`
	Village       string                     `json:"village"`
	CadreName     string                     `json:"cadreName"`
	CadrePost     string                     `json:"cadrePost"`
	CadreIDMasked string                     `json:"cadreIdMasked,omitempty"`
	CreatedAt     time.Time                  `json:"createdAt"`
	CreatedBy     string                     `json:"createdBy"`
	Sections      map[Section]SectionVersion `json:"sections,omitempty"`
	Relatives     []Relative                 `json:"relatives,omitempty"`
}

// SectionVersion is one version of a section.
type SectionVersion struct {
	Section      Section        `json:"section"`
	Version      int            `json:"version"`
	Content      SectionContent `json:"content"`
	RecordedAt   time.Time      `json:"recordedAt"`
	RecordedBy   string         `json:"recordedBy"`
	RecordedRole string         `json:"recordedRole"`
}

// Relative is a cadre's relative on record. The ID number is never stored:
// only its keyed hash (not shown) and its masked form.
type Relative struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Relation   string    `json:"relation"`
	IDMasked   string    `json:"idMasked"`
	RecordedAt time.Time `json:"recordedAt"`
	RecordedBy string    `json:"recordedBy"`
}

// AuditEntry is one row of the integrity audit.
type AuditEntry struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	ActorID    string    `json:"actorId"`
	ActorEmail string    `json:"actorEmail,omitempty"`
	Role       string    `json:"role"`
	ActorTown  string    `json:"actorTown,omitempty"`
	Action     string    `json:"action"`
	FileID     string    `json:"fileId,omitempty"`
	Village    string    `json:"village,omitempty"`
	Sections   []string  `json:"sections"`
	Allowed    bool      `json:"allowed"`
	Detail     string    `json:"detail,omitempty"`
}

// Audit actions.
const (
	AuditCreate          = "create"
	AuditRead            = "read"
	AuditList            = "list"
	AuditWriteSection    = "write-section"
	AuditReadHistory     = "read-history"
	AuditAddRelative     = "add-relative"
	AuditRemoveRelative  = "remove-relative"
	AuditSelectionCheck  = "selection-check"
	AuditReadChecks      = "read-selection-checks"
	AuditReadAudit       = "read-audit"
	AuditDeceasedWrite   = "deceased-write"
	AuditDeceasedRead    = "deceased-read"
	AuditCrossCheckRead  = "crosscheck-read"
	allSectionsAuditMark = "*"
)

// canIntegrity is the access rule of the integrity files (see the package
// comment of this file).
func (s *Service) canIntegrity(p identity.Principal, write bool) bool {
	switch p.Role {
	case identity.RoleTownDiscipline:
		return p.Town == s.Town
	case identity.RoleDistrictDiscipline:
		return !write
	}
	return false
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// audit appends a row to the integrity audit.
func (s *Service) audit(ctx context.Context, q execer, p identity.Principal, action, fileID, village string, sections []string, allowed bool, detail string) error {
	if sections == nil {
		sections = []string{}
	}
	var file any
	if _, err := uuid.Parse(fileID); err == nil {
		file = fileID
	}
	_, err := q.Exec(ctx, `INSERT INTO integrity_audit (at, actor_id, actor_email, role, actor_town, action, file_id, village, sections, allowed, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		s.now(), p.IdentityID, p.Email, string(p.Role), p.Town, action, file, village, sections, allowed, detail)
	return err
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
	fileID := r.PathValue("id")
	if err := s.audit(r.Context(), s.Pool, p, action, fileID, "", nil, false, r.Method+" "+r.URL.Path); err != nil {
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

var errNoFile = httpapi.NotFound("no such integrity file")

// loadIntegrityFile reads a file's header; a file of another town, or an
// id that is not a uuid, is not found.
func (s *Service) loadIntegrityFile(ctx context.Context, q querier, id string, lock bool) (IntegrityFile, error) {
	var f IntegrityFile
	if _, err := uuid.Parse(id); err != nil {
		return f, errNoFile
	}
	sql := `SELECT id::text, town, village, cadre_name, cadre_post, cadre_id_masked, created_at, created_by
		FROM integrity_files WHERE id = $1 AND town = $2`
	if lock {
		sql += " FOR UPDATE"
	}
	err := q.QueryRow(ctx, sql, id, s.Town).Scan(&f.ID, &f.Town, &f.Village, &f.CadreName, &f.CadrePost, &f.CadreIDMasked, &f.CreatedAt, &f.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, errNoFile
	}
	return f, err
}

func scanSectionVersions(rows pgx.Rows) ([]SectionVersion, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SectionVersion, error) {
		var v SectionVersion
		var sec string
		var doc []byte
		if err := r.Scan(&sec, &v.Version, &doc, &v.RecordedAt, &v.RecordedBy, &v.RecordedRole); err != nil {
			return v, err
		}
		v.Section = Section(sec)
		return v, json.Unmarshal(doc, &v.Content)
	})
}

// currentSections returns the latest version of every section of a file.
func currentSections(ctx context.Context, tx pgx.Tx, fileID string) (map[Section]SectionVersion, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (section) section, version, content, recorded_at, recorded_by, recorded_role
		FROM integrity_sections WHERE file_id = $1 ORDER BY section, version DESC`, fileID)
	if err != nil {
		return nil, err
	}
	list, err := scanSectionVersions(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[Section]SectionVersion, len(list))
	for _, v := range list {
		out[v.Section] = v
	}
	return out, nil
}

func relativesOf(ctx context.Context, tx pgx.Tx, fileID string) ([]Relative, error) {
	rows, err := tx.Query(ctx, `SELECT id::text, name, relation, id_masked, recorded_at, recorded_by
		FROM integrity_relatives WHERE file_id = $1 AND removed_at IS NULL ORDER BY recorded_at, id`, fileID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Relative, error) {
		var x Relative
		return x, r.Scan(&x.ID, &x.Name, &x.Relation, &x.IDMasked, &x.RecordedAt, &x.RecordedBy)
	})
}

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

// CreateFileRequest opens a cadre's file.
type CreateFileRequest struct {
	Village   string `json:"village"`
	CadreName string `json:"cadreName"`
	CadrePost string `json:"cadrePost"`
	// IDNumber is the cadre's resident ID number: stored hashed and masked.
	IDNumber string `json:"idNumber,omitempty"`
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
	var errs []httpapi.FieldError
	if !identity.ValidVillage(req.Village) {
		errs = append(errs, httpapi.FieldError{Field: "village", Detail: "must be a 12-digit village code"})
	}
	req.CadreName = strings.TrimSpace(req.CadreName)
	if req.CadreName == "" || tooLong(req.CadreName, 50) {
		errs = append(errs, httpapi.FieldError{Field: "cadreName", Detail: "is required, at most 50 characters"})
	}
	if tooLong(req.CadrePost, 100) {
		errs = append(errs, httpapi.FieldError{Field: "cadrePost", Detail: "at most 100 characters"})
	}
	var hash, masked string
	if req.IDNumber != "" {
		if !s.hashReady(w, r) {
			return
		}
		n := personal.NormalizeIDNumber(req.IDNumber)
		if !personal.ValidIDNumber(n) {
			errs = append(errs, httpapi.FieldError{Field: "idNumber", Detail: "is not a valid resident ID number"})
		}
		hash, masked = personal.HashID(s.Integrity.IDHashKey, n), personal.MaskIDNumber(n)
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
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(r.Context(), `INSERT INTO integrity_files (id, town, village, cadre_name, cadre_post, cadre_id_hash, cadre_id_masked, created_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, f.ID, f.Town, f.Village, f.CadreName, f.CadrePost, hash, masked, f.CreatedAt, f.CreatedBy); err != nil {
			return err
		}
		return s.audit(r.Context(), tx, p, AuditCreate, f.ID, f.Village, nil, true, "")
	})
	if err != nil {
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
	var list []IntegrityFile
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(r.Context(), `SELECT id::text, town, village, cadre_name, cadre_post, cadre_id_masked, created_at, created_by
			FROM integrity_files WHERE town = $1 AND ($2 = '' OR village = $2) ORDER BY village, cadre_name, id LIMIT $3`, s.Town, village, limit(r))
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (IntegrityFile, error) {
			var f IntegrityFile
			return f, row.Scan(&f.ID, &f.Town, &f.Village, &f.CadreName, &f.CadrePost, &f.CadreIDMasked, &f.CreatedAt, &f.CreatedBy)
		})
		if err != nil {
			return err
		}
		return s.audit(r.Context(), tx, p, AuditList, "", village, nil, true, fmt.Sprintf("%d files", len(list)))
	})
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
	var f IntegrityFile
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		var err error
		if f, err = s.loadIntegrityFile(r.Context(), tx, r.PathValue("id"), false); err != nil {
			return err
		}
		if f.Sections, err = currentSections(r.Context(), tx, f.ID); err != nil {
			return err
		}
		if f.Relatives, err = relativesOf(r.Context(), tx, f.ID); err != nil {
			return err
		}
		return s.audit(r.Context(), tx, p, AuditRead, f.ID, f.Village, []string{allSectionsAuditMark}, true, "")
	})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	_ = httpapi.WriteJSON(w, http.StatusOK, f)
}

// WriteSectionRequest appends a new version of a section. Version, when
// set, must be the section's current version (0 for a section never
// written): a concurrent edit then fails with 409 instead of being
// silently superseded.
type WriteSectionRequest struct {
	Version *int           `json:"version,omitempty"`
	Content SectionContent `json:"content"`
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
	doc, err := json.Marshal(req.Content)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var out SectionVersion
	err = store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		// Locking the file serialises the versions of its sections.
		f, err := s.loadIntegrityFile(r.Context(), tx, r.PathValue("id"), true)
		if err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(r.Context(), `SELECT coalesce(max(version), 0) FROM integrity_sections WHERE file_id = $1 AND section = $2`,
			f.ID, string(section)).Scan(&current); err != nil {
			return err
		}
		if req.Version != nil && *req.Version != current {
			return httpapi.Conflict(fmt.Sprintf("section %s is at version %d, not %d: read it again and reapply your change", section, current, *req.Version)).
				With("currentVersion", current)
		}
		out = SectionVersion{Section: section, Version: current + 1, Content: req.Content, RecordedAt: s.now(), RecordedBy: p.IdentityID, RecordedRole: string(p.Role)}
		if _, err := tx.Exec(r.Context(), `INSERT INTO integrity_sections (file_id, section, version, content, recorded_at, recorded_by, recorded_role)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.ID, string(section), out.Version, doc, out.RecordedAt, out.RecordedBy, out.RecordedRole); err != nil {
			return err
		}
		return s.audit(r.Context(), tx, p, AuditWriteSection, f.ID, f.Village, []string{string(section)}, true, fmt.Sprintf("version %d", out.Version))
	})
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
	var list []SectionVersion
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		f, err := s.loadIntegrityFile(r.Context(), tx, r.PathValue("id"), false)
		if err != nil {
			return err
		}
		rows, err := tx.Query(r.Context(), `SELECT section, version, content, recorded_at, recorded_by, recorded_role
			FROM integrity_sections WHERE file_id = $1 AND section = $2 ORDER BY version DESC`, f.ID, string(section))
		if err != nil {
			return err
		}
		if list, err = scanSectionVersions(rows); err != nil {
			return err
		}
		return s.audit(r.Context(), tx, p, AuditReadHistory, f.ID, f.Village, []string{string(section)}, true, "")
	})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	_ = httpapi.WriteItems(w, list)
}

// AddRelativeRequest records a relative of the cadre.
type AddRelativeRequest struct {
	Name     string `json:"name"`
	Relation string `json:"relation"`
	IDNumber string `json:"idNumber"`
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
	var errs []httpapi.FieldError
	req.Name, req.Relation = strings.TrimSpace(req.Name), strings.TrimSpace(req.Relation)
	if req.Name == "" || tooLong(req.Name, 50) {
		errs = append(errs, httpapi.FieldError{Field: "name", Detail: "is required, at most 50 characters"})
	}
	if req.Relation == "" || tooLong(req.Relation, 20) {
		errs = append(errs, httpapi.FieldError{Field: "relation", Detail: "is required (配偶, 子女, 父母, 兄弟姐妹 …), at most 20 characters"})
	}
	n := personal.NormalizeIDNumber(req.IDNumber)
	if !personal.ValidIDNumber(n) {
		errs = append(errs, httpapi.FieldError{Field: "idNumber", Detail: "is not a valid resident ID number"})
	}
	if len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	rel := Relative{ID: uuid.NewString(), Name: req.Name, Relation: req.Relation, IDMasked: personal.MaskIDNumber(n), RecordedAt: s.now(), RecordedBy: p.IdentityID}
	hash := personal.HashID(s.Integrity.IDHashKey, n)
	var flagged int
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		f, err := s.loadIntegrityFile(r.Context(), tx, r.PathValue("id"), true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(r.Context(), `INSERT INTO integrity_relatives (id, file_id, name, relation, id_hash, id_masked, recorded_at, recorded_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, rel.ID, f.ID, rel.Name, rel.Relation, hash, rel.IDMasked, rel.RecordedAt, rel.RecordedBy); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" {
				return httpapi.Conflict("this relative is already on record in the file")
			}
			return err
		}
		if err := s.audit(r.Context(), tx, p, AuditAddRelative, f.ID, f.Village, []string{"relatives"}, true, rel.Relation); err != nil {
			return err
		}
		// Payments already recorded are checked against the new relative.
		flagged, err = s.recheckPayments(r.Context(), tx, hash)
		return err
	})
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
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		f, err := s.loadIntegrityFile(r.Context(), tx, r.PathValue("id"), true)
		if err != nil {
			return err
		}
		if _, err := uuid.Parse(r.PathValue("relative")); err != nil {
			return httpapi.NotFound("no such relative")
		}
		// Removal stamps the row: the record of who was once a relative stays.
		tag, err := tx.Exec(r.Context(), `UPDATE integrity_relatives SET removed_at = $1, removed_by = $2
			WHERE id = $3 AND file_id = $4 AND removed_at IS NULL`, s.now(), p.IdentityID, r.PathValue("relative"), f.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return httpapi.NotFound("no such relative")
		}
		return s.audit(r.Context(), tx, p, AuditRemoveRelative, f.ID, f.Village, []string{"relatives"}, true, r.PathValue("relative"))
	})
	if err != nil {
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
	var list []AuditEntry
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		// Only entries about this town's files, or made by this town's staff
		// and the district's, are this town's audit.
		rows, err := tx.Query(r.Context(), `SELECT a.seq, a.at, a.actor_id, a.actor_email, a.role, a.actor_town, a.action, coalesce(a.file_id::text, ''),
				a.village, a.sections, a.allowed, a.detail
			FROM integrity_audit a LEFT JOIN integrity_files f ON f.id = a.file_id
			WHERE a.seq < $1 AND ($2 = '' OR a.file_id::text = $2) AND (f.town = $3 OR (f.id IS NULL AND a.actor_town IN ($3, '')) OR a.actor_town = $3)
			ORDER BY a.seq DESC LIMIT $4`, before, file, s.Town, limit(r))
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEntry, error) {
			var e AuditEntry
			return e, row.Scan(&e.Seq, &e.At, &e.ActorID, &e.ActorEmail, &e.Role, &e.ActorTown, &e.Action, &e.FileID, &e.Village, &e.Sections, &e.Allowed, &e.Detail)
		})
		if err != nil {
			return err
		}
		return s.audit(r.Context(), tx, p, AuditReadAudit, file, "", nil, true, "")
	})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}
