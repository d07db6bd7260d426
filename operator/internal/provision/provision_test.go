package provision

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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
// password, and quotes a town name with a dash.
func TestEnsureTownDatabase(t *testing.T) {
	admin := os.Getenv("WUXIAO_TEST_POSTGRES_URL")
	if admin == "" {
		t.Fatal("WUXIAO_TEST_POSTGRES_URL is not set: source ~/.cache/wuxiao/run/infra.env (hack/infra.sh up)")
	}
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	pg := Postgres{Host: cfg.Host, Port: int32(cfg.Port), AdminUser: cfg.User, SSLMode: "disable"}
	town := "ens-" + RandomHex(4) + "-x"
	ctx := context.Background()
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err == nil {
			ident := pgx.Identifier{TownDatabase(town)}.Sanitize()
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
			_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident)
			_ = conn.Close(ctx)
		}
	})
	for i, pw := range []string{NewPassword(), NewPassword()} {
		if err := pg.EnsureTownDatabase(ctx, town, pw); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if err := Ping(ctx, pg.TownURL(town, pw)); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if err := pg.EnsureTownDatabase(ctx, town, "not hex'; DROP ROLE postgres; --"); err == nil {
		t.Error("a password that is not hex was accepted into DDL")
	}
	bad := Postgres{Host: "127.0.0.1", Port: 1, SSLMode: "disable"}
	if err := bad.EnsureTownDatabase(ctx, town, NewPassword()); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable server: %v", err)
	}
}
