package platform_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/platform"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/workflow"
)

var migrations = map[string]func(context.Context, *pgxpool.Pool) error{
	"workflow": workflow.Migrate, "disclosure": disclosure.Migrate, "complaint": complaint.Migrate, "inspection": inspection.Migrate,
}

// town sets up a database as the operator does (operator/internal/
// provision, EnsureTownDatabase): a migration role owning it and one role
// per service that may only connect. The test server trusts local
// connections: privileges, not passwords, are under test.
func town(t *testing.T) (migrationURL string, roleURL, role map[string]string) {
	t.Helper()
	ctx := context.Background()
	db := testinfra.Postgres(t)
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dbname string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&dbname); err != nil {
		t.Fatal(err)
	}
	d := pgx.Identifier{dbname}.Sanitize()
	owner := testinfra.UniqueName("mig_")
	stmts := []string{"CREATE ROLE " + owner + " LOGIN", "ALTER DATABASE " + d + " OWNER TO " + owner,
		"REVOKE CONNECT, TEMPORARY ON DATABASE " + d + " FROM PUBLIC"}
	as := func(r string) string {
		u, _ := url.Parse(db)
		u.User = url.User(r)
		return u.String()
	}
	roleURL, role = map[string]string{}, map[string]string{}
	all := []string{owner}
	for svc := range migrations {
		r := owner + "_" + svc
		role[svc], roleURL[svc] = r, as(r)
		all = append(all, r)
		stmts = append(stmts, "CREATE ROLE "+r+" LOGIN", "GRANT CONNECT ON DATABASE "+d+" TO "+r)
	}
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testinfra.Require(t, testinfra.EnvPostgresURL))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+d+" WITH (FORCE)")
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+strings.Join(all, ", "))
	})
	return as(owner), roleURL, role
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// The four init containers (platform.Migrate with the real migrations and
// store.Grant) started together, then what each service's role may do: a
// portal's role reads none of inspection's tables (the integrity files),
// the workflow's role cannot rewrite its audit trail, the inspection's
// role reads it and writes nothing to it. As the migration role (the one
// role every service used before) each refused statement succeeds.
func TestServiceRolesAfterMigrate(t *testing.T) {
	ctx := context.Background()
	migrationURL, roleURL, role := town(t)
	var wg sync.WaitGroup
	errs := map[string]error{}
	var mu sync.Mutex
	for svc, m := range migrations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := &config.Base{Service: svc, Town: "t", DatabaseURL: migrationURL, MigrateOnly: true, DatabaseAppRole: role[svc], LogLevel: "error"}
			err := platform.Migrate(ctx, base, svc, m)
			mu.Lock()
			errs[svc] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for svc, err := range errs {
		if err != nil {
			t.Fatalf("migrating %s: %v", svc, err)
		}
	}

	conn := func(svc string) *pgx.Conn {
		cfg, err := pgx.ParseConfig(roleURL[svc])
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["search_path"] = svc
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("connecting as %s's role: %v", svc, err)
		}
		t.Cleanup(func() { _ = c.Close(ctx) })
		return c
	}
	insertAudit := `INSERT INTO workflow.audit (instance_id, seq, at, actor_id, actor_role, action, data, prev_hash, hash)
		VALUES ((SELECT id FROM workflow.instances LIMIT 1), 1, now(), 'a', 'secretary', 'started', '{}', '', 'h')`
	cases := []struct {
		svc, query string
		allowed    bool
	}{
		// The portals cannot read the integrity files, nor anything else of
		// inspection's, nor each other's or the workflow's tables.
		{"disclosure", "SELECT count(*) FROM inspection.integrity_files", false},
		{"disclosure", "SELECT count(*) FROM inspection.integrity_sections", false},
		{"disclosure", "SELECT count(*) FROM inspection.ratings", false},
		{"complaint", "SELECT count(*) FROM inspection.integrity_files", false},
		{"complaint", "SELECT count(*) FROM inspection.integrity_relatives", false},
		{"complaint", "SELECT count(*) FROM workflow.audit", false},
		{"complaint", "SELECT count(*) FROM disclosure.subsidy_payments", false},
		{"disclosure", "SELECT count(*) FROM complaint.complaints", false},
		{"workflow", "SELECT count(*) FROM inspection.integrity_files", false},
		// Each reads its own.
		{"disclosure", "SELECT count(*) FROM ledger_entries", true},
		{"complaint", "SELECT count(*) FROM complaints", true},
		{"inspection", "SELECT count(*) FROM integrity_files", true},
		// The workflow's audit trail: appended and read, never rewritten.
		{"workflow", "INSERT INTO villages (code, town, name) VALUES ('330213100201', 'xikou', '溪口村')", true},
		{"workflow", "SELECT count(*) FROM audit", true},
		{"workflow", "ALTER TABLE audit DISABLE TRIGGER audit_append_only", false},
		{"workflow", "ALTER TABLE audit DISABLE TRIGGER USER", false},
		{"workflow", "TRUNCATE audit", false},
		{"workflow", "DELETE FROM audit", false},
		{"workflow", "UPDATE audit SET hash = 'x'", false},
		{"workflow", "ALTER TABLE audit ADD COLUMN forged text", false},
		{"workflow", "DROP TABLE audit", false},
		{"workflow", "CREATE TABLE audit_copy (id int)", false},
		{"workflow", "CREATE TABLE public.audit_copy (id int)", false},
		{"workflow", "CREATE TEMP TABLE audit_copy (id int)", false},
		{"workflow", "CREATE SCHEMA forged", false},
		{"workflow", "TRUNCATE outbox", false},
		{"workflow", "DELETE FROM goose_workflow", false},
		// The inspection's role reads the audit trail (its anchors'
		// verifier), writes nothing there, and sees nothing else of the
		// workflow's.
		{"inspection", "SELECT count(*) FROM workflow.audit", true},
		{"inspection", insertAudit, false},
		{"inspection", "SELECT count(*) FROM workflow.instances", false},
		// Immutable ledgers and the integrity audit: appended only.
		{"disclosure", "DELETE FROM ledger_entries", false},
		{"disclosure", "UPDATE subsidy_payments SET amount_fen = 1", false},
		{"inspection", "DELETE FROM integrity_audit", false},
		{"inspection", "UPDATE integrity_sections SET version = 0", false},
		{"complaint", "DELETE FROM transitions", false},
		{"complaint", "DELETE FROM attachment_reads", false},
		// The outbox is not append-only: the relay clears what it published.
		{"complaint", "DELETE FROM outbox WHERE false", true},
	}
	for _, c := range cases {
		_, err := conn(c.svc).Exec(ctx, c.query)
		switch {
		case c.allowed && err != nil:
			t.Errorf("%s's role: %s: %v", c.svc, c.query, err)
		case !c.allowed && pgCode(err) != "42501":
			t.Errorf("%s's role: %s: %v, want permission denied (42501)", c.svc, c.query, err)
		}
	}
	// Every refused statement is one the shared role could run: check the
	// refusals are the roles' doing, inside a transaction rolled back.
	mig, err := pgx.Connect(ctx, migrationURL)
	if err != nil {
		t.Fatal(err)
	}
	defer mig.Close(ctx)
	for _, c := range cases {
		if c.allowed || strings.Contains(c.query, "TEMP") {
			continue
		}
		tx, err := mig.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+c.svc); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, c.query); pgCode(err) == "42501" {
			t.Errorf("the migration role is refused %s too: the case tests nothing", c.query)
		}
		_ = tx.Rollback(ctx)
	}
}
