package testinfra

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// AtRest runs use on pool from rest (no connection open) and reports how
// many connections it opened and how many the pool still holds once the
// connections it gives back are gone (pgxpool destroys them
// asynchronously; waited for up to 5 s). Periodic work (scrapes, probes,
// timers) should hold none at rest (store.Background).
func AtRest(t testing.TB, pool *pgxpool.Pool, use func()) (opened int64, held int32) {
	t.Helper()
	settle := func() int32 {
		for deadline := time.Now().Add(5 * time.Second); pool.Stat().TotalConns() > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		return pool.Stat().TotalConns()
	}
	pool.Reset()
	if n := settle(); n != 0 {
		t.Fatalf("the pool holds %d connections after Reset", n)
	}
	before := pool.Stat().NewConnsCount()
	use()
	opened = pool.Stat().NewConnsCount() - before
	return opened, settle()
}
