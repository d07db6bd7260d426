package store

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Embedded is one set of migrations compiled into a binary: the files
// migrations/NNNNN_name.sql of FS, as every service and shared package
// embeds them (//go:embed migrations/*.sql).
type Embedded struct {
	Set string // the set's name, e.g. "workflow": its versions are in goose_<Set>
	FS  fs.FS  // holding the directory "migrations"
}

// MigrateEmbedded applies sets in order (see Migrate), stopping at the first
// that fails.
func MigrateEmbedded(ctx context.Context, pool *pgxpool.Pool, sets ...Embedded) error {
	for _, e := range sets {
		sub, err := fs.Sub(e.FS, "migrations")
		if err != nil {
			return fmt.Errorf("migrations %s: %w", e.Set, err)
		}
		if err := Migrate(ctx, pool, e.Set, sub); err != nil {
			return err
		}
	}
	return nil
}
