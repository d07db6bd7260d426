// Package store opens the service's PostgreSQL pool and applies its
// versioned migrations. Every service owns one schema in the town's database;
// migrations run at start-up under an advisory lock, so replicas starting
// together never race.
package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

var identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Option adjusts the pool's configuration.
type Option func(*pgxpool.Config)

// WithTracer traces every query (e.g. telemetry.PgxTracer()). Several
// tracers are combined (multitracer), after the pool's own (rest.go).
func WithTracer(t pgx.QueryTracer) Option {
	return func(c *pgxpool.Config) {
		switch prev := c.ConnConfig.Tracer.(type) {
		case nil:
			c.ConnConfig.Tracer = t
		case *multitracer.Tracer:
			c.ConnConfig.Tracer = multitracer.New(append(prev.QueryTracers, t)...)
		default:
			c.ConnConfig.Tracer = multitracer.New(prev, t)
		}
	}
}

// Open connects to url with search_path set to schema (created if missing)
// and checks the connection.
func Open(ctx context.Context, url, schema string, opts ...Option) (*pgxpool.Pool, error) {
	if !identPattern.MatchString(schema) {
		return nil, fmt.Errorf("schema %q: use lower-case letters, digits and _", schema)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = "wuxiao-" + schema
	idlePool(cfg, url)
	cfg.ConnConfig.Tracer = restTracer{}
	for _, o := range opts {
		o(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Only a missing schema is created: a service's own role (see Grant)
	// may not create anything, and finds its schema made by the migration
	// role.
	var exists bool
	err = pool.QueryRow(pingCtx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists)
	if err == nil && !exists {
		_, err = pool.Exec(pingCtx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "23505":
			err = nil // another replica created it at the same moment
		case errors.As(err, &pgErr) && pgErr.Code == "42501":
			err = fmt.Errorf("schema %s does not exist and %s may not create it: run the migrations as the migration role first (WUXIAO_MIGRATE_ONLY): %w",
				schema, cfg.ConnConfig.User, err)
		}
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// Idle connections go back to the server (issue 18: a district at rest
// holds at most half of PostgreSQL's connections). pgxpool keeps an idle
// connection 30 minutes and looks every minute; a pool then holds, at
// rest, every connection its busiest moment opened. With these it holds
// what its periodic work uses (the health probe and the timers, every
// 15 s, keep one), and the others close within IdleConnTimeout +
// IdleCheckPeriod after the work that opened them. Settings in the URL
// (pool_max_conn_idle_time, pool_health_check_period, pool_min_conns)
// win.
const (
	IdleConnTimeout = 30 * time.Second
	IdleCheckPeriod = 10 * time.Second
)

func idlePool(cfg *pgxpool.Config, url string) {
	if !strings.Contains(url, "pool_max_conn_idle_time") {
		cfg.MaxConnIdleTime = IdleConnTimeout
	}
	if !strings.Contains(url, "pool_health_check_period") {
		cfg.HealthCheckPeriod = IdleCheckPeriod
	}
	if !strings.Contains(url, "pool_min_conns") {
		cfg.MinConns = 0 // pgxpool's default; stated, since it is what lets a pool empty
	}
}

// WithMaxConns caps the pool (the migration init container needs one
// connection: goose runs SQL migrations on the connection holding its lock).
func WithMaxConns(n int32) Option {
	return func(c *pgxpool.Config) { c.MaxConns = n }
}

// Migrate applies the migrations of one set (e.g. "workflow", "events")
// found at the root of fsys (files NNNNN_name.sql in goose format). Each set
// keeps its own version table, goose_<set>, in the pool's schema.
func Migrate(ctx context.Context, pool *pgxpool.Pool, set string, fsys fs.FS) error {
	if !identPattern.MatchString(set) {
		return fmt.Errorf("migration set %q: use lower-case letters, digits and _", set)
	}
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
	h := fnv.New64a()
	_, _ = h.Write([]byte("wuxiao/" + schema + "/" + set))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64() >> 1)))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithTableName("goose_"+set), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations %s: %w", set, err)
	}
	// A role that may not create in the schema (a service's own role, see
	// Grant) runs no DDL: it only checks that the migration role has
	// applied everything this binary expects.
	var canCreate bool
	if err := pool.QueryRow(ctx, "SELECT coalesce(has_schema_privilege(current_schema(), 'CREATE'), false)").Scan(&canCreate); err != nil {
		return fmt.Errorf("migrations %s: schema %s: %w", set, schema, err)
	}
	if !canCreate {
		pending, err := p.HasPending(ctx)
		if err != nil {
			return fmt.Errorf("checking migrations %s of schema %s: %w", set, schema, err)
		}
		if pending {
			return fmt.Errorf("schema %s lacks migrations %s this version needs, and %s may not apply them: run the migration init container (WUXIAO_MIGRATE_ONLY) first",
				schema, set, pool.Config().ConnConfig.User)
		}
		return nil
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("applying migrations %s to schema %s: %w", set, schema, err)
	}
	return nil
}

// InTx runs fn in a transaction, committing when it returns nil. A
// serialization failure or deadlock is retried a few times: both mean
// "try again", not "you did something wrong".
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		err = pgx.BeginFunc(ctx, pool, fn)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "40001" && pgErr.Code != "40P01") {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	return err
}
