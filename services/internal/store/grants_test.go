package store

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// roles creates login roles for the test (roles are global to the server)
// and returns the URL of db as each; the test server trusts local
// connections, so privileges, not passwords, are what is tested.
func roles(t *testing.T, dbURL string, names ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var dbname string
	if err := admin.QueryRow(ctx, "SELECT current_database()").Scan(&dbname); err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{}
	for _, n := range names {
		role := testinfra.UniqueName(n + "_")
		ident := pgx.Identifier{role}.Sanitize()
		if _, err := admin.Exec(ctx, "CREATE ROLE "+ident+" LOGIN"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c, err := pgx.Connect(context.Background(), testinfra.Require(t, testinfra.EnvPostgresURL))
			if err != nil {
				return
			}
			defer c.Close(context.Background())
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{dbname}.Sanitize()+" WITH (FORCE)")
			_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+ident)
		})
		u, _ := url.Parse(dbURL)
		u.User = url.User(role)
		urls[n] = u.String()
	}
	return urls
}

var workflowLike = fstest.MapFS{
	"00001_init.sql": {Data: []byte(`-- +goose Up
CREATE TABLE instances (id int PRIMARY KEY, title text NOT NULL);
CREATE TABLE audit (id bigserial PRIMARY KEY, instance_id int NOT NULL REFERENCES instances (id), hash text NOT NULL);
-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append-only';
END $$;
-- +goose StatementEnd
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
`)},
}

func code(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// The migration role owns the schema; the service's role granted by Grant
// can read and append to the audit trail and do nothing else to it, and
// creates nothing anywhere. Each statement below succeeds as the owner (the
// role every service used before), so each refusal is Grant's doing.
func TestGrantLeastPrivilege(t *testing.T) {
	ctx := context.Background()
	db := testinfra.Postgres(t)
	u := roles(t, db, "owner", "app", "reader")
	admin, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var dbname string
	_ = admin.QueryRow(ctx, "SELECT current_database()").Scan(&dbname)
	owner := strings.TrimPrefix(strings.Split(u["owner"], "@")[0], "postgres://")
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{dbname}.Sanitize()+" OWNER TO "+pgx.Identifier{owner}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	_ = admin.Close(ctx)

	mig, err := Open(ctx, u["owner"], "workflow")
	if err != nil {
		t.Fatal(err)
	}
	defer mig.Close()
	if err := Migrate(ctx, mig, "workflow", workflowLike); err != nil {
		t.Fatal(err)
	}
	appRole := strings.TrimPrefix(strings.Split(u["app"], "@")[0], "postgres://")
	if err := Grant(ctx, mig, appRole); err != nil {
		t.Fatal(err)
	}
	if err := Grant(ctx, mig, appRole); err != nil { // idempotent
		t.Fatalf("second grant: %v", err)
	}
	if err := Grant(ctx, mig, owner); err == nil {
		t.Error("Grant accepted the migration role itself as the service's role")
	}

	// As the service's role: Open and Migrate run no DDL and succeed.
	app, err := Open(ctx, u["app"], "workflow")
	if err != nil {
		t.Fatalf("the service's role cannot open its schema: %v", err)
	}
	defer app.Close()
	if err := Migrate(ctx, app, "workflow", workflowLike); err != nil {
		t.Fatalf("the service's role with nothing pending: %v", err)
	}
	newer := fstest.MapFS{"00001_init.sql": workflowLike["00001_init.sql"], "00002_more.sql": {Data: []byte("-- +goose Up\nCREATE TABLE more (id int);\n")}}
	if err := Migrate(ctx, app, "workflow", newer); err == nil || !strings.Contains(err.Error(), "WUXIAO_MIGRATE_ONLY") {
		t.Fatalf("the service's role with a migration pending: %v, want an error naming the init container", err)
	}
	allowed := []string{
		"INSERT INTO instances VALUES (1, 'a')",
		"UPDATE instances SET title = 'b'",
		"INSERT INTO audit (instance_id, hash) VALUES (1, 'h1')",
		"SELECT count(*) FROM audit",
		"SELECT version_id FROM goose_workflow",
	}
	for _, q := range allowed {
		if _, err := app.Exec(ctx, q); err != nil {
			t.Errorf("%s as the service's role: %v", q, err)
		}
	}
	refused := []string{
		"ALTER TABLE audit DISABLE TRIGGER audit_append_only",
		"TRUNCATE audit",
		"DELETE FROM audit",
		"UPDATE audit SET hash = 'x'",
		"ALTER TABLE audit ADD COLUMN x int",
		"DROP TABLE audit",
		"CREATE TABLE workflow.evil (id int)",
		"CREATE TABLE public.evil (id int)",
		"CREATE SCHEMA evil",
		"TRUNCATE instances",
		"DELETE FROM goose_workflow",
		"ALTER TABLE instances OWNER TO " + pgx.Identifier{appRole}.Sanitize(),
	}
	for _, q := range refused {
		if _, err := app.Exec(ctx, q); code(err) != "42501" {
			t.Errorf("%s as the service's role: %v, want permission denied (42501)", q, err)
		}
	}

	// A table a later migration adds is covered by the next Grant (the
	// init container grants after every migration).
	if err := Migrate(ctx, mig, "workflow", newer); err != nil {
		t.Fatal(err)
	}
	if err := Grant(ctx, mig, appRole); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Exec(ctx, "INSERT INTO more VALUES (1)"); err != nil {
		t.Errorf("a table of a later migration: %v", err)
	}

	// Reads of another schema: the table must exist (else retry later),
	// and give SELECT on it alone.
	insp, err := Open(ctx, u["owner"], "inspection")
	if err != nil {
		t.Fatal(err)
	}
	defer insp.Close()
	readerRole := strings.TrimPrefix(strings.Split(u["reader"], "@")[0], "postgres://")
	if err := Grant(ctx, insp, readerRole); err != nil {
		t.Fatal(err)
	}
	reader, err := Open(ctx, u["reader"], "inspection")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, err := reader.Exec(ctx, "SELECT count(*) FROM workflow.audit"); err != nil {
		t.Errorf("the inspection role cannot read workflow.audit: %v", err)
	}
	for _, q := range []string{"INSERT INTO workflow.audit (instance_id, hash) VALUES (1, 'x')", "SELECT count(*) FROM workflow.instances"} {
		if _, err := reader.Exec(ctx, q); code(err) != "42501" {
			t.Errorf("%s as the inspection role: %v, want 42501", q, err)
		}
	}
}

func TestGrantWaitsForAnotherServicesTable(t *testing.T) {
	ctx := context.Background()
	db := testinfra.Postgres(t)
	u := roles(t, db, "reader")
	pool, err := Open(ctx, db, "inspection")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	role := strings.TrimPrefix(strings.Split(u["reader"], "@")[0], "postgres://")
	var missing *MissingTableError
	if err := Grant(ctx, pool, role); !errors.As(err, &missing) || missing.Table != "workflow.audit" {
		t.Fatalf("grant before the workflow's migrations: %v, want MissingTableError", err)
	}
}
