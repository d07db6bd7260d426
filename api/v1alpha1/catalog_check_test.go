package v1alpha1

import (
	"strings"
	"testing"
)

// flowItem builds an item whose steps follow the given edges ("a>b,c"),
// each done by the director unless the edge says otherwise ("a@villager>b").
func flowItem(flow ...string) *PowerItem {
	it := &PowerItem{ID: "x"}
	for _, f := range flow {
		from, to, _ := strings.Cut(f, ">")
		id, role, ok := strings.Cut(from, "@")
		if !ok {
			role = string(RoleDirector)
		}
		s := Step{ID: id, Role: ActorRole(role)}
		if to != "" {
			s.Next = strings.Split(to, ",")
		}
		it.Steps = append(it.Steps, s)
	}
	return it
}

func TestFlowProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		item *PowerItem
		want []string // substrings, one per expected problem, in order
	}{
		{"a line", flowItem("p>q", "q>r", "r"), nil},
		{"a villager's application", flowItem("apply@villager>review", "review@committee-member>approve", "approve@town-official"), nil},
		{"branches and a rework loop with an exit", flowItem("p>q,r", "q>p,r", "r"), nil},
		{"no steps (CEL reports it)", &PowerItem{ID: "x"}, nil},
		{"first step's role nobody holds", flowItem("p@mayor>q", "q"),
			[]string{`nobody can start the item: its first step p names the role "mayor", which no one holds; set role to one of secretary, director,`}},
		{"first step of the district's staff", flowItem("p@district-admin>q", "q"),
			[]string{`nobody can start the item: its first step p names the role "district-admin"`}},
		{"a later step of town IT", flowItem("p>q", "q@town-it"), []string{`nobody can do step q: it names the role "town-it"`}},
		{"no role", flowItem("p@>q", "q"), []string{`its first step p names the role ""`}},
		{"duplicate step id", flowItem("p>q", "q", "q"), []string{`step id "q" is used twice`}},
		{"next step missing", flowItem("p>x"), []string{`step p: next step "x" does not exist`, "the process never ends"}},
		{"self loop", flowItem("p>p,q", "q"), []string{"step p: a step cannot follow itself"}},
		{"no end", flowItem("p>q", "q>p"), []string{"the process never ends"}},
		{"unreachable step", flowItem("p>q", "q", "orphan>q"),
			[]string{"step orphan cannot be reached from the first step p: list it in the next steps of a step before it, or remove it"}},
		{"loop with no way out", flowItem("p>q,end", "q>r", "r>q", "end"),
			[]string{"step q leads into a loop that never reaches an end step", "step r leads into a loop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.item.FlowProblems()
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

func TestControlProblems(t *testing.T) {
	days := func(n int32) *int32 { return &n }
	item := func(limit *TimeLimit, minDays *int32) *PowerItem {
		it := flowItem("plan>posting", "posting")
		it.Steps[1].TimeLimit = limit
		it.Controls = []Control{
			{ID: "order", Step: "posting", Type: ControlOrder},
			{ID: "posted", Step: "posting", Type: ControlPostingDuration, MinDays: minDays},
		}
		return it
	}
	for _, tc := range []struct {
		name string
		item *PowerItem
		want string
	}{
		{"no time limit", item(nil, days(7)), ""},
		{"time limit as long as the posting", item(&TimeLimit{Days: 7, Calendar: "calendar"}, days(7)), ""},
		{"time limit longer", item(&TimeLimit{Days: 12, Calendar: "calendar"}, days(7)), ""},
		{"no minimum (CEL refuses it)", item(&TimeLimit{Days: 5, Calendar: "calendar"}, nil), ""},
		{"time limit shorter", item(&TimeLimit{Days: 5, Calendar: "calendar"}, days(7)),
			"step posting's time limit (5 calendar days) can end before the posting of control posted has been up for its minimum 7 days: " +
				"instances get a deadline or posting-duration warning even when done as the item says; set the step's timeLimit to at least 7 calendar days (the days to publish plus the posting's)"},
		{"working days shorter", item(&TimeLimit{Days: 3, Calendar: "working"}, days(15)), "step posting's time limit (3 working days) can end before"},
		{"working days by default", item(&TimeLimit{Days: 3}, days(15)), "(3 working days)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.item.ControlProblems()
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("got %q, want none", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Fatalf("got %q, want one problem containing %q", got, tc.want)
			}
		})
	}
}
