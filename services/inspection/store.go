package inspection

// The store: the schema's migrations and what every feature's store file
// (*_store.go) shares. Only the *_store.go files, registry.go (the village
// registry the tenant stream feeds) and rules_change.go (re-grading under
// new rules) hold SQL; handlers (*_handlers.go) call them.

import (
	"context"
	"embed"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/internal/keys"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the inspection schema's migrations, after those of the
// service's key fingerprints (keys.Check), which live in its schema too.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return store.MigrateEmbedded(ctx, pool, keys.Migrations, store.Embedded{Set: "inspection", FS: migrationFiles})
}

// ErrNotFound: no such record.
var ErrNotFound = errors.New("not found")

// querier is what both a pool and a transaction offer.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// rowsQuerier is a pool or a transaction, for queries of many rows.
type rowsQuerier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}
