// The rating (the package is described in doc.go) is pure: callers load
// the facts (events the service has consumed or recorded), call Rate, Diff
// and the issuing functions, and persist what they return. Nothing reads a
// clock or a database.

package inspection

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// Shanghai is the time zone in which periods, days and deadlines are counted.
var Shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600) // no tzdata: China has no DST
	}
	return loc
}()

// FieldError is a validation problem with the field (a JSON path such as
// "kinds.warning.subkinds.deadline.cap") it concerns. Validation functions
// return every problem at once, joined with errors.Join.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// FactKind is what kind of event a fact records.
type FactKind string

const (
	// FactWarning is a violation warning (违规预警) raised by the workflow
	// service; its subkind is the control's rule (wuxiaov1.ControlType).
	FactWarning FactKind = "warning"
	// FactComplaint is a complaint (码上举报) the complaint service accepted
	// and investigated; its subkind is the outcome (Complaint*).
	FactComplaint FactKind = "complaint"
	// FactFinding is a finding of an inspection tour (巡察); its subkind is
	// the severity (Severity*).
	FactFinding FactKind = "finding"
	// FactRectification is the outcome of a rectification (of a finding or
	// a notice) at its deadline; its subkind is Rectification*.
	FactRectification FactKind = "rectification"
	// FactOrder is a three-colour supervision order (三色督查令); its
	// subkind is the colour (Colour).
	FactOrder FactKind = "order"
)

// Subkinds of complaints, findings and rectifications.
const (
	ComplaintSubstantiated   = "substantiated"        // 属实
	ComplaintPartly          = "partly-substantiated" // 部分属实
	ComplaintUnsubstantiated = "unsubstantiated"      // 不属实 (accepted, investigated, cleared)

	SeverityMinor   = "minor"   // 一般
	SeverityMajor   = "major"   // 较重
	SeveritySerious = "serious" // 严重

	RectificationOverdue = "overdue" // 逾期未整改
	RectificationOnTime  = "on-time" // 按期整改到位
)

// Fact is one event that counts in a village's rating.
type Fact struct {
	// ID is the id of the event the fact comes from (the CloudEvents id, or
	// the id of the record this service made). Facts with the same id are
	// the same fact: redelivered events count once.
	ID      string    `json:"id"`
	Village string    `json:"village"`
	Kind    FactKind  `json:"kind"`
	Subkind string    `json:"subkind,omitempty"`
	At      time.Time `json:"at"`
	// Points the rules give this fact, before caps. Computed by Rate;
	// ignored on input.
	Points int `json:"points"`
	// Ref is what the fact is about: a process tracking number, a complaint
	// number, a finding id, an order number.
	Ref  string `json:"ref,omitempty"`
	Note string `json:"note,omitempty"`
}

// WarningFact turns a workflow violation warning into a fact. eventID is the
// CloudEvents id and village the event's village (its key).
func WarningFact(eventID, village string, w eventsv1.WarningRaised) Fact {
	note := w.Message
	if w.ItemName != "" {
		note = w.ItemName + "：" + w.Message
	}
	return Fact{ID: eventID, Village: village, Kind: FactWarning, Subkind: w.Rule, At: w.RaisedAt, Ref: w.TrackingNumber, Note: note}
}

// compareFacts orders facts chronologically, then by every other field, so
// that sorting is a total order and the result never depends on input order.
func compareFacts(a, b Fact) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return cmp.Or(
		strings.Compare(a.ID, b.ID),
		strings.Compare(string(a.Kind), string(b.Kind)),
		strings.Compare(a.Subkind, b.Subkind),
		strings.Compare(a.Village, b.Village),
		strings.Compare(a.Ref, b.Ref),
		strings.Compare(a.Note, b.Note),
	)
}

// PeriodLength is the length of an assessment period.
type PeriodLength string

const (
	PeriodYear    PeriodLength = "year"
	PeriodQuarter PeriodLength = "quarter"
)

// Period is an assessment period: a calendar year (Quarter 0) or one of its
// quarters (1–4), in Shanghai time.
type Period struct {
	Year    int `json:"year"`
	Quarter int `json:"quarter,omitempty"`
}

// Start is the first instant of the period.
func (p Period) Start() time.Time {
	m := time.January
	if p.Quarter > 0 {
		m = time.Month(3*(p.Quarter-1) + 1)
	}
	return time.Date(p.Year, m, 1, 0, 0, 0, 0, Shanghai)
}

// End is the first instant after the period.
func (p Period) End() time.Time {
	if p.Quarter > 0 {
		return p.Start().AddDate(0, 3, 0)
	}
	return p.Start().AddDate(1, 0, 0)
}

// Contains reports whether t falls within the period.
func (p Period) Contains(t time.Time) bool {
	return !t.Before(p.Start()) && t.Before(p.End())
}

// String is "2026" or "2026Q1".
func (p Period) String() string {
	if p.Quarter > 0 {
		return fmt.Sprintf("%dQ%d", p.Year, p.Quarter)
	}
	return fmt.Sprintf("%d", p.Year)
}

// Label is the period as written in documents: "2026年度", "2026年第一季度".
func (p Period) Label() string {
	if p.Quarter > 0 {
		return fmt.Sprintf("%d年第%s季度", p.Year, chineseDigits[p.Quarter])
	}
	return fmt.Sprintf("%d年度", p.Year)
}

// Validate checks the year and quarter.
func (p Period) Validate() error {
	var errs []error
	if p.Year < 2000 || p.Year > 2999 {
		errs = append(errs, fieldErr("period.year", "must be a year between 2000 and 2999, got %d", p.Year))
	}
	if p.Quarter < 0 || p.Quarter > 4 {
		errs = append(errs, fieldErr("period.quarter", "must be 0 (whole year) or 1 to 4, got %d", p.Quarter))
	}
	return errors.Join(errs...)
}

// Grade of a village: A is best, D worst.
type Grade string

const (
	GradeA Grade = "A"
	GradeB Grade = "B"
	GradeC Grade = "C"
	GradeD Grade = "D"
)

func (g Grade) rank() int {
	switch g {
	case GradeA:
		return 0
	case GradeB:
		return 1
	case GradeC:
		return 2
	case GradeD:
		return 3
	}
	return -1
}

// WorseThan reports whether g is a lower grade than h.
func (g Grade) WorseThan(h Grade) bool { return g.rank() > h.rank() }

// GradeThresholds are the lowest points of grades A, B and C; below C is D.
type GradeThresholds struct {
	A int `json:"a"`
	B int `json:"b"`
	C int `json:"c"`
}

// Rules turn facts into points and points into grades. They are
// configuration (JSON or YAML, see LoadRules), validated by Validate.
type Rules struct {
	// Start is the points every village has at the start of a period.
	Start int `json:"start"`
	// Period is the length of an assessment period: year or quarter.
	Period PeriodLength `json:"period"`
	// Grades are the thresholds of the grades.
	Grades GradeThresholds `json:"grades"`
	// Kinds give the points of each kind of fact. A fact of a kind (or
	// subkind) not listed here counts 0 and is marked unrated.
	Kinds map[FactKind]KindRule `json:"kinds"`
}

// KindRule gives the points of one kind of fact.
type KindRule struct {
	// Label names the kind in documents, e.g. 违规预警.
	Label string `json:"label"`
	// Points of every fact of the kind, for kinds without subkinds:
	// negative for a deduction, positive for a bonus.
	Points int `json:"points,omitempty"`
	// Cap is the most points (in absolute value) all facts of the kind
	// together may move a village's score in one period; 0 means no cap.
	Cap int `json:"cap,omitempty"`
	// Subkinds give the points by subkind; a fact whose subkind is not
	// listed counts 0 and is marked unrated.
	Subkinds map[string]SubkindRule `json:"subkinds,omitempty"`
}

// SubkindRule gives the points of one subkind of fact.
type SubkindRule struct {
	// Label names the subkind in documents, e.g. 利益冲突.
	Label string `json:"label"`
	// Points of each fact: negative for a deduction, positive for a bonus.
	Points int `json:"points"`
	// Cap is the most points (in absolute value) all facts of the subkind
	// together may move a village's score in one period; 0 means no cap.
	Cap int `json:"cap,omitempty"`
}

// DefaultRules are the rules a town uses until it configures its own.
//
// Every village starts a calendar year with 100 points; A ≥ 90, B ≥ 80,
// C ≥ 70, D below 70. Deductions weigh how much a fact says about the
// abuse of power rather than about paperwork:
//
//	violation warnings (违规预警), by the control's rule:
//	  conflict-of-interest  利益冲突未回避    −10
//	  amount-threshold      超额未履行审批    −8
//	  posting-duration      公示时间不足      −5
//	  order                 未按流程顺序办理  −3
//	  deadline              办理超期          −2, at most −20 a period
//	  evidence-required     缺少必要材料      −2, at most −10 a period
//	complaints (信访举报), by outcome:
//	  substantiated         属实              −5
//	  partly-substantiated  部分属实          −3
//	  unsubstantiated       不属实            0
//	  accepted              已受理            0 (on record, proves nothing yet)
//	inspection findings (巡察发现问题), by severity:
//	  minor −3, major −8, serious −15
//	rectification (整改):
//	  overdue               逾期未整改        −5
//	  on-time               按期整改到位      +2, at most +10 a period
//	cross-checks (交叉比对预警), see crossCheckKindRule:
//	  payee-relative −5, payee-deceased −8
//	supervision orders (督查令), by colour:
//	  blue −5, yellow −10, red −20
//
// Deadline and evidence warnings are capped because a busy village runs many
// processes: their number says more about its workload than its integrity.
// Bonuses reward rectification but can never buy back more than 10 points.
func DefaultRules() Rules {
	return Rules{
		Start:  100,
		Period: PeriodYear,
		Grades: GradeThresholds{A: 90, B: 80, C: 70},
		Kinds: map[FactKind]KindRule{
			FactWarning: {Label: "违规预警", Subkinds: map[string]SubkindRule{
				string(wuxiaov1.ControlConflictOfInterest): {Label: "利益冲突未回避", Points: -10},
				string(wuxiaov1.ControlAmountThreshold):    {Label: "超额未履行审批", Points: -8},
				string(wuxiaov1.ControlPostingDuration):    {Label: "公示时间不足", Points: -5},
				string(wuxiaov1.ControlOrder):              {Label: "未按流程顺序办理", Points: -3},
				string(wuxiaov1.ControlDeadline):           {Label: "办理超期", Points: -2, Cap: 20},
				string(wuxiaov1.ControlEvidenceRequired):   {Label: "缺少必要材料", Points: -2, Cap: 10},
			}},
			FactComplaint: {Label: "信访举报", Subkinds: map[string]SubkindRule{
				ComplaintSubstantiated:   {Label: "经查属实", Points: -5},
				ComplaintPartly:          {Label: "经查部分属实", Points: -3},
				ComplaintUnsubstantiated: {Label: "经查不属实", Points: 0},
				ComplaintAccepted:        {Label: "已受理", Points: 0},
			}},
			FactFinding: {Label: "巡察发现问题", Subkinds: map[string]SubkindRule{
				SeverityMinor:   {Label: "一般", Points: -3},
				SeveritySerious: {Label: "严重", Points: -15},
				SeverityMajor:   {Label: "较重", Points: -8},
			}},
			FactRectification: {Label: "问题整改", Subkinds: map[string]SubkindRule{
				RectificationOverdue: {Label: "逾期未整改", Points: -5},
				RectificationOnTime:  {Label: "按期整改到位", Points: 2, Cap: 10},
			}},
			FactCrossCheck: crossCheckKindRule(), // crosscheck.go
			FactOrder: {Label: "三色督查令", Subkinds: map[string]SubkindRule{
				string(Blue):   {Label: "蓝色", Points: -5},
				string(Yellow): {Label: "黄色", Points: -10},
				string(Red):    {Label: "红色", Points: -20},
			}},
		},
	}
}

// LoadRules reads rules from JSON or YAML. The document overrides the
// defaults: a top-level field or a grade threshold it sets replaces the
// default, and a kind it lists replaces that kind entirely (list all its
// subkinds). Unknown fields are errors, so that a typo does not silently
// keep a default.
func LoadRules(data []byte) (Rules, error) {
	r := DefaultRules()
	if err := yaml.UnmarshalStrict(data, &r); err != nil {
		return Rules{}, fmt.Errorf("rules: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Rules{}, err
	}
	return r, nil
}

// MaxRulePoints bounds the points of one fact (and a period's start is at
// most 1000 times that), so that no number of facts can overflow a score:
// points near the int limits wrapped a score round to the other end.
const MaxRulePoints = 1000

// Validate checks the rules and returns every problem, each naming its field.
func (r Rules) Validate() error {
	var errs []error
	if r.Start <= 0 || r.Start > MaxRulePoints*1000 {
		errs = append(errs, fieldErr("start", "must be positive and at most %d, got %d", MaxRulePoints*1000, r.Start))
	}
	if r.Period != PeriodYear && r.Period != PeriodQuarter {
		errs = append(errs, fieldErr("period", "must be %q or %q, got %q", PeriodYear, PeriodQuarter, r.Period))
	}
	g := r.Grades
	if g.A > r.Start {
		errs = append(errs, fieldErr("grades.a", "must be at most start (%d): a village without events is graded A, got %d", r.Start, g.A))
	}
	if g.B >= g.A {
		errs = append(errs, fieldErr("grades.b", "must be below grades.a (%d), got %d", g.A, g.B))
	}
	if g.C >= g.B {
		errs = append(errs, fieldErr("grades.c", "must be below grades.b (%d), got %d", g.B, g.C))
	}
	for _, kind := range slices.Sorted(maps.Keys(r.Kinds)) {
		k := r.Kinds[kind]
		path := "kinds." + string(kind)
		if kind == "" {
			errs = append(errs, fieldErr("kinds", "a kind has an empty name"))
		}
		if strings.TrimSpace(k.Label) == "" {
			errs = append(errs, fieldErr(path+".label", "is required (it names the kind in notices)"))
		}
		if k.Cap < 0 {
			errs = append(errs, fieldErr(path+".cap", "is a number of points in absolute value and must be 0 (no cap) or positive, got %d", k.Cap))
		}
		if k.Points < -MaxRulePoints || k.Points > MaxRulePoints {
			errs = append(errs, fieldErr(path+".points", "must be between -%d and %d, got %d", MaxRulePoints, MaxRulePoints, k.Points))
		}
		if len(k.Subkinds) > 0 && k.Points != 0 {
			errs = append(errs, fieldErr(path+".points", "must not be set on a kind with subkinds: give each subkind its points"))
		}
		if len(k.Subkinds) == 0 && k.Cap > 0 && k.Points == 0 {
			errs = append(errs, fieldErr(path+".cap", "caps a kind worth 0 points"))
		}
		var minus, plus bool
		for _, sub := range slices.Sorted(maps.Keys(k.Subkinds)) {
			s := k.Subkinds[sub]
			sp := path + ".subkinds." + sub
			if sub == "" {
				errs = append(errs, fieldErr(path+".subkinds", "a subkind has an empty name"))
			}
			if strings.TrimSpace(s.Label) == "" {
				errs = append(errs, fieldErr(sp+".label", "is required (it names the subkind in notices)"))
			}
			if s.Points < -MaxRulePoints || s.Points > MaxRulePoints {
				errs = append(errs, fieldErr(sp+".points", "must be between -%d and %d, got %d", MaxRulePoints, MaxRulePoints, s.Points))
			}
			if s.Cap < 0 {
				errs = append(errs, fieldErr(sp+".cap", "is a number of points in absolute value and must be 0 (no cap) or positive, got %d", s.Cap))
			}
			if s.Cap > 0 && s.Points == 0 {
				errs = append(errs, fieldErr(sp+".cap", "caps a subkind worth 0 points"))
			}
			minus = minus || s.Points < 0
			plus = plus || s.Points > 0
		}
		if k.Cap > 0 && minus && plus {
			errs = append(errs, fieldErr(path+".cap", "the kind has both deductions and bonuses: cap its subkinds one by one"))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("rules: %w", errors.Join(errs...))
	}
	return nil
}

// PeriodOf is the assessment period, as the rules define it, containing t.
func (r Rules) PeriodOf(t time.Time) Period {
	t = t.In(Shanghai)
	if r.Period == PeriodQuarter {
		return Period{Year: t.Year(), Quarter: (int(t.Month())-1)/3 + 1}
	}
	return Period{Year: t.Year()}
}

// GradeOf is the grade of a score.
func (r Rules) GradeOf(points int) Grade {
	switch {
	case points >= r.Grades.A:
		return GradeA
	case points >= r.Grades.B:
		return GradeB
	case points >= r.Grades.C:
		return GradeC
	}
	return GradeD
}

// rule is what the rules say about one fact.
type rule struct {
	label           string
	points          int
	subCap, kindCap int
	rated           bool
}

func (r Rules) ruleFor(f Fact) rule {
	k, ok := r.Kinds[f.Kind]
	if !ok {
		return rule{label: string(f.Kind)}
	}
	if len(k.Subkinds) == 0 {
		return rule{label: k.Label, points: k.Points, kindCap: k.Cap, rated: true}
	}
	s, ok := k.Subkinds[f.Subkind]
	if !ok {
		return rule{label: k.Label + "（" + f.Subkind + "）"}
	}
	return rule{label: k.Label + "（" + s.Label + "）", points: s.Points, subCap: s.Cap, kindCap: k.Cap, rated: true}
}

// Contribution is what one fact did to a rating.
type Contribution struct {
	// Fact, with Points set to what the rules give it before caps.
	Fact Fact `json:"fact"`
	// Label names the fact's kind and subkind, e.g. 违规预警（利益冲突未回避）.
	Label string `json:"label"`
	// Points applied to the score, after caps.
	Points int `json:"points"`
	// Capped: a cap of the kind or subkind reduced the points (maybe to 0).
	Capped bool `json:"capped,omitempty"`
	// Unrated: the rules have no points for this kind or subkind.
	Unrated bool `json:"unrated,omitempty"`
}

// Rating is a village's score and grade for one period.
type Rating struct {
	Village string `json:"village"`
	Period  Period `json:"period"`
	Start   int    `json:"start"`
	Points  int    `json:"points"`
	Grade   Grade  `json:"grade"`
	// AsOf is the time of the latest fact counted, or the period's start.
	AsOf time.Time `json:"asOf"`
	// Contributions of the period's facts, in chronological order. Points
	// is Start plus the sum of their points.
	Contributions []Contribution `json:"contributions"`
}

// Initial is the rating of a village before any fact of the period.
func (r Rules) Initial(village string, period Period) Rating {
	return Rating{Village: village, Period: period, Start: r.Start, Points: r.Start, Grade: r.GradeOf(r.Start), AsOf: period.Start(), Contributions: []Contribution{}}
}

// Rate computes a village's rating for a period from facts. Facts of other
// villages or outside the period are ignored; facts with the same id count
// once (if their copies differ, the earliest one counts). The result does
// not depend on the order of facts. Caps apply in chronological order: once
// a kind has reached its cap, its later facts count 0.
func Rate(rules Rules, village string, period Period, facts []Fact) Rating {
	return newRater(rules).rate(village, period, facts, nil)
}

// RateAll rates, for one period, every village listed and every village
// that has facts.
func RateAll(rules Rules, period Period, villages []string, facts []Fact) map[string]Rating {
	byVillage := make(map[string][]int32, len(villages))
	for _, v := range villages {
		byVillage[v] = nil
	}
	for i, f := range facts {
		byVillage[f.Village] = append(byVillage[f.Village], int32(i))
	}
	ra := newRater(rules)
	out := make(map[string]Rating, len(byVillage))
	for v, idx := range byVillage {
		if idx == nil {
			idx = []int32{}
		}
		out[v] = ra.rate(v, period, facts, idx)
	}
	return out
}

type ruleKey struct {
	kind FactKind
	sub  string
}

// rater rates with one set of rules. It remembers what the rules say about
// each kind and subkind, so that labels are built once, not once per fact.
type rater struct {
	rules Rules
	cache map[ruleKey]rule
}

func newRater(rules Rules) *rater { return &rater{rules: rules, cache: map[ruleKey]rule{}} }

func (ra *rater) ruleFor(f Fact) rule {
	k := ruleKey{f.Kind, f.Subkind}
	ru, ok := ra.cache[k]
	if !ok {
		ru = ra.rules.ruleFor(f)
		ra.cache[k] = ru
	}
	return ru
}

// rate rates a village from the facts at the indexes given (all facts when
// idx is nil). It sorts indexes rather than facts: cheaper to move.
func (ra *rater) rate(village string, period Period, facts []Fact, idx []int32) Rating {
	start, end := period.Start(), period.End()
	n := len(facts)
	if idx != nil {
		n = len(idx)
	}
	picked := make([]int32, 0, n)
	byID := make(map[string]int, n)
	for j := range n {
		i := int32(j)
		if idx != nil {
			i = idx[j]
		}
		f := &facts[i]
		if f.Village != village || f.At.Before(start) || !f.At.Before(end) {
			continue
		}
		if f.ID != "" {
			if k, dup := byID[f.ID]; dup {
				if compareFacts(*f, facts[picked[k]]) < 0 {
					picked[k] = i
				}
				continue
			}
			byID[f.ID] = len(picked)
		}
		picked = append(picked, i)
	}
	slices.SortFunc(picked, func(a, b int32) int { return compareFacts(facts[a], facts[b]) })

	kindUsed := map[FactKind]int{}
	subUsed := map[ruleKey]int{}
	rating := ra.rules.Initial(village, period)
	rating.Contributions = make([]Contribution, len(picked))
	for j, i := range picked {
		f := facts[i]
		ru := ra.ruleFor(f)
		f.Points = ru.points
		mag := abs(ru.points)
		if ru.subCap > 0 {
			k := ruleKey{f.Kind, f.Subkind}
			mag = min(mag, ru.subCap-subUsed[k])
			subUsed[k] += mag
		}
		if ru.kindCap > 0 {
			mag = min(mag, ru.kindCap-kindUsed[f.Kind])
			kindUsed[f.Kind] += mag
		}
		points := sign(ru.points) * mag
		rating.Contributions[j] = Contribution{Fact: f, Label: ru.label, Points: points, Capped: points != ru.points, Unrated: !ru.rated}
		rating.Points += points
		rating.AsOf = f.At
	}
	rating.Grade = ra.rules.GradeOf(rating.Points)
	return rating
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// GradeChange explains why a village's grade changed.
type GradeChange struct {
	Village    string `json:"village"`
	Period     Period `json:"period"`
	From       Grade  `json:"from"`
	To         Grade  `json:"to"`
	FromPoints int    `json:"fromPoints"`
	ToPoints   int    `json:"toPoints"`
	// At is the time of the latest fact that moved the grade (or of the
	// new rating, when none did, e.g. because the rules changed).
	At time.Time `json:"at"`
	// Because lists the facts added since the previous rating that moved the
	// grade in the direction it went: for a fall, the deductions, largest
	// first; for a rise, the bonuses, largest first.
	Because []Contribution `json:"because"`
}

// Worse reports whether the grade fell.
func (c *GradeChange) Worse() bool { return c.To.WorseThan(c.From) }

// Diff compares two ratings of a village and explains a change of grade; it
// is nil when the grade is the same. An empty previous rating (no rating
// yet) stands for a village without facts: grade A at the start points.
func Diff(previous, next Rating) *GradeChange {
	from, fromPoints := previous.Grade, previous.Points
	if from == "" {
		from, fromPoints = GradeA, next.Start
	}
	if from == next.Grade {
		return nil
	}
	ch := &GradeChange{Village: next.Village, Period: next.Period, From: from, To: next.Grade,
		FromPoints: fromPoints, ToPoints: next.Points, At: next.AsOf, Because: []Contribution{}}
	seen := make(map[string]bool, len(previous.Contributions))
	if previous.Period == next.Period {
		for _, c := range previous.Contributions {
			seen[c.Fact.ID] = true
		}
	}
	worse := ch.Worse()
	for _, c := range next.Contributions {
		if c.Fact.ID != "" && seen[c.Fact.ID] {
			continue
		}
		if (worse && c.Points < 0) || (!worse && c.Points > 0) {
			ch.Because = append(ch.Because, c)
		}
	}
	slices.SortFunc(ch.Because, func(a, b Contribution) int {
		if worse {
			return cmp.Or(cmp.Compare(a.Points, b.Points), compareFacts(a.Fact, b.Fact))
		}
		return cmp.Or(cmp.Compare(b.Points, a.Points), compareFacts(a.Fact, b.Fact))
	})
	if len(ch.Because) > 0 {
		ch.At = ch.Because[0].Fact.At
		for _, c := range ch.Because {
			if c.Fact.At.After(ch.At) {
				ch.At = c.Fact.At
			}
		}
	}
	return ch
}
