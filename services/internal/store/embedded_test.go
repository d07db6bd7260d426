package store

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestMigrateEmbedded: sets are read from their migrations directory and
// applied in order (the second's migration uses the first's table), each
// with its own version table.
func TestMigrateEmbedded(t *testing.T) {
	ctx := context.Background()
	pool, err := Open(ctx, testinfra.Postgres(t), "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	first := fstest.MapFS{}
	for name, f := range migrations {
		first["migrations/"+name] = f
	}
	second := fstest.MapFS{"migrations/00001_more.sql": {Data: []byte("-- +goose Up\nINSERT INTO items VALUES (2, 'two');\n")}}
	for range 2 { // a restart applies nothing again
		if err := MigrateEmbedded(ctx, pool, Embedded{"svc", first}, Embedded{"more", second}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM svc.items").Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d items (%v), want 2", n, err)
	}
	for _, table := range []string{"goose_svc", "goose_more"} {
		var versions int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM svc."+table+" WHERE version_id > 0").Scan(&versions); err != nil || versions == 0 {
			t.Errorf("%s: %d versions (%v)", table, versions, err)
		}
	}
	if err := MigrateEmbedded(ctx, pool, Embedded{"none", fstest.MapFS{"other/00001_x.sql": {}}}); err == nil {
		t.Error("a set without a migrations directory was applied")
	}
}
