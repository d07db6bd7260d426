// Package catalog checks a PowerCatalog beyond what its CRD schema can say:
// unique ids and, through api/v1alpha1's checks shared with the services, a
// flow every item can be started and finished by. The CEL rules in the CRD
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

// RunProblems returns, item by item, why an item cannot be run as written:
// what api/v1alpha1's FlowProblems (nobody can start it, a step no path
// reaches, no end) and ControlProblems (a control its own process cannot
// meet) report. They are what the ItemsRunnable condition shows.
func RunProblems(spec *wuxiaov1.PowerCatalogSpec) []string {
	var problems []string
	for i := range spec.Items {
		item := &spec.Items[i]
		for _, p := range append(item.FlowProblems(), item.ControlProblems()...) {
			if len(problems) < MaxProblems {
				problems = append(problems, fmt.Sprintf("item %s: %s", item.ID, p))
			}
		}
	}
	return problems
}

// validateItem returns what keeps an item from being used: a flow that
// cannot be started or finished, and ids used twice. (A control that
// cannot be met is a RunProblems entry, not a reason to refuse the
// catalog: its processes still run.)
func validateItem(item *wuxiaov1.PowerItem) []string {
	problems := item.FlowProblems()
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
	return problems
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
