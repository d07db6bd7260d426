package workflow

import (
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

// ParseCatalog decodes and sanity-checks a resolved catalog document
// (api/v1alpha1's checks, shared with every service that reads it).
func ParseCatalog(data []byte) (*Catalog, error) {
	c, err := wuxiaov1.ParseResolvedCatalog(data)
	if err != nil {
		return nil, err
	}
	return &Catalog{ResolvedCatalog: *c}, nil
}
