package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

var migrations = fstest.MapFS{
	"00001_items.sql": {Data: []byte("-- +goose Up\nCREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);\n-- +goose Down\nDROP TABLE items;\n")},
	"00002_seed.sql":  {Data: []byte("-- +goose Up\nINSERT INTO items VALUES (1, 'one');\n-- +goose Down\nDELETE FROM items;\n")},
}

func TestMigrateConcurrentReplicasApplyOnce(t *testing.T) {
	url := testinfra.Postgres(t)
	ctx := context.Background()
	// Three replicas start at once, each with its own pool.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := Open(ctx, url, "svc")
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			errs[i] = Migrate(ctx, pool, "svc", migrations)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	pool, err := Open(ctx, url, "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM svc.items").Scan(&n); err != nil || n != 1 {
		t.Fatalf("seed applied %d times (%v), want once", n, err)
	}
	// A second set in the same schema keeps its own versions.
	other := fstest.MapFS{"00001_x.sql": {Data: []byte("-- +goose Up\nCREATE TABLE x (id int);\n")}}
	if err := Migrate(ctx, pool, "other", other); err != nil {
		t.Fatal(err)
	}
	var versions int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM svc.goose_svc WHERE version_id > 0").Scan(&versions); err != nil || versions != 2 {
		t.Fatalf("goose_svc has %d versions (%v)", versions, err)
	}
}

func TestInTxRollsBackOnError(t *testing.T) {
	url := testinfra.Postgres(t)
	ctx := context.Background()
	pool, err := Open(ctx, url, "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := Migrate(ctx, pool, "svc", migrations); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = InTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO items VALUES (2, 'two')"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	var n int
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n)
	if n != 1 {
		t.Fatalf("the failed transaction left %d rows", n)
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	if _, err := Open(context.Background(), "postgres://x/y", "Bad-Schema"); err == nil {
		t.Fatal("accepted an unsafe schema name")
	}
	if _, err := Open(context.Background(), "::not a url", "svc"); err == nil {
		t.Fatal("accepted a malformed URL")
	}
}
