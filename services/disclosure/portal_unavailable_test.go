package disclosure

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A portal page whose database cannot answer is a 503 with Retry-After, as
// the APIs answer, not a 500; a database cut off (half-open connections) is
// given up on after portalDatabaseWait instead of holding the villager's
// page until TCP does (make chaos saw both).
func TestPortalDatabaseUnavailable(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	_ = refused.Close() // nothing listens there any more: connections are refused
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	go func() { // accepts, then never says a word: a partitioned server
		var held []net.Conn
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, c := range held {
					_ = c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	for _, tc := range []struct{ name, addr string }{
		{"connection refused", refusedAddr},
		{"server silent", silent.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := pgxpool.New(context.Background(), "postgres://wuxiao:x@"+tc.addr+"/wuxiao?sslmode=disable")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			s := portalService(t, &Service{Pool: pool, Town: testTown, IDHashKey: testKey, Log: slog.New(slog.DiscardHandler)})
			p := get(t, serve(t, s), "/v/"+emptyVillage)
			if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") != "5" || !strings.Contains(p.body, "系统繁忙") {
				t.Fatalf("%d Retry-After %q, want 503 with 系统繁忙\n%.400s", p.status, p.header.Get("Retry-After"), p.body)
			}
			checkHTML(t, p.body)
		})
	}
}
