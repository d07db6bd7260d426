package inspection

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
)

const xikou = "330213100"

func desk() *OrderDesk {
	return &OrderDesk{Config: DefaultOrderConfig(), Situations: DefaultSituations(), Numbers: &Counter{}}
}

func TestDefaultSituations(t *testing.T) {
	s := DefaultSituations()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(s.Classes) != 3 || len(s.Situations) != 27 {
		t.Fatalf("%d classes, %d situations", len(s.Classes), len(s.Situations))
	}
	perClass := map[string]int{}
	colours := map[Colour]int{}
	names := map[string]bool{}
	for _, x := range s.Situations {
		perClass[x.Class]++
		colours[x.Colour]++
		if names[x.Name] {
			t.Errorf("situation %q listed twice", x.Name)
		}
		names[x.Name] = true
		if !strings.ContainsFunc(x.Name, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
			t.Errorf("situation %s is not named in Chinese: %q", x.ID, x.Name)
		}
		if _, c, ok := s.Find(x.ID); !ok || c.ID != x.Class {
			t.Errorf("Find(%s) = %v %v", x.ID, c, ok)
		}
	}
	for _, c := range s.Classes {
		if perClass[c.ID] != 9 {
			t.Errorf("class %s (%s) has %d situations, want 9", c.ID, c.Name, perClass[c.ID])
		}
	}
	for _, c := range []Colour{Blue, Yellow, Red} {
		if colours[c] < 3 {
			t.Errorf("only %d %s situations", colours[c], c)
		}
	}
	got := []string{}
	for _, c := range s.Classes {
		got = append(got, c.Name)
	}
	if strings.Join(got, "/") != "履职不力/作风问题/违纪违规" {
		t.Errorf("classes %v", got)
	}
	if _, _, ok := s.Find("nope"); ok {
		t.Error("found an unknown situation")
	}
}

func TestSituationsValidate(t *testing.T) {
	tests := []struct {
		name   string
		s      Situations
		fields []string
	}{
		{"empty", Situations{}, []string{"classes:", "situations:"}},
		{"bad entries", Situations{
			Classes: []SituationClass{{ID: "a", Name: "甲"}, {ID: "a", Name: "甲二"}, {ID: "", Name: ""}, {ID: "lonely", Name: "孤"}},
			Situations: []Situation{
				{ID: "x", Class: "a", Name: "情形", Colour: Blue},
				{ID: "x", Class: "b", Name: "", Colour: "green"},
				{ID: "", Class: "a", Name: "情形二", Colour: Red},
			},
		}, []string{`classes[1].id: "a" is used twice`, "classes[2].id:", "classes[2].name:", `classes[3]: class "lonely" has no situation`,
			`situations[1].id: "x" is used twice`, `situations[1].class: "b"`, "situations[1].name:", "situations[1].colour:", "situations[2].id:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error lacks %q:\n%v", f, err)
				}
			}
		})
	}
}

func TestLoadSituations(t *testing.T) {
	s, err := LoadSituations([]byte(`
classes:
  - {id: slow, name: 工作滞后}
situations:
  - {id: slow-1, class: slow, name: 未按期公开村务, colour: blue}
  - {id: slow-2, class: slow, name: 拒不整改, colour: red}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Situations) != 2 || s.Situations[1].Colour != Red {
		t.Errorf("got %+v", s)
	}
	if _, err := LoadSituations([]byte("classes: []\nsituation: []")); err == nil || !strings.Contains(err.Error(), `unknown field "situation"`) {
		t.Errorf("typo: %v", err)
	}
	if _, err := LoadSituations([]byte("classes: [{id: a, name: 甲}]\nsituations: [{id: x, class: a, name: 乙, colour: pink}]")); err == nil || !strings.Contains(err.Error(), "situations[0].colour:") {
		t.Errorf("bad colour: %v", err)
	}
}

func TestNewOrder(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, Shanghai)
	tests := []struct {
		name     string
		in       OrderInput
		colour   Colour
		deadline string // Shanghai, exclusive midnight
		fields   []string
	}{
		{name: "blue by default: 30 days", in: OrderInput{Situation: "duty-01", Town: xikou, Village: vil, Now: now}, colour: Blue, deadline: "2026-04-10"},
		{name: "yellow by default: 15 days", in: OrderInput{Situation: "conduct-05", Town: xikou, Village: vil, CadreID: "cadre-7", Now: now}, colour: Yellow, deadline: "2026-03-26"},
		{name: "red by default: 7 days", in: OrderInput{Situation: "discipline-05", Town: xikou, Village: vil, Now: now}, colour: Red, deadline: "2026-03-18"},
		{name: "colour overridden", in: OrderInput{Situation: "duty-01", Colour: Yellow, Town: xikou, Village: vil, Now: now}, colour: Yellow, deadline: "2026-03-26"},
		{name: "unknown situation", in: OrderInput{Situation: "duty-10", Town: xikou, Village: vil, Now: now}, fields: []string{"situation:"}},
		{name: "bad colour", in: OrderInput{Situation: "duty-01", Colour: "green", Town: xikou, Village: vil, Now: now}, fields: []string{"colour:"}},
		{name: "no village, town or time", in: OrderInput{Situation: "duty-01", CadreID: "cadre-7"}, fields: []string{"village:", "town:", "issuedAt:"}},
	}
	d := desk()
	seq := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := d.NewOrder(tt.in)
			if tt.fields != nil {
				if err == nil {
					t.Fatalf("issued %s", o.Number)
				}
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Errorf("no FieldError in %v", err)
				}
				for _, f := range tt.fields {
					if !strings.Contains(err.Error(), f) {
						t.Errorf("error lacks %q: %v", f, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			seq++
			if o.Colour != tt.colour || o.Status != OrderIssued || o.Number != DocNumber("奉纪督", 2026, seq) || o.Seq != seq || o.Year != 2026 {
				t.Errorf("order %s %s %s seq %d", o.Number, o.Colour, o.Status, o.Seq)
			}
			if got := o.Deadline.In(Shanghai).Format("2006-01-02 15:04"); got != tt.deadline+" 00:00" {
				t.Errorf("deadline %s, want %s", got, tt.deadline)
			}
			sit, class, _ := DefaultSituations().Find(tt.in.Situation)
			if o.SituationName != sit.Name || o.ClassName != class.Name || o.Village != vil || o.CadreID != tt.in.CadreID || !o.IssuedAt.Equal(now) {
				t.Errorf("order %+v", o)
			}
		})
	}
}

func TestOrderConfigValidate(t *testing.T) {
	c := DefaultOrderConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Prefix = ""
	c.Days = map[Colour]int{Blue: 30, Yellow: 0, "green": 3}
	err := c.Validate()
	for _, f := range []string{"prefix:", "days.yellow:", "days.red:", "days.green:"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error lacks %q: %v", f, err)
		}
	}
	d := desk()
	d.Config = c
	if _, err := d.NewOrder(OrderInput{Situation: "duty-01", Town: xikou, Village: vil, Now: day(1, 1)}); err == nil {
		t.Error("issued with a broken configuration")
	}
	d = desk()
	d.Numbers = nil
	if _, err := d.NewOrder(OrderInput{Situation: "duty-01", Town: xikou, Village: vil, Now: day(1, 1)}); err == nil {
		t.Error("issued without numbers")
	}
}

func TestOrderFeedsRating(t *testing.T) {
	d := desk()
	o, err := d.NewOrder(OrderInput{Situation: "discipline-06", Town: xikou, Village: vil, CadreID: "cadre-3", Detail: "为其子承包村道硬化工程", Now: day(5, 6)})
	if err != nil {
		t.Fatal(err)
	}
	f := o.Fact()
	want := Fact{ID: "order:" + xikou + ":奉纪督〔2026〕1号", Village: vil, Kind: FactOrder, Subkind: "red", At: day(5, 6), Ref: "奉纪督〔2026〕1号",
		Note: "应回避未回避，为本人或亲属谋取利益（违纪违规）。为其子承包村道硬化工程"}
	if f != want {
		t.Errorf("fact\n got %+v\nwant %+v", f, want)
	}
	r := Rate(DefaultRules(), vil, y2026, []Fact{f, f})
	if r.Points != 80 || r.Grade != GradeB || r.Contributions[0].Label != "三色督查令（红色）" {
		t.Errorf("rating %d %s %s", r.Points, r.Grade, r.Contributions[0].Label)
	}
}

func TestOrderLifecycle(t *testing.T) {
	issued := day(3, 10)
	tests := []struct {
		name    string
		steps   func(o *Order) error
		status  OrderStatus
		wantErr bool
	}{
		{"respond then close", func(o *Order) error {
			if err := o.Respond(issued.Add(48 * time.Hour)); err != nil {
				return err
			}
			return o.Close(issued.Add(72 * time.Hour))
		}, OrderClosed, false},
		{"close before respond", func(o *Order) error { return o.Close(issued.Add(time.Hour)) }, OrderIssued, true},
		{"respond twice", func(o *Order) error {
			_ = o.Respond(issued.Add(time.Hour))
			return o.Respond(issued.Add(2 * time.Hour))
		}, OrderResponded, true},
		{"overdue, then a late answer", func(o *Order) error {
			if !o.MarkOverdue(o.Deadline) {
				return errors.New("not marked overdue at its deadline")
			}
			return o.Respond(o.Deadline.Add(time.Hour))
		}, OrderResponded, false},
		{"not overdue before the deadline", func(o *Order) error {
			if o.MarkOverdue(o.Deadline.Add(-time.Second)) {
				return errors.New("marked overdue early")
			}
			return nil
		}, OrderIssued, false},
		{"closed order is never overdue", func(o *Order) error {
			_ = o.Respond(issued)
			_ = o.Close(issued)
			if o.MarkOverdue(o.Deadline.AddDate(1, 0, 0)) || o.Due(o.Deadline.AddDate(1, 0, 0)) {
				return errors.New("closed order overdue")
			}
			return nil
		}, OrderClosed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := desk().NewOrder(OrderInput{Situation: "duty-02", Town: xikou, Village: vil, Now: issued})
			if err != nil {
				t.Fatal(err)
			}
			err = tt.steps(o)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr && !errors.Is(err, ErrOrderState) {
				t.Errorf("err %v is not ErrOrderState", err)
			}
			if o.Status != tt.status {
				t.Errorf("status %s, want %s", o.Status, tt.status)
			}
		})
	}
}

func TestEscalate(t *testing.T) {
	d := desk()
	blue, err := d.NewOrder(OrderInput{Situation: "duty-07", Colour: Blue, Town: xikou, Village: vil, Detail: "巡察反馈问题3项未整改", Now: day(3, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Escalate(blue, blue.Deadline.Add(-time.Minute)); !errors.Is(err, ErrOrderState) {
		t.Errorf("escalated before the deadline: %v", err)
	}
	yellow, yf, err := d.Escalate(blue, blue.Deadline.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if blue.Status != OrderOverdue || blue.EscalatedTo != yellow.Number {
		t.Errorf("old order %s escalated to %q", blue.Status, blue.EscalatedTo)
	}
	if yellow.Colour != Yellow || yellow.Number != "奉纪督〔2026〕2号" || yellow.EscalatedFrom != blue.Number || yellow.Situation != "duty-07" ||
		yellow.Status != OrderIssued || !yellow.Deadline.Equal(endOfDay(blue.Deadline.Add(time.Hour), 15)) {
		t.Errorf("escalated order %+v", yellow)
	}
	if yf != yellow.Fact() || yf.Subkind != "yellow" || !strings.Contains(yf.Note, "由逾期未办结的奉纪督〔2026〕1号升级") {
		t.Errorf("fact %+v", yf)
	}
	if _, _, err := d.Escalate(blue, blue.Deadline.AddDate(0, 1, 0)); !errors.Is(err, ErrOrderState) {
		t.Errorf("escalated twice: %v", err)
	}
	if err := blue.Respond(blue.Deadline.AddDate(0, 1, 0)); !errors.Is(err, ErrOrderState) {
		t.Errorf("answered the replaced order: %v", err)
	}
	red, rf, err := d.Escalate(yellow, yellow.Deadline)
	if err != nil {
		t.Fatal(err)
	}
	if red.Colour != Red || !red.Deadline.Equal(endOfDay(yellow.Deadline, 7)) {
		t.Errorf("red order %+v", red)
	}
	if _, _, err := d.Escalate(red, red.Deadline.Add(time.Hour)); !errors.Is(err, ErrOrderState) || !strings.Contains(err.Error(), "already red") {
		t.Errorf("red escalated: %v", err)
	}
	responded, _ := d.NewOrder(OrderInput{Situation: "duty-01", Town: xikou, Village: vil, Now: day(3, 2)})
	_ = responded.Respond(day(3, 3))
	if _, _, err := d.Escalate(responded, responded.Deadline.Add(time.Hour)); !errors.Is(err, ErrOrderState) {
		t.Errorf("responded order escalated: %v", err)
	}

	// Each step of the escalation counts: −5, −10, −20.
	r := Rate(DefaultRules(), vil, y2026, []Fact{blue.Fact(), yf, rf})
	if r.Points != 65 || r.Grade != GradeD {
		t.Errorf("rating %d %s", r.Points, r.Grade)
	}
}

func TestColours(t *testing.T) {
	tests := []struct {
		c    Colour
		name string
		next Colour
		ok   bool
	}{
		{Blue, "蓝色", Yellow, true},
		{Yellow, "黄色", Red, true},
		{Red, "红色", "", false},
		{"green", "green", "", false},
	}
	for _, tt := range tests {
		next, ok := tt.c.Next()
		if tt.c.Name() != tt.name || next != tt.next || ok != tt.ok || tt.c.Valid() != (tt.name != "green") {
			t.Errorf("%s: %s %s %v", tt.c, tt.c.Name(), next, ok)
		}
	}
}
