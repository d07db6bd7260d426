package workflow

import (
	"encoding/json"
	"fmt"
	"os"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// Catalog is the power list in force in this town ("清单之外无权力": a
// process can only be started for an item on it).
type Catalog struct {
	wuxiaov1.ResolvedCatalog
}

// LoadCatalog reads the resolved catalog the operator mounts.
func LoadCatalog(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("power catalog: %w", err)
	}
	return ParseCatalog(data)
}

// ParseCatalog decodes and sanity-checks a resolved catalog document. The
// operator only ships catalogs it has validated; these checks guard the
// service against a hand-edited ConfigMap.
func ParseCatalog(data []byte) (*Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(data, &c.ResolvedCatalog); err != nil {
		return nil, fmt.Errorf("power catalog: %w", err)
	}
	if c.Version == "" || len(c.Items) == 0 {
		return nil, fmt.Errorf("power catalog %q: no version or no items", c.Name)
	}
	seen := map[string]bool{}
	for i := range c.Items {
		it := &c.Items[i]
		if seen[it.ID] {
			return nil, fmt.Errorf("power catalog %q: item %s listed twice", c.Name, it.ID)
		}
		seen[it.ID] = true
		if len(it.Steps) == 0 {
			return nil, fmt.Errorf("power catalog %q: item %s has no steps", c.Name, it.ID)
		}
		for _, s := range it.Steps {
			for _, n := range s.Next {
				if it.Step(n) == nil {
					return nil, fmt.Errorf("power catalog %q: item %s step %s leads to unknown step %s", c.Name, it.ID, s.ID, n)
				}
			}
		}
	}
	return &c, nil
}
