// Package catalog checks a PowerCatalog beyond what its CRD schema can say:
// unique ids and a well-formed flow for every item. The CEL rules in the CRD
// already guarantee that every item has steps, controls, norms and bases.
package catalog

import (
	"fmt"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// MaxProblems bounds what Validate reports: a person fixes the first few and
// applies again; a wall of text helps nobody.
const MaxProblems = 20

// Validate returns the problems of a catalog, in item order; none means the
// catalog can be used.
func Validate(spec *wuxiaov1.PowerCatalogSpec) []string {
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < MaxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	seen := map[string]int{}
	for i := range spec.Items {
		item := &spec.Items[i]
		if j, dup := seen[item.ID]; dup {
			add("items[%d] and items[%d] share the id %q: item ids must be unique", j, i, item.ID)
		} else {
			seen[item.ID] = i
		}
		for _, p := range validateItem(item) {
			add("item %s: %s", item.ID, p)
		}
	}
	return problems
}

func validateItem(item *wuxiaov1.PowerItem) []string {
	var problems []string
	steps := map[string]*wuxiaov1.Step{}
	for i := range item.Steps {
		s := &item.Steps[i]
		if _, dup := steps[s.ID]; dup {
			problems = append(problems, fmt.Sprintf("step id %q is used twice", s.ID))
			continue
		}
		steps[s.ID] = s
	}
	for _, kind := range []struct {
		what string
		ids  []string
	}{
		{"control", controlIDs(item)},
		{"norm", normIDs(item)},
	} {
		if d := firstDuplicate(kind.ids); d != "" {
			problems = append(problems, fmt.Sprintf("%s id %q is used twice", kind.what, d))
		}
	}
	if len(item.Steps) == 0 {
		return problems // CEL reports this one with the seed's wording
	}

	ends := 0
	for i := range item.Steps {
		s := &item.Steps[i]
		if len(s.Next) == 0 {
			ends++
		}
		for _, n := range s.Next {
			if _, ok := steps[n]; !ok {
				problems = append(problems, fmt.Sprintf("step %s: next step %q does not exist", s.ID, n))
			}
			if n == s.ID {
				problems = append(problems, fmt.Sprintf("step %s: a step cannot follow itself", s.ID))
			}
		}
	}
	if ends == 0 {
		problems = append(problems, "the process never ends: at least one step must have no next step")
	}

	// Every step must be reachable from the first, and from every step an end
	// must be reachable; otherwise instances can get stuck for good.
	reached := walk(item.Steps[0].ID, func(id string) []string {
		if s := steps[id]; s != nil {
			return s.Next
		}
		return nil
	})
	for i := range item.Steps {
		if !reached[item.Steps[i].ID] {
			problems = append(problems, fmt.Sprintf("step %s cannot be reached from the first step %s", item.Steps[i].ID, item.Steps[0].ID))
		}
	}
	if ends > 0 {
		prev := map[string][]string{}
		var endIDs []string
		for i := range item.Steps {
			s := &item.Steps[i]
			if len(s.Next) == 0 {
				endIDs = append(endIDs, s.ID)
			}
			for _, n := range s.Next {
				prev[n] = append(prev[n], s.ID)
			}
		}
		canEnd := map[string]bool{}
		for _, e := range endIDs {
			for id := range walk(e, func(id string) []string { return prev[id] }) {
				canEnd[id] = true
			}
		}
		for i := range item.Steps {
			if id := item.Steps[i].ID; reached[id] && !canEnd[id] {
				problems = append(problems, fmt.Sprintf("step %s leads into a loop that never reaches an end step", id))
			}
		}
	}
	return problems
}

// walk returns every node reachable from start.
func walk(start string, next func(string) []string) map[string]bool {
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

func controlIDs(item *wuxiaov1.PowerItem) []string {
	ids := make([]string, len(item.Controls))
	for i, c := range item.Controls {
		ids[i] = c.ID
	}
	return ids
}

func normIDs(item *wuxiaov1.PowerItem) []string {
	ids := make([]string, len(item.Norms))
	for i, n := range item.Norms {
		ids[i] = n.ID
	}
	return ids
}

func firstDuplicate(ids []string) string {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return id
		}
		seen[id] = true
	}
	return ""
}

// CountByCategory returns the number of items per category, in the seed's
// order, omitting none: an empty category shows as 0.
func CountByCategory(spec *wuxiaov1.PowerCatalogSpec) []wuxiaov1.CategoryCount {
	n := map[wuxiaov1.Category]int32{}
	for i := range spec.Items {
		n[spec.Items[i].Category]++
	}
	out := make([]wuxiaov1.CategoryCount, 0, len(wuxiaov1.AllCategories))
	for _, c := range wuxiaov1.AllCategories {
		out = append(out, wuxiaov1.CategoryCount{Category: c, Items: n[c]})
	}
	return out
}
