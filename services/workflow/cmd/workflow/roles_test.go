package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// townRoles sets up a database as the operator does (provision.
// EnsureTownDatabase): a migration role owning it, and the service's own
// role, which may only connect. It returns both URLs and the service's
// role name. The test server trusts local connections: privileges, not
// passwords, are under test.
func townRoles(t *testing.T) (migrationURL, appURL, appRole string) {
	t.Helper()
	ctx := context.Background()
	db := testinfra.Postgres(t)
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dbname string
	must(t, conn.QueryRow(ctx, "SELECT current_database()").Scan(&dbname))
	owner, app := testinfra.UniqueName("mig_"), testinfra.UniqueName("wf_")
	d := pgx.Identifier{dbname}.Sanitize()
	for _, q := range []string{
		"CREATE ROLE " + owner + " LOGIN", "CREATE ROLE " + app + " LOGIN",
		"ALTER DATABASE " + d + " OWNER TO " + owner,
		"REVOKE CONNECT, TEMPORARY ON DATABASE " + d + " FROM PUBLIC",
		"GRANT CONNECT ON DATABASE " + d + " TO " + app,
	} {
		_, err := conn.Exec(ctx, q)
		must(t, err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testinfra.Require(t, testinfra.EnvPostgresURL))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+d+" WITH (FORCE)")
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+owner+", "+app)
	})
	as := func(role string) string {
		u, _ := url.Parse(db)
		u.User = url.User(role)
		return u.String()
	}
	return as(owner), as(app), app
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The Deployment's two steps with the binary's main path: the init
// container (WUXIAO_MIGRATE_ONLY) migrates as the migration role and
// grants the service's role; the serving container then starts, serves and
// publishes with the service's role alone, which runs no DDL.
func TestServesWithItsOwnRoleAfterMigrateOnly(t *testing.T) {
	migrationURL, appURL, appRole := townRoles(t)
	town := testinfra.UniqueName("t")
	village := "330213100201"
	brokers := testinfra.KafkaBrokers(t)
	base := testinfra.ServiceBase(t, "workflow", town)
	base.DatabaseURL, base.MetricsAddr = "", "" // each run below gets its role's URL
	ctx := context.Background()

	// Before the init container: the service's role cannot start.
	serve := base
	serve.DatabaseURL = appURL
	early, cancelEarly := context.WithTimeout(ctx, 30*time.Second)
	defer cancelEarly()
	if err := run(early, &serve, strings.Repeat("k", 32), []byte(strings.Repeat("a", 32)), "", time.Second, time.Second, nil); err == nil || !strings.Contains(err.Error(), "WUXIAO_MIGRATE_ONLY") {
		t.Fatalf("serving before the migrations: %v, want an error naming the init container", err)
	}

	migrate := base
	migrate.DatabaseURL, migrate.MigrateOnly, migrate.DatabaseAppRole = migrationURL, true, appRole
	if err := run(ctx, &migrate, strings.Repeat("k", 32), []byte(strings.Repeat("a", 32)), "", time.Second, time.Second, nil); err != nil {
		t.Fatalf("migrate-only: %v", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, &serve, strings.Repeat("k", 32), []byte(strings.Repeat("a", 32)), "", time.Second, time.Second, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	base.HTTPAddr = serve.HTTPAddr
	url := "http://" + serve.HTTPAddr
	testinfra.WaitReady(t, url)
	token, _ := testinfra.KratosUser(t, "secretary", town, village)
	post := func(path string, body any) map[string]any {
		r := httpapitest.Client{URL: url}.JSON(t, "POST", path, token, body)
		if r.Status >= 300 {
			t.Fatalf("POST %s: %d %v", path, r.Status, r.Body)
		}
		return r.Body
	}
	inst := post("/v1/villages/"+village+"/instances", map[string]any{"itemId": "decision-major-matters", "title": "村道硬化"})
	post("/v1/instances/"+inst["id"].(string)+"/steps/propose/complete", map[string]any{})

	// The relay publishes (and clears the outbox) as the service's role.
	readCtx, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	for {
		m, err := testinfra.ReadTopic(readCtx, brokers, eventsv1.Topic(town, eventsv1.StreamWorkflow), 2)
		if err != nil {
			t.Fatalf("reading the workflow topic: %v", err)
		}
		if len(m) >= 2 {
			break
		}
	}
	// The audit trail was written as the service's role, which cannot
	// rewrite it.
	conn, err := pgx.Connect(ctx, appURL)
	must(t, err)
	defer conn.Close(ctx)
	var n int
	must(t, conn.QueryRow(ctx, "SELECT count(*) FROM workflow.audit").Scan(&n))
	if n < 2 {
		t.Errorf("%d audit entries, want the start and the step", n)
	}
	for _, q := range []string{"TRUNCATE workflow.audit", "ALTER TABLE workflow.audit DISABLE TRIGGER USER"} {
		if _, err := conn.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "42501") {
			t.Errorf("%s as the service's role: %v, want permission denied", q, err)
		}
	}
}
