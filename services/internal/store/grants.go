package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Privileges is what one service's own database role may do. Every
// service's role gets, in its own schema only: USAGE on the schema,
// SELECT, INSERT, UPDATE and DELETE on its tables, USAGE and SELECT on its
// sequences, SELECT on its goose version tables. Never TRUNCATE, TRIGGER or
// REFERENCES, never CREATE on any schema, never ownership: the tables
// belong to the town's migration role, so the service's role can neither
// alter them nor disable their triggers.
type Privileges struct {
	// AppendOnly tables get SELECT and INSERT only: their rows are
	// evidence (an audit trail, an immutable ledger), which a trigger
	// already refuses to change; without UPDATE and DELETE the service's
	// role cannot change them even with the trigger gone.
	AppendOnly []string
	// Reads are tables of other services' schemas ("schema.table") the role
	// may SELECT, and nothing else there.
	Reads []string
}

// ServicePrivileges declares, in one place, the privileges of each
// service's role beyond the common ones, by schema. The outbox and inbox
// (services/internal/events) are not append-only: the relay deletes what
// it published, consumers record positions.
var ServicePrivileges = map[string]Privileges{
	"workflow":   {AppendOnly: []string{"audit"}},
	"disclosure": {AppendOnly: []string{"ledger_entries", "subsidy_payments"}},
	"complaint":  {AppendOnly: []string{"transitions", "attachment_reads"}},
	// The inspection service verifies the workflow's audit chain against
	// the anchors it keeps (SELECT workflow.audit, no more).
	"inspection": {AppendOnly: []string{"integrity_audit", "integrity_sections", "selection_checks"}, Reads: []string{"workflow.audit"}},
}

// MissingTableError is returned by Grant when a table another service's
// migrations create (one of Privileges.Reads) does not exist yet: the
// caller retries once that service's migrations have run.
type MissingTableError struct{ Table string }

func (e *MissingTableError) Error() string {
	return fmt.Sprintf("table %s does not exist yet (its service's migrations have not run)", e.Table)
}

// Grant gives role exactly the privileges of the service whose schema the
// pool uses (its search_path), taking back any others it has there, in one
// transaction. It runs as the migration role, which owns the schema and
// its tables, after every migration: so tables added by a migration are
// covered (default privileges cover them too, and Grant takes back what
// they give an append-only table). It also takes CREATE on the public
// schema from PUBLIC, so no role can create tables there.
func Grant(ctx context.Context, pool *pgxpool.Pool, role string) error {
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
	if !identPattern.MatchString(schema) {
		return fmt.Errorf("grant: the pool's schema %q is not a service schema", schema)
	}
	if role == "" || role == pool.Config().ConnConfig.User {
		return fmt.Errorf("grant: role %q must be the service's own role, not the migration role", role)
	}
	privs := ServicePrivileges[schema]
	s, r := pgx.Identifier{schema}.Sanitize(), pgx.Identifier{role}.Sanitize()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := lockGrants(ctx, tx); err != nil {
			return err
		}
		var isSuper, owns bool
		if err := tx.QueryRow(ctx, `SELECT rolsuper, EXISTS (SELECT FROM pg_namespace n WHERE n.nspowner = r.oid)
			FROM pg_roles r WHERE rolname = $1`, role).Scan(&isSuper, &owns); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("grant: role %s does not exist", role)
			}
			return err
		}
		if isSuper || owns {
			return fmt.Errorf("grant: role %s is a superuser or owns a schema; a service's role must own nothing", role)
		}
		var tables, appendOnly, versions []string
		rows, err := tx.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, schema)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, t := range names {
			q := s + "." + pgx.Identifier{t}.Sanitize()
			switch {
			case strings.HasPrefix(t, "goose_"):
				versions = append(versions, q)
			case slices.Contains(privs.AppendOnly, t):
				appendOnly = append(appendOnly, q)
			default:
				tables = append(tables, q)
			}
		}
		stmts := []string{
			"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
			"REVOKE ALL ON SCHEMA " + s + " FROM " + r,
			"GRANT USAGE ON SCHEMA " + s + " TO " + r,
			"REVOKE ALL ON ALL TABLES IN SCHEMA " + s + " FROM " + r,
			"REVOKE ALL ON ALL SEQUENCES IN SCHEMA " + s + " FROM " + r,
			"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + s + " TO " + r,
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + r,
			"ALTER DEFAULT PRIVILEGES IN SCHEMA " + s + " GRANT USAGE, SELECT ON SEQUENCES TO " + r,
		}
		if len(tables) > 0 {
			stmts = append(stmts, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+strings.Join(tables, ", ")+" TO "+r)
		}
		if len(appendOnly) > 0 {
			stmts = append(stmts, "GRANT SELECT, INSERT ON "+strings.Join(appendOnly, ", ")+" TO "+r)
		}
		if len(versions) > 0 {
			// Read only: the serving container checks that nothing is pending.
			stmts = append(stmts, "GRANT SELECT ON "+strings.Join(versions, ", ")+" TO "+r)
		}
		for _, st := range stmts {
			if _, err := tx.Exec(ctx, st); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("granting %s its privileges in schema %s: %w", role, schema, err)
	}
	for _, t := range privs.Reads {
		if err := grantRead(ctx, pool, t, r); err != nil {
			return err
		}
	}
	return nil
}

// grantRead lets r SELECT one table of another schema ("schema.table").
func grantRead(ctx context.Context, pool *pgxpool.Pool, table, r string) error {
	schema, name, ok := strings.Cut(table, ".")
	if !ok || !identPattern.MatchString(schema) || !identPattern.MatchString(name) {
		return fmt.Errorf("grant: %q is not schema.table", table)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := lockGrants(ctx, tx); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_tables WHERE schemaname = $1 AND tablename = $2)`, schema, name).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return &MissingTableError{Table: table}
		}
		s, q := pgx.Identifier{schema}.Sanitize(), pgx.Identifier{schema, name}.Sanitize()
		for _, st := range []string{"GRANT USAGE ON SCHEMA " + s + " TO " + r, "GRANT SELECT ON " + q + " TO " + r} {
			if _, err := tx.Exec(ctx, st); err != nil {
				return fmt.Errorf("granting %s: %s: %w", table, st, err)
			}
		}
		return nil
	})
}

// lockGrants serializes the grants of a database's init containers, which
// start together: two transactions changing one schema's privileges at
// once fail ("tuple concurrently updated").
func lockGrants(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('wuxiao/grants/' || current_database(), 0))`)
	return err
}
