package catalog

import (
	"fmt"
	"testing"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// fuzzSpec builds a catalog from bytes: each item takes a step count and,
// per step, a bitmask of next steps (indices past the item's steps name a
// step that does not exist); ids may repeat when dup says so.
func fuzzSpec(graph []byte, dup uint8) *wuxiaov1.PowerCatalogSpec {
	spec := &wuxiaov1.PowerCatalogSpec{Version: "fuzz"}
	for len(graph) > 0 && len(spec.Items) < 4 {
		n := int(graph[0] % 9)
		graph = graph[1:]
		item := wuxiaov1.PowerItem{ID: fmt.Sprintf("item-%d", len(spec.Items))}
		if dup&1 != 0 && len(spec.Items) > 0 {
			item.ID = "item-0"
		}
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("s%d", i)
			if dup&2 != 0 && i == n-1 && i > 0 {
				id = "s0"
			}
			s := wuxiaov1.Step{ID: id, Name: id, Role: wuxiaov1.ActorRole(wuxiaov1.RoleDirector)}
			var mask byte
			if len(graph) > 0 {
				mask, graph = graph[0], graph[1:]
			}
			for j := 0; j < 8; j++ {
				if mask&(1<<j) != 0 {
					s.Next = append(s.Next, fmt.Sprintf("s%d", j))
				}
			}
			item.Steps = append(item.Steps, s)
		}
		if dup&4 != 0 {
			item.Controls = []wuxiaov1.Control{{ID: "c"}, {ID: "c"}}
		}
		spec.Items = append(spec.Items, item)
	}
	return spec
}

// FuzzValidate: Validate never reports more than MaxProblems, and a catalog
// it accepts is one an instance can always finish: unique ids, every next
// step exists and is not the step itself, every step is reachable from the
// first and reaches an end.
func FuzzValidate(f *testing.F) {
	f.Add([]byte{3, 0b010, 0b100, 0}, uint8(0))     // a line
	f.Add([]byte{3, 0b010, 0b101, 0}, uint8(0))     // a rework loop that can end
	f.Add([]byte{3, 0b010, 0b001, 0}, uint8(0))     // s2 unreachable, s0/s1 never end
	f.Add([]byte{2, 0b1000_0000, 0}, uint8(0))      // next step that does not exist
	f.Add([]byte{2, 0b001, 0}, uint8(0))            // a step following itself
	f.Add([]byte{2, 0b10, 0, 2, 0b10, 0}, uint8(1)) // duplicate item ids
	f.Add([]byte{3, 0b10, 0b100, 0}, uint8(2|4))    // duplicate step and control ids
	f.Add([]byte{8, 255, 255, 255, 255, 255, 255, 255, 255, 8, 255, 255, 255, 255, 255, 255, 255, 255, 8, 1, 1, 1, 1, 1, 1, 1, 1}, uint8(7))
	f.Add([]byte{0}, uint8(0))
	f.Fuzz(func(t *testing.T, graph []byte, dup uint8) {
		spec := fuzzSpec(graph, dup)
		problems := Validate(spec)
		if len(problems) > MaxProblems {
			t.Fatalf("%d problems, more than %d", len(problems), MaxProblems)
		}
		if len(problems) > 0 {
			return
		}
		items := map[string]bool{}
		for _, it := range spec.Items {
			if items[it.ID] {
				t.Fatalf("accepted duplicate item id %s", it.ID)
			}
			items[it.ID] = true
			if len(it.Steps) == 0 {
				continue // the CRD's CEL rule refuses these
			}
			steps := map[string]*wuxiaov1.Step{}
			for i := range it.Steps {
				if steps[it.Steps[i].ID] != nil {
					t.Fatalf("accepted duplicate step id %s in %s", it.Steps[i].ID, it.ID)
				}
				steps[it.Steps[i].ID] = &it.Steps[i]
			}
			canEnd := map[string]bool{}
			for changed := true; changed; { // fixpoint: a step can end if it is an end or leads to one that can
				changed = false
				for _, s := range it.Steps {
					if canEnd[s.ID] {
						continue
					}
					ok := len(s.Next) == 0
					for _, n := range s.Next {
						if steps[n] == nil || n == s.ID {
							t.Fatalf("accepted %s → %q in %s", s.ID, n, it.ID)
						}
						ok = ok || canEnd[n]
					}
					if ok {
						canEnd[s.ID], changed = true, true
					}
				}
			}
			reached := map[string]bool{it.Steps[0].ID: true}
			for frontier := []string{it.Steps[0].ID}; len(frontier) > 0; frontier = frontier[1:] {
				for _, n := range steps[frontier[0]].Next {
					if !reached[n] {
						reached[n] = true
						frontier = append(frontier, n)
					}
				}
			}
			for _, s := range it.Steps {
				if !reached[s.ID] || !canEnd[s.ID] {
					t.Fatalf("accepted %s where step %s is unreachable (%v) or never ends (%v): %+v", it.ID, s.ID, !reached[s.ID], !canEnd[s.ID], it.Steps)
				}
			}
		}
		total := int32(0)
		for _, c := range CountByCategory(spec) {
			total += c.Items
		}
		if int(total) > len(spec.Items) {
			t.Fatalf("CountByCategory counts %d items of %d", total, len(spec.Items))
		}
	})
}
