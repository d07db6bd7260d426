// The rating (the package is described in doc.go) is pure: callers load
// the facts (events the service has consumed or recorded), call Rate, Diff
// and the issuing functions, and persist what they return. Nothing reads a
// clock or a database.

package inspection

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/ratingrules"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Shanghai is the time zone in which periods, days and deadlines are
// counted: the services' one (tz).
var Shanghai = tz.Shanghai

// FieldError is a validation problem with the field (a JSON path such as
// "kinds.warning.subkinds.deadline.cap") it concerns: the services' one
// (domainerr). Validation functions return every problem at once, joined
// with errors.Join.
type FieldError = domainerr.FieldError

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// FactKind is what kind of event a fact records (ratingrules.FactKind: the
// rules give points by kind and subkind).
type FactKind = ratingrules.FactKind

// The kinds of facts and their subkinds, as the rating rules name them.
const (
	FactWarning       = ratingrules.FactWarning
	FactComplaint     = ratingrules.FactComplaint
	FactFinding       = ratingrules.FactFinding
	FactRectification = ratingrules.FactRectification
	FactOrder         = ratingrules.FactOrder

	ComplaintSubstantiated   = ratingrules.ComplaintSubstantiated
	ComplaintPartly          = ratingrules.ComplaintPartly
	ComplaintUnsubstantiated = ratingrules.ComplaintUnsubstantiated

	SeverityMinor   = ratingrules.SeverityMinor
	SeverityMajor   = ratingrules.SeverityMajor
	SeveritySerious = ratingrules.SeveritySerious

	RectificationOverdue = ratingrules.RectificationOverdue
	RectificationOnTime  = ratingrules.RectificationOnTime
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
type PeriodLength = ratingrules.PeriodLength

const (
	PeriodYear    = ratingrules.PeriodYear
	PeriodQuarter = ratingrules.PeriodQuarter
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
type Grade = ratingrules.Grade

const (
	GradeA = ratingrules.GradeA
	GradeB = ratingrules.GradeB
	GradeC = ratingrules.GradeC
	GradeD = ratingrules.GradeD
)

// The schema of the rules lives in api/ratingrules, which the operator
// uses to check a town's rules before the service loads them.
type (
	GradeThresholds = ratingrules.GradeThresholds
	KindRule        = ratingrules.KindRule
	SubkindRule     = ratingrules.SubkindRule
)

// Rules are the rating rules (ratingrules.Rules) with what rating does
// with them: periods, initial ratings, the rule of each fact.
type Rules struct{ ratingrules.Rules }

// DefaultRules are the rules a town uses until it configures its own
// (ratingrules.Default).
func DefaultRules() Rules { return Rules{ratingrules.Default()} }

// LoadRules reads rules from JSON or YAML over the defaults
// (ratingrules.Load).
func LoadRules(data []byte) (Rules, error) {
	r, err := ratingrules.Load(data)
	return Rules{r}, err
}

// PeriodOf is the assessment period, as the rules define it, containing t.
func (r Rules) PeriodOf(t time.Time) Period {
	t = t.In(Shanghai)
	if r.Period == PeriodQuarter {
		return Period{Year: t.Year(), Quarter: (int(t.Month())-1)/3 + 1}
	}
	return Period{Year: t.Year()}
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
