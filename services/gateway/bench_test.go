package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// benchClients is the number of concurrent clients: a village meeting
// scanning the QR code at once (as the disclosure service's benchmark).
const benchClients = 64

// BenchmarkPortalThroughGateway measures a cached village portal page (the
// wallet, 60 ledger entries) of a real disclosure service (its HTTP stack,
// PostgreSQL, the portal cache kept fresh by its listener) asked directly
// and through the gateway, in the same run: b.N requests from 64 concurrent
// clients each way, in 5 alternating rounds; it reports the median
// throughputs and ratios: gateway/direct as villagers get it (the gateway's
// one-second page cache included) and proxy/direct with that cache
// bypassed. Both servers and the clients share this process and the
// machine's cores.
//
//	go test ./services/gateway -run '^$' -bench PortalThroughGateway -benchtime 5000x
func BenchmarkPortalThroughGateway(b *testing.B) {
	f := newPortalBench(b)
	direct, gw, path, want := f.direct, f.gateway, f.path, f.body
	// The machine is shared: rounds alternate between the two, and the
	// median of the rounds' ratios is the figure.
	// "proxy" asks the gateway with Cache-Control: no-cache, which
	// bypasses its one-second page cache (public_cache.go): every request
	// is passed on to the town, the cost of the extra hop alone.
	const rounds = 5
	var directRates, gatewayRates, proxyRates, ratios, proxyRatios []float64
	b.ResetTimer()
	for range rounds {
		d := loadTest(b, direct+path, len(want), "")
		g := loadTest(b, gw+path, len(want), "")
		p := loadTest(b, gw+path, len(want), "no-cache")
		directRates, gatewayRates, proxyRates = append(directRates, d), append(gatewayRates, g), append(proxyRates, p)
		ratios, proxyRatios = append(ratios, g/d), append(proxyRatios, p/d)
	}
	b.StopTimer()
	b.ReportMetric(median(directRates), "direct-req/s")
	b.ReportMetric(median(gatewayRates), "gateway-req/s")
	b.ReportMetric(median(proxyRates), "proxy-req/s")
	b.ReportMetric(median(ratios), "gateway/direct")
	b.ReportMetric(median(proxyRatios), "proxy/direct")
	b.ReportMetric(0, "ns/op") // b.N is the requests of each round, not of the whole run
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func benchGet(b *testing.B, url string) string {
	b.Helper()
	res, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %s", url, res.StatusCode, body)
	}
	return string(body)
}

// loadTest sends b.N GETs from benchClients concurrent clients and returns
// the throughput.
func loadTest(b *testing.B, url string, wantLen int, cacheControl string) float64 {
	tr := &http.Transport{MaxIdleConns: benchClients, MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	start := time.Now()
	if err := turn(client, url, cacheControl, wantLen, b.N); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	return float64(b.N) / elapsed.Seconds()
}

// portalBench is a real disclosure service (its HTTP stack, PostgreSQL,
// the portal cache kept fresh by its listener) with a village's wallet
// page (60 ledger entries), asked once, and a gateway routing its town to
// it.
type portalBench struct {
	direct, gateway string // base URLs
	path            string // the wallet page
	body            string // the page as served
}

func newPortalBench(b *testing.B) portalBench {
	ctx := context.Background()
	pool, err := store.Open(ctx, testinfra.Postgres(b), "disclosure")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{events.Migrate, disclosure.Migrate} {
		if err := m(ctx, pool); err != nil {
			b.Fatal(err)
		}
	}
	cat, err := disclosure.LoadCatalog(testinfra.CatalogFile(b))
	if err != nil {
		b.Fatal(err)
	}
	s := &disclosure.Service{Pool: pool, Town: "xikou", IDHashKey: []byte("bench-id-hash-key-0123456789abcdef"),
		Log: slog.New(slog.DiscardHandler), TownCode: "330213100000", Catalog: cat}
	for i := range 60 {
		kind, category := disclosure.KindIncome, disclosure.CategoryOtherIncome
		if i%3 == 0 {
			kind, category = disclosure.KindSpending, disclosure.CategoryManagementExpenses
		}
		if _, err := s.RecordEntry(ctx, "finance-1", disclosure.EntryInput{Village: xikouVillage, Kind: kind, Category: category,
			AmountFen: int64(1000 + 37*i), Date: fmt.Sprintf("2026-%02d-%02d", 1+i%2, 1+i%28), Description: fmt.Sprintf("第%d笔收支", i+1)}); err != nil {
			b.Fatal(err)
		}
	}
	listenCtx, stopListening := context.WithCancel(ctx)
	listened := make(chan error, 1)
	go func() { listened <- s.ListenPortal(listenCtx) }()
	b.Cleanup(func() {
		stopListening()
		if err := <-listened; err != nil {
			b.Error(err)
		}
	})
	auth := identity.New(testinfra.Require(b, testinfra.EnvKratosPublicURL), identity.WithErrorWriter(httpapi.WriteStatusProblem))
	dsrv := httpapi.New(config.Base{Service: "disclosure", Town: "xikou", MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).
		WithAuthenticator(auth.Require)
	s.Routes(dsrv)
	direct := httptest.NewServer(dsrv.Handler())
	b.Cleanup(direct.Close)

	backends := NewStaticBackends()
	if err := backends.AddTown(Town{Name: "xikou", Code: "330213100000"}, map[string]string{ServiceDisclosure: direct.URL}); err != nil {
		b.Fatal(err)
	}
	g, err := New(Config{District: "fenghua", DistrictName: "奉化区", KratosPublicURL: "http://127.0.0.1:1"}, backends, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	gsrv := httpapi.New(config.Base{Service: "gateway"}, slog.New(slog.DiscardHandler), nil)
	g.Register(gsrv)
	gw := httptest.NewServer(gsrv.Handler())
	b.Cleanup(gw.Close)

	path := "/v/" + xikouVillage + "?year=2026"
	time.Sleep(500 * time.Millisecond) // the portal listener starts
	want := benchGet(b, direct.URL+path)
	if through := benchGet(b, gw.URL+path); through != want {
		b.Fatalf("the page through the gateway differs from the page asked directly")
	}
	return portalBench{direct: direct.URL, gateway: gw.URL, path: path, body: want}
}
