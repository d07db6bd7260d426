package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// A background use (Background) gives back a connection the pool opened
// for it, as PostgreSQL sees it; on a connection warm from requests it
// leaves it to the idle timeout.
func TestBackgroundUseGivesConnectionBack(t *testing.T) {
	url := testinfra.Postgres(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	tests := []struct {
		name   string
		warm   bool // a request used the pool just before
		holds  int  // connections the pool holds after the background use
		schema string
	}{
		{"cold pool", false, 0, "rest_cold"},
		{"warm pool", true, 1, "rest_warm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := Open(ctx, url, tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			pool.Reset() // Open's own check is a request: start cold
			if tc.warm {
				if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
					t.Fatal(err)
				}
			}
			for range 3 {
				if err := pool.Ping(Background(ctx)); err != nil {
					t.Fatal(err)
				}
				if err := InTx(Background(ctx), pool, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "SELECT 1")
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			// The pool destroys a connection, and the server ends its
			// backend, a moment later.
			var n, pooled int
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, "wuxiao-"+tc.schema).Scan(&n); err != nil {
					t.Fatal(err)
				}
				pooled = int(pool.Stat().TotalConns())
				if (n == tc.holds && pooled == tc.holds) || time.Now().After(deadline) {
					break
				}
			}
			if n != tc.holds || pooled != tc.holds {
				t.Errorf("PostgreSQL has %d sessions of the pool, the pool %d connections; want %d", n, pooled, tc.holds)
			}
		})
	}
}
