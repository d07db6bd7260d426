// Package ratingrules is the schema of a town's rating rules (评分规则):
// how the inspection service turns a village's facts into points and points
// into a grade A to D. The rules are configuration, written by a district
// or a town in a ConfigMap (JSON or YAML) that the operator checks with
// Load before it hands them to the inspection service, which loads them
// with the same Load at start-up. Both sides import this package, so they
// cannot disagree on what is valid.
package ratingrules

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// FieldError is a problem of the rules with the field (a JSON path such as
// "kinds.warning.subkinds.deadline.cap") it concerns. Validate returns
// every problem at once, joined with errors.Join.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// FactKind is what kind of event a fact records; the rules give points by
// kind and subkind.
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
	// subkind is the colour (Order*).
	FactOrder FactKind = "order"
	// FactCrossCheck is a cross-check flag; its subkind is the flag's kind
	// (eventsv1.CrossCheckPayeeRelative, eventsv1.CrossCheckPayeeDeceased).
	FactCrossCheck FactKind = "crosscheck"
)

// Subkinds of complaints, findings, rectifications and orders.
const (
	ComplaintSubstantiated   = "substantiated"        // 属实
	ComplaintPartly          = "partly-substantiated" // 部分属实
	ComplaintUnsubstantiated = "unsubstantiated"      // 不属实 (accepted, investigated, cleared)
	ComplaintAccepted        = "accepted"             // 已受理: recorded, 0 points

	SeverityMinor   = "minor"   // 一般
	SeverityMajor   = "major"   // 较重
	SeveritySerious = "serious" // 严重

	RectificationOverdue = "overdue" // 逾期未整改
	RectificationOnTime  = "on-time" // 按期整改到位

	OrderBlue   = "blue"   // 蓝色督查令
	OrderYellow = "yellow" // 黄色督查令
	OrderRed    = "red"    // 红色督查令
)

// PeriodLength is the length of an assessment period.
type PeriodLength string

const (
	PeriodYear    PeriodLength = "year"
	PeriodQuarter PeriodLength = "quarter"
)

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
// configuration (JSON or YAML, see Load), validated by Validate.
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

// Default are the rules a town uses until it configures its own.
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
//	cross-checks (交叉比对预警):
//	  payee-relative −5, payee-deceased −8
//	supervision orders (督查令), by colour:
//	  blue −5, yellow −10, red −20
//
// Deadline and evidence warnings are capped because a busy village runs many
// processes: their number says more about its workload than its integrity.
// Bonuses reward rectification but can never buy back more than 10 points.
// A payment to a dead person is money that left the village for nobody
// (−8); a payment to a cadre's relative may be lawful, but was decided by
// people who should have stood aside, and must be explained (−5).
func Default() Rules {
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
			FactCrossCheck: {Label: "交叉比对预警", Subkinds: map[string]SubkindRule{
				eventsv1.CrossCheckPayeeRelative: {Label: "补贴收款人为本村干部亲属", Points: -5},
				eventsv1.CrossCheckPayeeDeceased: {Label: "补贴发放给已登记死亡人员", Points: -8},
			}},
			FactOrder: {Label: "三色督查令", Subkinds: map[string]SubkindRule{
				OrderBlue:   {Label: "蓝色", Points: -5},
				OrderYellow: {Label: "黄色", Points: -10},
				OrderRed:    {Label: "红色", Points: -20},
			}},
		},
	}
}

// Load reads rules from JSON or YAML. The document overrides the defaults:
// a top-level field or a grade threshold it sets replaces the default, and
// a kind it lists replaces that kind entirely (list all its subkinds).
// Unknown fields are errors, so that a typo does not silently keep a
// default.
func Load(data []byte) (Rules, error) {
	r := Default()
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
