package v1alpha1

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The resolved catalog's place: the operator writes it into each town's
// ConfigMap CatalogConfigMapName under CatalogFileKey and mounts that at
// CatalogMountPath; the services read the file WUXIAO_CATALOG_FILE names.
const (
	CatalogConfigMapName = "power-catalog"
	CatalogFileKey       = "catalog.json"
	CatalogMountPath     = "/etc/wuxiao/catalog"
)

// ParseResolvedCatalog decodes and sanity-checks the resolved catalog
// document, for every service that reads it. The CRD's validation has
// already refused a bad PowerCatalog; these checks catch a hand-edited or
// truncated ConfigMap before a service serves from it.
func ParseResolvedCatalog(data []byte) (*ResolvedCatalog, error) {
	var c ResolvedCatalog
	if err := json.Unmarshal(data, &c); err != nil {
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
		// An item nobody can start, or whose instances get stuck, would
		// fail only when a villager or cadre tries it: refuse it here.
		if p := it.FlowProblems(); len(p) > 0 {
			return nil, fmt.Errorf("power catalog %q: item %s: %s", c.Name, it.ID, strings.Join(p, "; "))
		}
	}
	return &c, nil
}
