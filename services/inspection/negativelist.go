package inspection

// The selection check (负面清零): before a cadre is nominated or kept, the
// discipline office checks them against a negative list of indicators
// (Fenghua checks 15, the seed says; Zhejiang's 2020 village elections
// popularised a "十五不能" list). An indicator is hit by a record of the
// candidate's integrity file that matches it, or by the candidate's own
// declaration; any hit rules the candidate out.

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// NegativeList is the list a candidate is checked against.
type NegativeList struct {
	// Version names this edition of the list; every check records it.
	Version string `json:"version"`
	// Illustrative marks a list that is an example, not an official text.
	Illustrative bool        `json:"illustrative,omitempty"`
	Indicators   []Indicator `json:"indicators"`
}

// Indicator is one item of the negative list.
type Indicator struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	// Match lists the integrity-file records that hit the indicator; an
	// indicator without any can only be hit by declaration.
	Match []Match `json:"match,omitempty"`
}

// Match selects records of one section of a file.
type Match struct {
	Section Section `json:"section"`
	// Kinds: the record's kind contains one of these (empty: any kind).
	Kinds []string `json:"kinds,omitempty"`
	// Outcomes: the record's outcome is one of these (empty: any).
	Outcomes []string `json:"outcomes,omitempty"`
	// WithinYears: the record dates from the last n years (0: any time).
	WithinYears int `json:"withinYears,omitempty"`
	// Active: the record's until (a sanction's influence period) has not
	// passed; a record without until is active.
	Active bool `json:"active,omitempty"`
}

// DefaultNegativeList is an ILLUSTRATIVE list of 15 indicators, modelled on
// the "十五不能" lists Zhejiang's counties published for the 2020 village
// (community) elections; a district configures its own official text with
// --negative-list-file.
func DefaultNegativeList() NegativeList {
	m := func(sec Section, kinds ...string) Match { return Match{Section: sec, Kinds: kinds} }
	return NegativeList{Version: "illustrative-2020-1", Illustrative: true, Indicators: []Indicator{
		{ID: "N01", Text: "因故意犯罪受过刑事处罚的", Match: []Match{m(SectionCrimes, "刑事处罚", "有期徒刑", "拘役", "管制", "缓刑")}},
		{ID: "N02", Text: "涉黑涉恶受过处理的，或存在“村霸”问题的", Match: []Match{m(SectionCrimes, "涉黑", "涉恶", "村霸"), m(SectionPenalties, "涉黑", "涉恶", "村霸")}},
		{ID: "N03", Text: "被列为失信被执行人的", Match: []Match{m(SectionPenalties, "失信被执行人")}},
		{ID: "N04", Text: "受到党纪处分或政务处分尚未超过影响期的", Match: []Match{{Section: SectionSanctions, Active: true}}},
		{ID: "N05", Text: "近三年受到行政拘留处罚的", Match: []Match{{Section: SectionPenalties, Kinds: []string{"行政拘留"}, WithinYears: 3}}},
		{ID: "N06", Text: "近三年有赌博、吸毒等违法行为被处理的", Match: []Match{
			{Section: SectionPenalties, Kinds: []string{"赌博", "吸毒"}, WithinYears: 3}, {Section: SectionCrimes, Kinds: []string{"赌博", "吸毒"}, WithinYears: 3}}},
		{ID: "N07", Text: "参加邪教组织，或组织、参与非法宗教活动的", Match: []Match{m(SectionPenalties, "邪教", "非法宗教"), m(SectionCrimes, "邪教")}},
		{ID: "N08", Text: "违反计划生育政策未处理或处理未到期的"},
		{ID: "N09", Text: "组织、煽动群众非正常上访，或长期缠访闹访的", Match: []Match{m(SectionPenalties, "非正常上访", "缠访", "闹访")}},
		{ID: "N10", Text: "侵占集体资产、拖欠集体资金拒不归还的", Match: []Match{
			{Section: SectionPetitions, Kinds: []string{"侵占", "拖欠"}, Outcomes: []string{ComplaintSubstantiated, ComplaintPartly}}}},
		{ID: "N11", Text: "违法用地、违章建房拒不整改的", Match: []Match{m(SectionHomestead, "违法用地", "违章建房", "违建"), m(SectionPenalties, "违法用地", "违章建房", "违建")}},
		{ID: "N12", Text: "近三年信访举报经查属实、本人负有责任的", Match: []Match{
			{Section: SectionPetitions, Outcomes: []string{ComplaintSubstantiated}, WithinYears: 3}}},
		{ID: "N13", Text: "在选举中有拉票贿选等违规行为的", Match: []Match{m(SectionSanctions, "拉票", "贿选"), m(SectionPenalties, "拉票", "贿选"), m(SectionDispositions, "拉票", "贿选")}},
		{ID: "N14", Text: "长期外出、无法正常履行职责的"},
		{ID: "N15", Text: "本人或近亲属经营的企业与本村集体存在利益冲突未消除的", Match: []Match{m(SectionBusinesses, "利益冲突", "承揽本村工程")}},
	}}
}

// LoadNegativeList reads a list from YAML or JSON (unknown fields are
// errors) and validates it.
func LoadNegativeList(data []byte) (NegativeList, error) {
	var l NegativeList
	if err := yaml.UnmarshalStrict(data, &l); err != nil {
		return NegativeList{}, fmt.Errorf("negative list: %w", err)
	}
	return l, l.Validate()
}

// LoadNegativeListFile reads a list from a file.
func LoadNegativeListFile(path string) (NegativeList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return NegativeList{}, fmt.Errorf("negative list: %w", err)
	}
	l, err := LoadNegativeList(data)
	if err != nil {
		return NegativeList{}, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Validate checks the list, naming each field at fault.
func (l NegativeList) Validate() error {
	var errs []error
	if strings.TrimSpace(l.Version) == "" {
		errs = append(errs, fieldErr("version", "is required (every check records it)"))
	}
	if len(l.Indicators) == 0 || len(l.Indicators) > 100 {
		errs = append(errs, fieldErr("indicators", "must list 1 to 100 indicators, got %d", len(l.Indicators)))
	}
	seen := map[string]bool{}
	for i, ind := range l.Indicators {
		p := fmt.Sprintf("indicators[%d]", i)
		if strings.TrimSpace(ind.ID) == "" {
			errs = append(errs, fieldErr(p+".id", "is required"))
		} else if seen[ind.ID] {
			errs = append(errs, fieldErr(p+".id", "%q is used twice", ind.ID))
		}
		seen[ind.ID] = true
		if strings.TrimSpace(ind.Text) == "" {
			errs = append(errs, fieldErr(p+".text", "is required"))
		}
		for j, m := range ind.Match {
			mp := fmt.Sprintf("%s.match[%d]", p, j)
			if !m.Section.Valid() {
				errs = append(errs, fieldErr(mp+".section", "unknown section %q", m.Section))
			}
			if m.WithinYears < 0 {
				errs = append(errs, fieldErr(mp+".withinYears", "must be 0 (any time) or positive"))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("negative list: %w", errors.Join(errs...))
	}
	return nil
}

// Evidence is why an indicator was hit: a record of the file (section,
// version, record) or the candidate's declaration.
type Evidence struct {
	Source  string  `json:"source"` // file or declared
	Section Section `json:"section,omitempty"`
	Version int     `json:"version,omitempty"`
	Record  *Record `json:"record,omitempty"`
}

// Hit is an indicator the candidate hits.
type Hit struct {
	ID       string     `json:"id"`
	Text     string     `json:"text"`
	Evidence []Evidence `json:"evidence"`
}

// Check statuses.
const (
	CheckClear      = "clear"      // no indicator hit, every one answered or matched
	CheckHit        = "hit"        // at least one indicator hit: not eligible
	CheckIncomplete = "incomplete" // no hit, but some indicators unanswered
)

// CheckResult is the outcome of a selection check.
type CheckResult struct {
	Status      string `json:"status"`
	Eligible    bool   `json:"eligible"`
	ListVersion string `json:"listVersion"`
	Hits        []Hit  `json:"hits"`
	// Unanswered lists the indicators the file did not hit and the
	// candidate did not declare on.
	Unanswered []string `json:"unanswered"`
}

func (m Match) matches(r Record, now time.Time) bool {
	if len(m.Kinds) > 0 && !slices.ContainsFunc(m.Kinds, func(k string) bool { return strings.Contains(r.Kind, k) }) {
		return false
	}
	if len(m.Outcomes) > 0 && !slices.Contains(m.Outcomes, r.Outcome) {
		return false
	}
	if m.WithinYears > 0 {
		end, ok := partialDate(r.Date, true)
		if !ok || end.Before(now.AddDate(-m.WithinYears, 0, 0)) {
			return false
		}
	}
	if m.Active && r.Until != "" {
		if until, ok := partialDate(r.Until, true); ok && until.Before(now) {
			return false
		}
	}
	return true
}

// Evaluate checks a candidate's file (latest sections) and declarations
// (indicator id → true when the candidate declares it applies) against the
// list at time now.
func (l NegativeList) Evaluate(sections map[Section]SectionVersion, answers map[string]bool, now time.Time) CheckResult {
	res := CheckResult{ListVersion: l.Version, Hits: []Hit{}, Unanswered: []string{}}
	for _, ind := range l.Indicators {
		var ev []Evidence
		for _, m := range ind.Match {
			sv, ok := sections[m.Section]
			if !ok {
				continue
			}
			for _, r := range sv.Content.Items {
				if m.matches(r, now) {
					r := r
					ev = append(ev, Evidence{Source: "file", Section: m.Section, Version: sv.Version, Record: &r})
				}
			}
		}
		declared, answered := answers[ind.ID]
		if declared {
			ev = append(ev, Evidence{Source: "declared"})
		}
		switch {
		case len(ev) > 0:
			res.Hits = append(res.Hits, Hit{ID: ind.ID, Text: ind.Text, Evidence: ev})
		case !answered:
			res.Unanswered = append(res.Unanswered, ind.ID)
		}
	}
	switch {
	case len(res.Hits) > 0:
		res.Status = CheckHit
	case len(res.Unanswered) > 0:
		res.Status = CheckIncomplete
	default:
		res.Status, res.Eligible = CheckClear, true
	}
	return res
}

func (s *Service) negativeListInUse() NegativeList {
	if s.Integrity.NegativeList != nil {
		return *s.Integrity.NegativeList
	}
	return DefaultNegativeList()
}

// SelectionCheckRequest carries the candidate's declarations: indicator id
// → whether it applies to them (from the signed 承诺书 or interview).
type SelectionCheckRequest struct {
	Answers map[string]bool `json:"answers"`
	Note    string          `json:"note,omitempty"`
}

// validate checks the declarations against the list, by field (sorted).
func (req SelectionCheckRequest) validate(list NegativeList) []httpapi.FieldError {
	var errs []httpapi.FieldError
	for id := range req.Answers {
		if !slices.ContainsFunc(list.Indicators, func(i Indicator) bool { return i.ID == id }) {
			errs = append(errs, httpapi.FieldError{Field: "answers." + id, Detail: "no such indicator in list " + list.Version})
		}
	}
	if tooLong(req.Note, 2000) {
		errs = append(errs, httpapi.FieldError{Field: "note", Detail: "at most 2000 characters"})
	}
	slices.SortFunc(errs, func(a, b httpapi.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return errs
}

// SelectionCheck is a recorded check.
type SelectionCheck struct {
	ID        string          `json:"id"`
	FileID    string          `json:"fileId"`
	CheckedAt time.Time       `json:"checkedAt"`
	CheckedBy string          `json:"checkedBy"`
	Answers   map[string]bool `json:"answers"`
	Note      string          `json:"note,omitempty"`
	CheckResult
}
