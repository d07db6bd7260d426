package provision

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

func TestTownDatabaseNames(t *testing.T) {
	long := strings.Repeat("a", 57)
	cases := []struct{ town, want string }{
		{"xikou", "wuxiao_xikou"},
		{"xi-kou", "wuxiao_xi-kou"},
		{strings.Repeat("b", 56), "wuxiao_" + strings.Repeat("b", 56)}, // exactly 63 bytes
	}
	for _, c := range cases {
		if got := TownDatabase(c.town); got != c.want {
			t.Errorf("TownDatabase(%q) = %q, want %q", c.town, got, c.want)
		}
	}
	// Longer names would be truncated by PostgreSQL; they get a hash instead,
	// and two of them sharing a prefix stay distinct.
	a, b := TownDatabase(long+"x"), TownDatabase(long+"y")
	if len(a) != 63 || len(b) != 63 || a == b {
		t.Errorf("long names %q %q", a, b)
	}
}

func TestQRDecodesToURL(t *testing.T) {
	for _, url := range []string{"https://jiandu.example.cn/v/330213100201", "http://127.0.0.1:8080/v/330213100201?x=<&>"} {
		pngData, svg, err := QR(url)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(pngData))
		if err != nil {
			t.Fatal(err)
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
		if err != nil || res.GetText() != url {
			t.Errorf("decoded %v (%v), want %s", res, err, url)
		}
		if !strings.HasPrefix(svg, "<svg ") || strings.Contains(svg, "<&>") {
			t.Errorf("svg %.100s", svg)
		}
		// Deterministic: an unchanged URL never rewrites the ConfigMap.
		again, svg2, _ := QR(url)
		if !bytes.Equal(again, pngData) || svg2 != svg {
			t.Error("QR output is not deterministic")
		}
	}
}

// EnsureTownDatabase against the real PostgreSQL: idempotent, re-sets the
// passwords and limits, and quotes a town name with a dash.
func TestEnsureTownDatabase(t *testing.T) {
	pg, admin := testServer(t)
	town := "ens-" + RandomHex(4) + "-x"
	ctx := context.Background()
	t.Cleanup(func() { dropTown(admin, town) })
	for i, pw := range []string{NewPassword(), NewPassword()} {
		if err := pg.EnsureTownDatabase(ctx, town, Role{Password: pw, ConnLimit: 9}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if err := Ping(ctx, pg.TownURL(town, pw)); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if err := pg.EnsureTownDatabase(ctx, town, Role{Password: "not hex'; DROP ROLE postgres; --"}); err == nil {
		t.Error("a password that is not hex was accepted into DDL")
	}
	if err := pg.EnsureTownDatabase(ctx, town, Role{Password: NewPassword()}, Role{Name: "x", Password: "' OR 1"}); err == nil {
		t.Error("a service role's password that is not hex was accepted into DDL")
	}
	bad := Postgres{Host: "127.0.0.1", Port: 1, SSLMode: "disable"}
	if err := bad.EnsureTownDatabase(ctx, town, Role{Password: NewPassword()}); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable server: %v", err)
	}
}

func testServer(t *testing.T) (Postgres, string) {
	t.Helper()
	admin := os.Getenv("WUXIAO_TEST_POSTGRES_URL")
	if admin == "" {
		t.Fatal("WUXIAO_TEST_POSTGRES_URL is not set: source ~/.cache/wuxiao/run/infra.env (hack/infra.sh up)")
	}
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	return Postgres{Host: cfg.Host, Port: int32(cfg.Port), AdminUser: cfg.User, SSLMode: "disable"}, admin
}

// dropTown removes a test town's database and roles (the operator itself
// never drops anything).
func dropTown(admin, town string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{TownDatabase(town)}.Sanitize()+" WITH (FORCE)")
	for _, r := range []string{TownDatabase(town), ServiceRole(town, "workflow"), ServiceRole(town, "disclosure"), ServiceRole(town, "complaint"), ServiceRole(town, "inspection")} {
		_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
	}
}

func TestServiceRoleNames(t *testing.T) {
	long := strings.Repeat("a", 56) // the database name is exactly 63 bytes
	cases := []struct{ town, svc, want string }{
		{"xikou", "workflow", "wuxiao_xikou_workflow"},
		{"xi-kou", "inspection", "wuxiao_xi-kou_inspection"},
	}
	for _, c := range cases {
		if got := ServiceRole(c.town, c.svc); got != c.want {
			t.Errorf("ServiceRole(%q, %q) = %q, want %q", c.town, c.svc, got, c.want)
		}
	}
	a, b := ServiceRole(long+"x", "disclosure"), ServiceRole(long+"y", "disclosure")
	if len(a) != 63 || a == b || !strings.HasSuffix(a, "_disclosure") || ServiceRole(long, "complaint") == ServiceRole(long, "workflow") {
		t.Errorf("long names %q %q", a, b)
	}
}

// The services' roles as provisioned: each logs into its town's database
// alone, within its connection limit, and may create nothing there; its
// URL carries the pool size.
func TestServiceRoles(t *testing.T) {
	pg, admin := testServer(t)
	ctx := context.Background()
	town, other := "roles-"+RandomHex(4), "roles-"+RandomHex(4)
	t.Cleanup(func() { dropTown(admin, town); dropTown(admin, other) })
	pw := map[string]string{}
	var services []Role
	for _, svc := range []string{"workflow", "disclosure", "complaint", "inspection"} {
		pw[svc] = NewPassword()
		services = append(services, Role{Name: ServiceRole(town, svc), Password: pw[svc], ConnLimit: 2})
	}
	for range 2 { // idempotent
		if err := pg.EnsureTownDatabase(ctx, town, Role{Password: NewPassword(), ConnLimit: 5}, services...); err != nil {
			t.Fatal(err)
		}
	}
	otherPW := NewPassword()
	if err := pg.EnsureTownDatabase(ctx, other, Role{Password: NewPassword()}, Role{Name: ServiceRole(other, "workflow"), Password: otherPW, ConnLimit: 2}); err != nil {
		t.Fatal(err)
	}
	url := pg.ServiceURL(town, "disclosure", pw["disclosure"], 1)
	if !strings.Contains(url, "pool_max_conns=1") {
		t.Errorf("service URL %s lacks the pool size", url)
	}
	limit, err := CheckRole(ctx, url)
	if err != nil || limit != 2 {
		t.Fatalf("CheckRole: limit %d, %v", limit, err)
	}
	var super, createDB, createRole bool
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := pgxpool.ParseConfig(url)
	must(err)
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	must(err)
	defer conn.Close(ctx)
	must(conn.QueryRow(ctx, "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user").Scan(&super, &createDB, &createRole))
	if super || createDB || createRole {
		t.Errorf("a service role may: superuser %v, create databases %v, create roles %v", super, createDB, createRole)
	}
	for _, q := range []string{"CREATE SCHEMA disclosure", "CREATE TEMP TABLE x (id int)", "CREATE DATABASE x"} {
		if _, err := conn.Exec(ctx, q); !isCode(err, "42501") {
			t.Errorf("%s as a service role: %v, want permission denied", q, err)
		}
	}
	// The connection limit holds (the one connection above counts).
	second, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	must(err)
	defer second.Close(ctx)
	if c, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy()); err == nil {
		_ = c.Close(ctx)
		t.Error("a third connection beyond the role's limit of 2 was accepted")
	} else if !isCode(err, "53300") {
		t.Errorf("beyond the limit: %v, want too_many_connections", err)
	}
	// Another town's service role cannot connect to this town's database.
	foreign, err := pgx.ParseConfig(pg.ServiceURL(other, "workflow", otherPW, 0))
	must(err)
	foreign.Database = TownDatabase(town)
	if c, err := pgx.ConnectConfig(ctx, foreign); err == nil {
		_ = c.Close(ctx)
		t.Error("another town's service role connected")
	}
	// A changed budget is applied to the existing role.
	services[1].ConnLimit = 7
	must(pg.EnsureTownDatabase(ctx, town, Role{Password: NewPassword(), ConnLimit: 5}, services...))
	if limit, err := CheckRole(ctx, pg.ServiceURL(town, "complaint", pw["complaint"], 1)); err != nil || limit != 2 {
		t.Errorf("complaint's limit %d (%v)", limit, err)
	}
	var dlimit int32
	must(conn.QueryRow(ctx, "SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user").Scan(&dlimit))
	if dlimit != 7 {
		t.Errorf("disclosure's limit %d after the change, want 7", dlimit)
	}
}
