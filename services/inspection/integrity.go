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
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/personal"
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

// CreateFileRequest opens a cadre's file.
type CreateFileRequest struct {
	Village   string `json:"village"`
	CadreName string `json:"cadreName"`
	CadrePost string `json:"cadrePost"`
	// IDNumber is the cadre's resident ID number: stored hashed and masked.
	IDNumber string `json:"idNumber,omitempty"`
}

// validate trims the cadre's name and checks the fields but the ID number
// (which needs the hash key, see idNumberOf).
func (req *CreateFileRequest) validate() []httpapi.FieldError {
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
	return errs
}

// idNumberOf normalises a resident ID number and returns its keyed hash
// and masked form, or a field error when it is not valid.
func idNumberOf(key []byte, field, raw string) (hash, masked string, errs []httpapi.FieldError) {
	n := personal.NormalizeIDNumber(raw)
	if !personal.ValidIDNumber(n) {
		errs = append(errs, httpapi.FieldError{Field: field, Detail: "is not a valid resident ID number"})
	}
	return personal.HashID(key, n), personal.MaskIDNumber(n), errs
}

// WriteSectionRequest appends a new version of a section. Version, when
// set, must be the section's current version (0 for a section never
// written): a concurrent edit then fails with 409 instead of being
// silently superseded.
type WriteSectionRequest struct {
	Version *int           `json:"version,omitempty"`
	Content SectionContent `json:"content"`
}

// AddRelativeRequest records a relative of the cadre.
type AddRelativeRequest struct {
	Name     string `json:"name"`
	Relation string `json:"relation"`
	IDNumber string `json:"idNumber"`
}

// validate trims the name and relation and checks the fields but the ID
// number (see idNumberOf).
func (req *AddRelativeRequest) validate() []httpapi.FieldError {
	var errs []httpapi.FieldError
	req.Name, req.Relation = strings.TrimSpace(req.Name), strings.TrimSpace(req.Relation)
	if req.Name == "" || tooLong(req.Name, 50) {
		errs = append(errs, httpapi.FieldError{Field: "name", Detail: "is required, at most 50 characters"})
	}
	if req.Relation == "" || tooLong(req.Relation, 20) {
		errs = append(errs, httpapi.FieldError{Field: "relation", Detail: "is required (配偶, 子女, 父母, 兄弟姐妹 …), at most 20 characters"})
	}
	return errs
}
