package v1alpha1

import (
	"fmt"
	"slices"
	"strings"
)

// StepRoles are the roles a step may name (the ActorRole enum): the village
// officials', the town staff's who act on processes (town-official,
// town-finance, town-discipline), and the villager's. Each is a role of
// api/identity that someone holds; the other identity roles (town IT, the
// district's) never act on a village's process.
var StepRoles = []ActorRole{
	ActorRole(RoleSecretary), ActorRole(RoleDirector), ActorRole(RoleCommitteeMember), ActorRole(RoleAccountant),
	ActorRole(RoleCashier), ActorRole(RoleSupervisionChair), ActorRole(RoleLiaisonOfficer),
	"town-official", "town-finance", "town-discipline",
	"villager",
}

// Valid reports whether a step naming r can be done by someone.
func (r ActorRole) Valid() bool { return slices.Contains(StepRoles, r) }

func stepRoleList() string {
	names := make([]string, len(StepRoles))
	for i, r := range StepRoles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// FlowProblems returns why instances of the item could not be started or
// could get stuck: a step nobody can take (its role is held by no one), a
// next step that does not exist, a step no path from the first step
// reaches, no end step, or a loop with no way to an end. Each message
// names the step and says what to change; none means every instance can
// be started and run to an end by the roles the item names.
func (it *PowerItem) FlowProblems() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(it.Steps) == 0 {
		return nil // the CRD's CEL rule reports it with the seed's wording
	}
	steps := map[string]*Step{}
	for i := range it.Steps {
		s := &it.Steps[i]
		if _, dup := steps[s.ID]; dup {
			add("step id %q is used twice: give each step its own id", s.ID)
			continue
		}
		steps[s.ID] = s
	}
	for i := range it.Steps {
		s := &it.Steps[i]
		if s.Role.Valid() {
			continue
		}
		if i == 0 {
			add("nobody can start the item: its first step %s names the role %q, which no one holds; set role to one of %s", s.ID, s.Role, stepRoleList())
		} else {
			add("nobody can do step %s: it names the role %q, which no one holds; set role to one of %s", s.ID, s.Role, stepRoleList())
		}
	}

	ends := 0
	for i := range it.Steps {
		s := &it.Steps[i]
		if len(s.Next) == 0 {
			ends++
		}
		for _, n := range s.Next {
			if _, ok := steps[n]; !ok {
				add("step %s: next step %q does not exist; name one of the item's steps or remove it", s.ID, n)
			}
			if n == s.ID {
				add("step %s: a step cannot follow itself; remove %q from its next steps", s.ID, n)
			}
		}
	}
	if ends == 0 {
		add("the process never ends: at least one step must have no next step")
	}

	// Every step must be reachable from the first, and from every step an
	// end must be reachable; otherwise instances can get stuck for good.
	first := it.Steps[0].ID
	reached := reachable(first, func(id string) []string {
		if s := steps[id]; s != nil {
			return s.Next
		}
		return nil
	})
	for i := range it.Steps {
		if id := it.Steps[i].ID; !reached[id] {
			add("step %s cannot be reached from the first step %s: list it in the next steps of a step before it, or remove it", id, first)
		}
	}
	if ends == 0 {
		return problems
	}
	prev := map[string][]string{}
	for i := range it.Steps {
		for _, n := range it.Steps[i].Next {
			prev[n] = append(prev[n], it.Steps[i].ID)
		}
	}
	canEnd := map[string]bool{}
	for i := range it.Steps {
		if s := &it.Steps[i]; len(s.Next) == 0 {
			for id := range reachable(s.ID, func(id string) []string { return prev[id] }) {
				canEnd[id] = true
			}
		}
	}
	for i := range it.Steps {
		if id := it.Steps[i].ID; reached[id] && !canEnd[id] {
			add("step %s leads into a loop that never reaches an end step: give one of the loop's steps a next step out of it", id)
		}
	}
	return problems
}

// ControlProblems returns controls that a process run exactly as the item
// says cannot satisfy: a posting step whose time limit ends before the
// posting's minimum period does (the step is the posting: it is done when
// the posting comes down), so that every instance raises a deadline or a
// posting-duration warning.
func (it *PowerItem) ControlProblems() []string {
	var problems []string
	for _, c := range it.Controls {
		if c.Type != ControlPostingDuration || c.MinDays == nil {
			continue
		}
		s := it.Step(c.Step)
		if s == nil || s.TimeLimit == nil || s.TimeLimit.Days >= *c.MinDays {
			continue
		}
		unit := "calendar"
		if s.TimeLimit.Calendar != "calendar" {
			unit = "working"
		}
		problems = append(problems, fmt.Sprintf("step %s's time limit (%d %s days) can end before the posting of control %s has been up for its minimum %d days: "+
			"instances get a deadline or posting-duration warning even when done as the item says; set the step's timeLimit to at least %d calendar days (the days to publish plus the posting's)",
			s.ID, s.TimeLimit.Days, unit, c.ID, *c.MinDays, *c.MinDays))
	}
	return problems
}

// reachable returns every node reachable from start, start included.
func reachable(start string, next func(string) []string) map[string]bool {
	seen := map[string]bool{start: true}
	queue := []string{start}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, n := range next(id) {
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	return seen
}
