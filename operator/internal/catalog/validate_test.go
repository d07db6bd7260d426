package catalog

import (
	"strings"
	"testing"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// item builds a valid item whose steps follow the given edges ("a>b,c"),
// done by the director unless a step says whose it is ("a@villager>b").
func item(id string, flow ...string) wuxiaov1.PowerItem {
	it := wuxiaov1.PowerItem{ID: id, Category: wuxiaov1.CategoryDecision,
		Norms: []wuxiaov1.Norm{{ID: "n1", Text: "t", Basis: "b"}}}
	for _, f := range flow {
		from, to, _ := strings.Cut(f, ">")
		s := wuxiaov1.Step{ID: from, Role: wuxiaov1.ActorRole(wuxiaov1.RoleDirector)}
		if id, role, ok := strings.Cut(from, "@"); ok {
			s.ID, s.Role = id, wuxiaov1.ActorRole(role)
		}
		if to != "" {
			s.Next = strings.Split(to, ",")
		}
		it.Steps = append(it.Steps, s)
	}
	if len(it.Steps) > 0 {
		it.Controls = []wuxiaov1.Control{{ID: "c1", Step: it.Steps[0].ID, Norm: "n1", Type: wuxiaov1.ControlOrder}}
	}
	return it
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		items []wuxiaov1.PowerItem
		want  []string // substrings, one per expected problem, in order
	}{
		{"linear flow is valid", []wuxiaov1.PowerItem{item("a", "p>q", "q>r", "r")}, nil},
		{"branch and rework loop with an exit is valid", []wuxiaov1.PowerItem{item("a", "p>q", "q>p,r", "r")}, nil},
		{"duplicate item ids", []wuxiaov1.PowerItem{item("a", "p"), item("b", "p"), item("a", "p")},
			[]string{`items[0] and items[2] share the id "a"`}},
		{"duplicate step ids", []wuxiaov1.PowerItem{item("a", "p>q", "q", "q")}, []string{`step id "q" is used twice`}},
		{"next names a missing step", []wuxiaov1.PowerItem{item("a", "p>x")},
			[]string{`next step "x" does not exist`, "never ends"}},
		{"no end step", []wuxiaov1.PowerItem{item("a", "p>q", "q>p")}, []string{"never ends"}},
		{"unreachable step", []wuxiaov1.PowerItem{item("a", "p>q", "q", "orphan")}, []string{"step orphan cannot be reached"}},
		{"self loop", []wuxiaov1.PowerItem{item("a", "p>p,q", "q")}, []string{"cannot follow itself"}},
		{"a villager's application is valid", []wuxiaov1.PowerItem{item("a", "p@villager>q", "q@town-official")}, nil},
		{"first step nobody can take", []wuxiaov1.PowerItem{item("a", "p@town-it>q", "q")},
			[]string{`item a: nobody can start the item: its first step p names the role "town-it", which no one holds; set role to one of`}},
		{"later step nobody can take", []wuxiaov1.PowerItem{item("a", "p>q", "q@mayor")}, []string{`item a: nobody can do step q: it names the role "mayor"`}},
		{"a control that cannot be met is not a reason to refuse", []wuxiaov1.PowerItem{shortPosting()}, nil},
		{"loop with no way out", []wuxiaov1.PowerItem{item("a", "p>q,end", "q>r", "r>q", "end")},
			[]string{"step q leads into a loop", "step r leads into a loop"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Validate(&wuxiaov1.PowerCatalogSpec{Items: tc.items})
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems %q, want %d like %q", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// shortPosting is an item whose posting step must be done in 5 days while
// its posting stays up at least 7.
func shortPosting() wuxiaov1.PowerItem {
	it := item("short", "plan>posting", "posting")
	it.Steps[1].TimeLimit = &wuxiaov1.TimeLimit{Days: 5, Calendar: "calendar"}
	seven := int32(7)
	it.Controls = append(it.Controls, wuxiaov1.Control{ID: "posted", Step: "posting", Type: wuxiaov1.ControlPostingDuration, Norm: "n1", MinDays: &seven})
	return it
}

func TestRunProblems(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items []wuxiaov1.PowerItem
		want  []string
	}{
		{"runnable", []wuxiaov1.PowerItem{item("a", "p@villager>q", "q")}, nil},
		{"first step nobody can take", []wuxiaov1.PowerItem{item("a", "p@district-admin>q", "q")},
			[]string{`item a: nobody can start the item: its first step p names the role "district-admin"`}},
		{"unreachable step and no end", []wuxiaov1.PowerItem{item("a", "p>q", "q>p", "orphan")},
			[]string{"item a: step orphan cannot be reached from the first step p", "item a: step p leads into a loop", "item a: step q leads into a loop"}},
		{"posting longer than its step's time limit", []wuxiaov1.PowerItem{item("a", "p"), shortPosting()},
			[]string{"item short: step posting's time limit (5 calendar days) can end before the posting of control posted has been up for its minimum 7 days"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := RunProblems(&wuxiaov1.PowerCatalogSpec{Items: tc.items})
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems %q, want %d like %q", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestValidateDuplicateControlAndNormIDs(t *testing.T) {
	it := item("a", "p")
	it.Controls = append(it.Controls, it.Controls[0])
	it.Norms = append(it.Norms, it.Norms[0])
	got := Validate(&wuxiaov1.PowerCatalogSpec{Items: []wuxiaov1.PowerItem{it}})
	want := []string{`item a: control id "c1" is used twice`, `item a: norm id "n1" is used twice`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestValidateBoundsProblems(t *testing.T) {
	var items []wuxiaov1.PowerItem
	for i := 0; i < 50; i++ {
		items = append(items, item("same", "p>x"))
	}
	if got := Validate(&wuxiaov1.PowerCatalogSpec{Items: items}); len(got) != MaxProblems {
		t.Fatalf("got %d problems, want the first %d", len(got), MaxProblems)
	}
}

func TestCountByCategory(t *testing.T) {
	spec := &wuxiaov1.PowerCatalogSpec{Items: []wuxiaov1.PowerItem{
		{Category: wuxiaov1.CategoryFunds}, {Category: wuxiaov1.CategoryFunds}, {Category: wuxiaov1.CategoryService},
	}}
	got := CountByCategory(spec)
	if len(got) != 6 {
		t.Fatalf("want all 6 categories, got %v", got)
	}
	want := map[wuxiaov1.Category]int32{wuxiaov1.CategoryFunds: 2, wuxiaov1.CategoryService: 1}
	for _, c := range got {
		if c.Items != want[c.Category] {
			t.Errorf("%s: got %d, want %d", c.Category, c.Items, want[c.Category])
		}
	}
	if got[0].Category != wuxiaov1.CategoryDecision || got[5].Category != wuxiaov1.CategoryService {
		t.Errorf("categories not in the seed's order: %v", got)
	}
}
