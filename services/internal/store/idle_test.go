package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestIdlePoolEmpties: connections a busy moment opened go back to the
// server once idle (IdleConnTimeout, looked at every IdleCheckPeriod),
// as PostgreSQL itself sees it (pg_stat_activity), unless the URL says
// otherwise.
func TestIdlePoolEmpties(t *testing.T) {
	url := testinfra.Postgres(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		suffix string
		want   func(*testing.T, time.Duration, time.Duration)
		empty  bool
	}{
		{"defaults", "", func(t *testing.T, idle, check time.Duration) {
			if idle != IdleConnTimeout || check != IdleCheckPeriod {
				t.Errorf("idle %s, check %s; want %s, %s", idle, check, IdleConnTimeout, IdleCheckPeriod)
			}
		}, true},
		{"from the URL", "&pool_max_conn_idle_time=1h&pool_health_check_period=2s", func(t *testing.T, idle, check time.Duration) {
			if idle != time.Hour || check != 2*time.Second {
				t.Errorf("idle %s, check %s; want the URL's 1h, 2s", idle, check)
			}
		}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			schema := fmt.Sprintf("idle%d", i)
			u := url
			if tc.suffix != "" {
				u += tc.suffix
			}
			pool, err := Open(ctx, u, schema)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			tc.want(t, pool.Config().MaxConnIdleTime, pool.Config().HealthCheckPeriod)
			if !tc.empty {
				return
			}
			// A busy moment: three transactions at once.
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() {
					if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						_, err := tx.Exec(ctx, "SELECT pg_sleep(0.2)")
						return err
					}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			held := func() int {
				var n int
				conn, err := pgx.Connect(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, "wuxiao-"+schema).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := held(); n < 3 {
				t.Fatalf("%d connections after the busy moment, want 3", n)
			}
			deadline := time.Now().Add(3 * (IdleConnTimeout + IdleCheckPeriod))
			for held() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the idle pool still holds %d connections (pool: %d)", held(), pool.Stat().TotalConns())
				}
				time.Sleep(time.Second)
			}
		})
	}
}
