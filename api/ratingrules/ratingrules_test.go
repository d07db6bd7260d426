package ratingrules

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestDefaultRules(t *testing.T) {
	r := Default()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	// The table documented on Default.
	want := map[string]int{
		"warning/conflict-of-interest": -10, "warning/amount-threshold": -8, "warning/posting-duration": -5,
		"warning/order": -3, "warning/deadline": -2, "warning/evidence-required": -2,
		"complaint/substantiated": -5, "complaint/partly-substantiated": -3, "complaint/unsubstantiated": 0, "complaint/accepted": 0,
		"finding/minor": -3, "finding/major": -8, "finding/serious": -15,
		"rectification/overdue": -5, "rectification/on-time": 2,
		"order/blue": -5, "order/yellow": -10, "order/red": -20,
		"crosscheck/payee-relative": -5, "crosscheck/payee-deceased": -8,
	}
	got := map[string]int{}
	for k, kr := range r.Kinds {
		for s, sr := range kr.Subkinds {
			got[string(k)+"/"+s] = sr.Points
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("default points:\n got %v\nwant %v", got, want)
	}
	caps := map[string]int{"warning/deadline": 20, "warning/evidence-required": 10, "rectification/on-time": 10}
	for k, kr := range r.Kinds {
		for s, sr := range kr.Subkinds {
			if sr.Cap != caps[string(k)+"/"+s] {
				t.Errorf("cap of %s/%s = %d, want %d", k, s, sr.Cap, caps[string(k)+"/"+s])
			}
		}
	}
	if r.Start != 100 || r.Period != PeriodYear || r.Grades != (GradeThresholds{A: 90, B: 80, C: 70}) {
		t.Errorf("start/period/grades = %d %s %+v", r.Start, r.Period, r.Grades)
	}
}

func TestRulesValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Rules)
		fields []string // every field the error must name
	}{
		{"zero start", func(r *Rules) { r.Start = 0 }, []string{"start:", "grades.a:"}},
		{"unknown period", func(r *Rules) { r.Period = "month" }, []string{"period:"}},
		{"a above start", func(r *Rules) { r.Grades.A = 101 }, []string{"grades.a:"}},
		{"b not below a", func(r *Rules) { r.Grades.B = 90 }, []string{"grades.b:"}},
		{"c not below b", func(r *Rules) { r.Grades.C = 85 }, []string{"grades.c:"}},
		{"negative cap", func(r *Rules) {
			k := r.Kinds[FactWarning]
			s := k.Subkinds["deadline"]
			s.Cap = -20
			k.Subkinds["deadline"] = s
		}, []string{"kinds.warning.subkinds.deadline.cap:"}},
		{"cap of a zero subkind", func(r *Rules) {
			r.Kinds[FactComplaint].Subkinds[ComplaintUnsubstantiated] = SubkindRule{Label: "不属实", Cap: 5}
		}, []string{"kinds.complaint.subkinds.unsubstantiated.cap:"}},
		{"missing labels", func(r *Rules) {
			r.Kinds["visit"] = KindRule{Points: -1}
			r.Kinds[FactOrder].Subkinds["green"] = SubkindRule{Points: -1}
		}, []string{"kinds.visit.label:", "kinds.order.subkinds.green.label:"}},
		{"points on a kind with subkinds", func(r *Rules) {
			k := r.Kinds[FactFinding]
			k.Points = -3
			r.Kinds[FactFinding] = k
		}, []string{"kinds.finding.points:"}},
		{"kind cap over mixed signs", func(r *Rules) {
			k := r.Kinds[FactRectification]
			k.Cap = 10
			r.Kinds[FactRectification] = k
		}, []string{"kinds.rectification.cap:"}},
		{"negative kind cap", func(r *Rules) {
			k := r.Kinds[FactOrder]
			k.Cap = -1
			r.Kinds[FactOrder] = k
		}, []string{"kinds.order.cap:"}},
		{"empty names", func(r *Rules) {
			r.Kinds[""] = KindRule{Label: "x", Points: -1}
			r.Kinds[FactOrder].Subkinds[""] = SubkindRule{Label: "x", Points: -1}
		}, []string{"kinds: a kind has an empty name", "kinds.order.subkinds: a subkind has an empty name"}},
		{"kind cap on a zero kind", func(r *Rules) { r.Kinds["visit"] = KindRule{Label: "走访", Cap: 3} }, []string{"kinds.visit.cap:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Default()
			tt.modify(&r)
			err := r.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %v holds no FieldError", err)
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error does not name %q:\n%v", f, err)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		check   func(t *testing.T, r Rules)
		wantErr string
	}{
		{name: "empty document keeps the defaults", doc: "", check: func(t *testing.T, r Rules) {
			if !reflect.DeepEqual(r, Default()) {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "yaml overrides", doc: `
period: quarter
grades: {c: 65}
kinds:
  order:
    label: 督查令
    subkinds:
      blue: {label: 蓝, points: -4}
      yellow: {label: 黄, points: -9}
      red: {label: 红, points: -18, cap: 36}
`, check: func(t *testing.T, r Rules) {
			if r.Period != PeriodQuarter || r.Grades != (GradeThresholds{A: 90, B: 80, C: 65}) || r.Start != 100 {
				t.Errorf("period/grades/start = %s %+v %d", r.Period, r.Grades, r.Start)
			}
			if got := r.Kinds[FactOrder].Subkinds["red"]; got != (SubkindRule{Label: "红", Points: -18, Cap: 36}) {
				t.Errorf("red = %+v", got)
			}
			if r.Kinds[FactWarning].Subkinds["deadline"].Cap != 20 {
				t.Error("an unlisted kind lost its defaults")
			}
		}},
		{name: "json works too", doc: `{"start": 120, "grades": {"a": 110, "b": 95, "c": 80}}`, check: func(t *testing.T, r Rules) {
			if r.Start != 120 || r.GradeOf(100) != GradeB {
				t.Errorf("start %d, grade of 100 %s", r.Start, r.GradeOf(100))
			}
		}},
		{name: "typo is an error", doc: "grade: {a: 95}", wantErr: `unknown field "grade"`},
		{name: "typo inside a kind", doc: "kinds: {order: {label: x, subkinds: {blue: {label: b, point: -5}}}}", wantErr: `unknown field "point"`},
		{name: "invalid values name the field", doc: "grades: {a: 80, b: 85}", wantErr: "grades.b:"},
		{name: "not yaml", doc: "start: [", wantErr: "rules:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Load([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

// The defaults survive a round trip through YAML: a town can start its own
// rules file from them.
func TestRulesRoundTrip(t *testing.T) {
	custom := Default()
	custom.Period = PeriodQuarter
	custom.Kinds["interview"] = KindRule{Label: "约谈", Points: -1, Cap: 3}
	data, err := yaml.Marshal(custom)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(back, custom) {
		t.Errorf("round trip changed the rules:\n%s", data)
	}
}

func TestGradeOf(t *testing.T) {
	r := Default()
	for _, tt := range []struct {
		points int
		want   Grade
	}{{120, GradeA}, {100, GradeA}, {90, GradeA}, {89, GradeB}, {80, GradeB}, {79, GradeC}, {70, GradeC}, {69, GradeD}, {0, GradeD}, {-40, GradeD}} {
		if got := r.GradeOf(tt.points); got != tt.want {
			t.Errorf("GradeOf(%d) = %s, want %s", tt.points, got, tt.want)
		}
	}
	if !GradeD.WorseThan(GradeC) || GradeA.WorseThan(GradeB) || GradeB.WorseThan(GradeB) {
		t.Error("WorseThan")
	}
}
