package inspection

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

const (
	vil   = "330213100201"
	other = "330213100202"
)

// day is 10:00 Shanghai on a day of 2026.
func day(month time.Month, d int) time.Time {
	return time.Date(2026, month, d, 10, 0, 0, 0, Shanghai)
}

var y2026 = Period{Year: 2026}

// fact builds a fact of the test village.
func fact(id string, kind FactKind, sub string, at time.Time) Fact {
	return Fact{ID: id, Village: vil, Kind: kind, Subkind: sub, At: at}
}

// warnings returns n warnings of one rule, a day apart from `from`.
func warnings(prefix, rule string, n int, from time.Time) []Fact {
	var fs []Fact
	for i := range n {
		fs = append(fs, fact(prefix+string(rune('a'+i)), FactWarning, rule, from.AddDate(0, 0, i)))
	}
	return fs
}

func TestPeriod(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		length       PeriodLength
		at           time.Time
		want         Period
		str, label   string
		start, end   string // Shanghai dates
		containsPrev bool
	}{
		{PeriodYear, day(6, 1), Period{Year: 2026}, "2026", "2026年度", "2026-01-01", "2027-01-01", false},
		// 16:30 UTC on 31 December is already 1 January in China.
		{PeriodYear, utc("2025-12-31T16:30:00Z"), Period{Year: 2026}, "2026", "2026年度", "2026-01-01", "2027-01-01", false},
		{PeriodYear, utc("2025-12-31T15:59:59Z"), Period{Year: 2025}, "2025", "2025年度", "2025-01-01", "2026-01-01", false},
		{PeriodQuarter, day(1, 1), Period{Year: 2026, Quarter: 1}, "2026Q1", "2026年第一季度", "2026-01-01", "2026-04-01", false},
		{PeriodQuarter, day(6, 30), Period{Year: 2026, Quarter: 2}, "2026Q2", "2026年第二季度", "2026-04-01", "2026-07-01", false},
		{PeriodQuarter, day(8, 15), Period{Year: 2026, Quarter: 3}, "2026Q3", "2026年第三季度", "2026-07-01", "2026-10-01", false},
		{PeriodQuarter, day(12, 31), Period{Year: 2026, Quarter: 4}, "2026Q4", "2026年第四季度", "2026-10-01", "2027-01-01", false},
	}
	for _, tt := range tests {
		t.Run(tt.str+"/"+tt.at.String(), func(t *testing.T) {
			r := DefaultRules()
			r.Period = tt.length
			p := r.PeriodOf(tt.at)
			if p != tt.want {
				t.Fatalf("PeriodOf = %+v, want %+v", p, tt.want)
			}
			if p.String() != tt.str || p.Label() != tt.label {
				t.Errorf("String/Label = %s %s", p.String(), p.Label())
			}
			if got := p.Start().Format(time.DateOnly); got != tt.start {
				t.Errorf("Start = %s", got)
			}
			if got := p.End().Format(time.DateOnly); got != tt.end {
				t.Errorf("End = %s", got)
			}
			if !p.Contains(tt.at) || !p.Contains(p.Start()) || p.Contains(p.End()) || p.Contains(p.Start().Add(-time.Nanosecond)) {
				t.Error("Contains")
			}
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
	if err := (Period{Year: 26, Quarter: 5}).Validate(); err == nil || !strings.Contains(err.Error(), "period.year:") || !strings.Contains(err.Error(), "period.quarter:") {
		t.Errorf("Validate = %v", err)
	}
}

// applied lists "id:points" (with a * when capped, ? when unrated).
func applied(r Rating) string {
	var s []string
	for _, c := range r.Contributions {
		v := c.Fact.ID + ":" + itoa(c.Points)
		if c.Capped {
			v += "*"
		}
		if c.Unrated {
			v += "?"
		}
		s = append(s, v)
	}
	return strings.Join(s, " ")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%+d", n)
}

func TestRate(t *testing.T) {
	tightEvidence := DefaultRules()
	tightEvidence.Kinds[FactWarning].Subkinds["evidence-required"] = SubkindRule{Label: "缺少必要材料", Points: -2, Cap: 5}
	warningCap := DefaultRules()
	k := warningCap.Kinds[FactWarning]
	k.Cap = 12
	warningCap.Kinds[FactWarning] = k
	flat := DefaultRules()
	flat.Kinds["interview"] = KindRule{Label: "约谈", Points: -1, Cap: 2}
	quarterly := DefaultRules()
	quarterly.Period = PeriodQuarter

	tests := []struct {
		name    string
		rules   Rules
		period  Period
		facts   []Fact
		points  int
		grade   Grade
		applied string
	}{
		{name: "no facts", points: 100, grade: GradeA, applied: ""},
		{name: "one of each deduction", facts: []Fact{
			fact("w1", FactWarning, "conflict-of-interest", day(1, 5)),
			fact("c1", FactComplaint, ComplaintSubstantiated, day(2, 5)),
			fact("c2", FactComplaint, ComplaintUnsubstantiated, day(2, 6)),
			fact("c3", FactComplaint, ComplaintPartly, day(2, 7)),
			fact("f1", FactFinding, SeverityMajor, day(3, 5)),
			fact("r1", FactRectification, RectificationOverdue, day(4, 5)),
			fact("o1", FactOrder, string(Blue), day(5, 5)),
		}, points: 100 - 10 - 5 - 0 - 3 - 8 - 5 - 5, grade: GradeD,
			applied: "w1:-10 c1:-5 c2:0 c3:-3 f1:-8 r1:-5 o1:-5"},
		{name: "a red order alone makes a B", facts: []Fact{fact("o1", FactOrder, string(Red), day(5, 5))}, points: 80, grade: GradeB, applied: "o1:-20"},
		{name: "a serious finding and a red order make a D", facts: []Fact{
			fact("o1", FactOrder, string(Red), day(5, 5)), fact("f1", FactFinding, SeveritySerious, day(4, 1)),
		}, points: 65, grade: GradeD, applied: "f1:-15 o1:-20"},
		{name: "deadline warnings capped at 20", facts: warnings("d", "deadline", 12, day(3, 1)), points: 80, grade: GradeB,
			applied: "da:-2 db:-2 dc:-2 dd:-2 de:-2 df:-2 dg:-2 dh:-2 di:-2 dj:-2 dk:0* dl:0*"},
		{name: "partial cap", rules: tightEvidence, facts: warnings("e", "evidence-required", 4, day(3, 1)), points: 95, grade: GradeA,
			applied: "ea:-2 eb:-2 ec:-1* ed:0*"},
		{name: "kind cap over subkinds", rules: warningCap, facts: []Fact{
			fact("w1", FactWarning, "amount-threshold", day(1, 1)),
			fact("w2", FactWarning, "posting-duration", day(1, 2)),
			fact("w3", FactWarning, "order", day(1, 3)),
			fact("c1", FactComplaint, ComplaintSubstantiated, day(1, 4)),
		}, points: 83, grade: GradeB, applied: "w1:-8 w2:-4* w3:0* c1:-5"},
		{name: "flat kind with cap", rules: flat, facts: []Fact{
			{ID: "i1", Village: vil, Kind: "interview", At: day(1, 1)},
			{ID: "i2", Village: vil, Kind: "interview", Subkind: "anything", At: day(1, 2)},
			{ID: "i3", Village: vil, Kind: "interview", At: day(1, 3)},
		}, points: 98, grade: GradeA, applied: "i1:-1 i2:-1 i3:0*"},
		{name: "bonuses capped at 10", facts: append([]Fact{fact("f1", FactFinding, SeveritySerious, day(1, 1)), fact("f2", FactFinding, SeverityMajor, day(1, 2))},
			func() []Fact {
				var fs []Fact
				for i := range 6 {
					fs = append(fs, fact("r"+string(rune('a'+i)), FactRectification, RectificationOnTime, day(2, 1+i)))
				}
				return fs
			}()...), points: 100 - 23 + 10, grade: GradeB,
			applied: "f1:-15 f2:-8 ra:+2 rb:+2 rc:+2 rd:+2 re:+2 rf:0*"},
		{name: "unknown kind and subkind count 0", facts: []Fact{
			fact("x1", "visit", "", day(1, 1)), fact("x2", FactWarning, "made-up", day(1, 2)), fact("x3", FactOrder, "green", day(1, 3)),
		}, points: 100, grade: GradeA, applied: "x1:0? x2:0? x3:0?"},
		{name: "other villages and other periods are ignored", facts: []Fact{
			{ID: "o", Village: other, Kind: FactOrder, Subkind: "red", At: day(1, 1)},
			fact("old", FactOrder, "red", time.Date(2025, 12, 31, 23, 59, 59, 0, Shanghai)),
			fact("new", FactOrder, "red", time.Date(2027, 1, 1, 0, 0, 0, 0, Shanghai)),
			fact("first", FactOrder, "blue", time.Date(2026, 1, 1, 0, 0, 0, 0, Shanghai)),
			fact("zero", FactOrder, "red", time.Time{}),
		}, points: 95, grade: GradeA, applied: "first:-5"},
		{name: "duplicate ids count once", facts: []Fact{
			fact("w1", FactWarning, "conflict-of-interest", day(1, 5)),
			fact("w1", FactWarning, "conflict-of-interest", day(1, 5)),
			fact("w1", FactWarning, "conflict-of-interest", day(1, 5)),
		}, points: 90, grade: GradeA, applied: "w1:-10"},
		{name: "facts without id are each counted", facts: []Fact{
			fact("", FactFinding, SeverityMinor, day(1, 5)),
			fact("", FactFinding, SeverityMinor, day(1, 6)),
		}, points: 94, grade: GradeA, applied: ":-3 :-3"},
		{name: "quarter resets", rules: quarterly, period: Period{Year: 2026, Quarter: 2}, facts: []Fact{
			fact("q1", FactOrder, "red", day(3, 31)), fact("q2", FactOrder, "blue", day(4, 1)), fact("q3", FactOrder, "yellow", day(7, 1)),
		}, points: 95, grade: GradeA, applied: "q2:-5"},
		{name: "caps are per period", rules: quarterly, period: Period{Year: 2026, Quarter: 2},
			facts:  append(warnings("a", "deadline", 11, day(3, 1)), warnings("b", "deadline", 11, day(4, 1))...),
			points: 80, grade: GradeB, applied: "ba:-2 bb:-2 bc:-2 bd:-2 be:-2 bf:-2 bg:-2 bh:-2 bi:-2 bj:-2 bk:0*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := tt.rules
			if rules.Kinds == nil {
				rules = DefaultRules()
			}
			if err := rules.Validate(); err != nil {
				t.Fatal(err)
			}
			period := tt.period
			if period == (Period{}) {
				period = y2026
			}
			r := Rate(rules, vil, period, tt.facts)
			if r.Points != tt.points || r.Grade != tt.grade {
				t.Errorf("points %d grade %s, want %d %s", r.Points, r.Grade, tt.points, tt.grade)
			}
			if got := applied(r); got != tt.applied {
				t.Errorf("contributions\n got %s\nwant %s", got, tt.applied)
			}
			sum := r.Start
			for _, c := range r.Contributions {
				sum += c.Points
				if c.Fact.Points != rules.ruleFor(c.Fact).points {
					t.Errorf("%s: Fact.Points = %d, want the rule's %d", c.Fact.ID, c.Fact.Points, rules.ruleFor(c.Fact).points)
				}
			}
			if sum != r.Points {
				t.Errorf("start + contributions = %d, points %d", sum, r.Points)
			}
			if r.Village != vil || r.Period != period || r.Start != rules.Start {
				t.Errorf("village/period/start = %s %v %d", r.Village, r.Period, r.Start)
			}
		})
	}
}

func TestRateLabels(t *testing.T) {
	r := Rate(DefaultRules(), vil, y2026, []Fact{
		fact("w", FactWarning, "conflict-of-interest", day(1, 1)),
		fact("o", FactOrder, "yellow", day(1, 2)),
		fact("x", FactWarning, "made-up", day(1, 3)),
	})
	want := []string{"违规预警（利益冲突未回避）", "三色督查令（黄色）", "违规预警（made-up）"}
	for i, c := range r.Contributions {
		if c.Label != want[i] {
			t.Errorf("label %d = %s, want %s", i, c.Label, want[i])
		}
	}
}

// A fact delivered late but dated earlier takes its place under the cap:
// which facts are capped depends on their dates, not on arrival.
func TestCapsFollowDatesNotArrival(t *testing.T) {
	fs := warnings("d", "deadline", 10, day(3, 1))
	before := Rate(DefaultRules(), vil, y2026, fs)
	late := fact("early", FactWarning, "deadline", day(2, 1))
	after := Rate(DefaultRules(), vil, y2026, append(fs, late))
	if before.Points != 80 || after.Points != 80 {
		t.Fatalf("points %d → %d", before.Points, after.Points)
	}
	if got := applied(after); !strings.HasPrefix(got, "early:-2 ") || !strings.HasSuffix(got, " dj:0*") {
		t.Errorf("got %s", got)
	}
}

func TestRateIsOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	facts := villageFacts(rng, vil, 2026, 60)
	// Redelivered events, some with a different copy (a later timestamp).
	facts = append(facts, facts[3], facts[10], facts[10])
	dup := facts[20]
	dup.At = dup.At.Add(time.Hour)
	dup.Note = "redelivered"
	facts = append(facts, dup)
	want := Rate(DefaultRules(), vil, y2026, facts)
	for i := range 50 {
		shuffled := slices.Clone(facts)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := Rate(DefaultRules(), vil, y2026, shuffled); !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffle %d changed the rating: %d %s vs %d %s", i, got.Points, got.Grade, want.Points, want.Grade)
		}
	}
	ids := map[string]bool{}
	for _, c := range want.Contributions {
		if ids[c.Fact.ID] {
			t.Errorf("fact %s counted twice", c.Fact.ID)
		}
		ids[c.Fact.ID] = true
		if c.Fact.ID == dup.ID && c.Fact.Note == "redelivered" {
			t.Error("the later copy of a duplicate was kept")
		}
	}
	// Rate does not touch the caller's slice.
	before := slices.Clone(facts)
	Rate(DefaultRules(), vil, y2026, facts)
	if !reflect.DeepEqual(before, facts) {
		t.Error("Rate modified its input")
	}
}

func TestRateAll(t *testing.T) {
	facts := []Fact{
		{ID: "1", Village: "a", Kind: FactOrder, Subkind: "red", At: day(1, 1)},
		{ID: "2", Village: "b", Kind: FactOrder, Subkind: "blue", At: day(1, 1)},
		{ID: "3", Village: "a", Kind: FactOrder, Subkind: "blue", At: day(1, 2)},
	}
	all := RateAll(DefaultRules(), y2026, []string{"a", "b", "c"}, facts)
	got := map[string]int{}
	for v, r := range all {
		got[v] = r.Points
		if r.Village != v {
			t.Errorf("rating of %s says %s", v, r.Village)
		}
	}
	if want := map[string]int{"a": 75, "b": 95, "c": 100}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestDiff(t *testing.T) {
	rules := DefaultRules()
	base := []Fact{
		fact("w1", FactWarning, "amount-threshold", day(1, 10)),
		fact("w2", FactWarning, "posting-duration", day(2, 10)),
	} // 87: B
	rate := func(fs ...[]Fact) Rating { return Rate(rules, vil, y2026, slices.Concat(fs...)) }
	prev := rate(base)
	if prev.Grade != GradeB {
		t.Fatalf("base grade %s", prev.Grade)
	}
	tests := []struct {
		name     string
		previous Rating
		next     Rating
		nilWant  bool
		from, to Grade
		because  string // ids in order
		at       time.Time
	}{
		{name: "same grade", previous: prev, next: rate(base, []Fact{fact("m", FactFinding, SeverityMinor, day(3, 1))}), nilWant: true},
		{name: "fall to C: new deductions, largest first, bonuses and old facts left out",
			previous: prev,
			next: rate(base, []Fact{
				fact("a", FactComplaint, ComplaintSubstantiated, day(3, 1)),
				fact("b", FactFinding, SeverityMajor, day(3, 2)),
				fact("c", FactRectification, RectificationOnTime, day(3, 3)),
				fact("d", FactComplaint, ComplaintUnsubstantiated, day(3, 4)),
				fact("e", FactComplaint, ComplaintSubstantiated, day(2, 1)),
			}), // 87-5-8+2-5 = 71: C
			from: GradeB, to: GradeC, because: "b e a", at: day(3, 2)},
		{name: "first rating compares with a clean village", previous: Rating{},
			next: rate([]Fact{fact("r", FactOrder, "red", day(6, 1))}), from: GradeA, to: GradeB, because: "r", at: day(6, 1)},
		{name: "first rating of grade A is no change", previous: Rating{}, next: rate(nil), nilWant: true},
		{name: "rise through bonuses", previous: rate(base, []Fact{fact("x", FactRectification, RectificationOverdue, day(3, 1))}), // 82
			next: rate(base, []Fact{fact("x", FactRectification, RectificationOverdue, day(3, 1)),
				fact("y", FactRectification, RectificationOnTime, day(4, 1)), fact("z", FactRectification, RectificationOnTime, day(4, 2)),
				fact("v", FactFinding, SeverityMinor, day(4, 3)),
			}), // 82+4-3 = 83: B, unchanged
			nilWant: true},
		{name: "rise to A: the new bonuses, not the new deduction", previous: rate([]Fact{fact("f", FactFinding, SeverityMinor, day(1, 1)), fact("g", FactFinding, SeverityMinor, day(1, 2)),
			fact("h", FactFinding, SeverityMinor, day(1, 3)), fact("i", FactFinding, SeverityMinor, day(1, 4))}), // 88: B
			next: rate([]Fact{fact("f", FactFinding, SeverityMinor, day(1, 1)), fact("g", FactFinding, SeverityMinor, day(1, 2)),
				fact("h", FactFinding, SeverityMinor, day(1, 3)), fact("i", FactFinding, SeverityMinor, day(1, 4)),
				fact("y", FactRectification, RectificationOnTime, day(4, 1)), fact("m", FactFinding, SeverityMinor, day(4, 2)),
				fact("z", FactRectification, RectificationOnTime, day(4, 3)), fact("w", FactRectification, RectificationOnTime, day(4, 4))}), // 88+6-3 = 91: A
			from: GradeB, to: GradeA, because: "y z w", at: day(4, 4)},
		{name: "new period: last year's D, this year's A", previous: Rating{Village: vil, Period: Period{Year: 2025}, Points: 60, Grade: GradeD,
			Contributions: []Contribution{{Fact: fact("w1", FactWarning, "amount-threshold", day(1, 10)), Points: -8}}},
			next: rate(base), from: GradeD, to: GradeB, because: "", at: day(2, 10)},
		{name: "a new period's first fall counts all its facts", previous: Rating{Village: vil, Period: Period{Year: 2025}, Points: 95, Grade: GradeA,
			Contributions: []Contribution{{Fact: fact("w1", FactWarning, "amount-threshold", day(1, 10)), Points: -8}}},
			next: rate(base), from: GradeA, to: GradeB, because: "w1 w2", at: day(2, 10)},
		{name: "fall straight to D", previous: prev,
			next: rate(base, []Fact{fact("r", FactOrder, "red", day(5, 1)), fact("s", FactFinding, SeveritySerious, day(5, 2))}),
			from: GradeB, to: GradeD, because: "r s", at: day(5, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Diff(tt.previous, tt.next)
			if tt.nilWant {
				if ch != nil {
					t.Fatalf("got change %s→%s", ch.From, ch.To)
				}
				return
			}
			if ch == nil {
				t.Fatalf("no change (%s → %s)", tt.previous.Grade, tt.next.Grade)
			}
			var ids []string
			for _, c := range ch.Because {
				ids = append(ids, c.Fact.ID)
			}
			if ch.From != tt.from || ch.To != tt.to || strings.Join(ids, " ") != tt.because {
				t.Errorf("got %s→%s because %q, want %s→%s because %q", ch.From, ch.To, strings.Join(ids, " "), tt.from, tt.to, tt.because)
			}
			if !ch.At.Equal(tt.at) {
				t.Errorf("At = %v, want %v", ch.At, tt.at)
			}
			if ch.ToPoints != tt.next.Points || ch.Village != vil || ch.Period != tt.next.Period {
				t.Errorf("change = %+v", ch)
			}
		})
	}
}

// The grade can only be explained by the events: every fall lists at least
// one deduction, and the new deductions account for at least the fall.
func TestEveryFallIsExplained(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	rules := DefaultRules()
	for v := range 40 {
		facts := villageFacts(rng, vil, 2026, 20+rng.IntN(40))
		slices.SortFunc(facts, compareFacts)
		prev := rules.Initial(vil, y2026)
		for i := range facts {
			next := Rate(rules, vil, y2026, facts[:i+1])
			if ch := Diff(prev, next); ch != nil && ch.Worse() {
				sum := 0
				for _, c := range ch.Because {
					sum += c.Points
				}
				if len(ch.Because) == 0 || sum > next.Points-prev.Points {
					t.Fatalf("village %d fact %d: fall %s→%s (%d→%d) explained by %d points", v, i, ch.From, ch.To, prev.Points, next.Points, sum)
				}
			}
			prev = next
		}
	}
}

func TestWarningFact(t *testing.T) {
	w := eventsv1.WarningRaised{
		InstanceRef: eventsv1.InstanceRef{TrackingNumber: "XK-2026-0042", ItemName: "村级工程项目"},
		WarningID:   "w-1", Rule: "conflict-of-interest", Message: "收款人为村干部近亲属", RaisedAt: day(4, 2),
	}
	got := WarningFact("evt-1", vil, w)
	want := Fact{ID: "evt-1", Village: vil, Kind: FactWarning, Subkind: "conflict-of-interest", At: day(4, 2), Ref: "XK-2026-0042", Note: "村级工程项目：收款人为村干部近亲属"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	if r := Rate(DefaultRules(), vil, y2026, []Fact{got}); r.Points != 90 {
		t.Errorf("points %d", r.Points)
	}
}
