package disclosure

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchClients is the number of concurrent clients, e.g. a village meeting
// scanning the QR code at once.
const benchClients = 64

// BenchmarkPortalWallet measures the wallet page with a warm cache under
// concurrent load, through the service's real HTTP stack on a loopback port
// with the real PostgreSQL, side by side with http.FileServer serving the
// same bytes from a file: with the portal listener running (versions from
// memory), then without it (portal-dbread: each request reads the village
// version from PostgreSQL). It reports requests per second and the 99th
// percentile latency.
func BenchmarkPortalWallet(b *testing.B) {
	f := newWalletFixture(b)
	files := httptest.NewServer(http.FileServer(http.Dir(f.dir)))
	defer files.Close()

	b.Run("portal", func(b *testing.B) { loadTest(b, f.ts.URL+f.path, "", len(f.warm.body)) })
	b.Run("portal-304", func(b *testing.B) { loadTest(b, f.ts.URL+f.path, f.warm.header.Get("ETag"), 0) })
	f.stopListening()
	b.Run("portal-dbread", func(b *testing.B) { loadTest(b, f.ts.URL+f.path, "", len(f.warm.body)) })
	b.Run("fileserver", func(b *testing.B) { loadTest(b, files.URL+"/wallet.html", "", len(f.warm.body)) })
}

// walletFixture is a village's wallet page (60 entries) served by the
// service's real HTTP stack with the portal listener running, warmed once,
// and its bytes in dir/wallet.html for file servers to serve.
type walletFixture struct {
	s             *Service
	ts            *httptest.Server
	path          string
	warm          page
	dir           string
	stopListening func()
}

func newWalletFixture(b *testing.B) *walletFixture {
	ctx := context.Background()
	s := portalService(b, newService(b, testTown))
	for i := range 60 {
		kind, cat := KindIncome, CategoryOtherIncome
		if i%3 == 0 {
			kind, cat = KindSpending, CategoryManagementExpenses
		}
		if _, err := s.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: kind, Category: cat,
			AmountFen: int64(1000 + 37*i), Date: fmt.Sprintf("2026-%02d-%02d", 1+i%2, 1+i%28), Description: fmt.Sprintf("第%d笔收支", i+1)}); err != nil {
			b.Fatal(err)
		}
	}
	f := &walletFixture{s: s, ts: serve(b, s), path: "/v/" + village + "?year=2026", dir: b.TempDir()}
	listenCtx, cancel := context.WithCancel(ctx)
	listened := make(chan error, 1)
	go func() { listened <- s.ListenPortal(listenCtx) }()
	var once sync.Once
	f.stopListening = func() {
		once.Do(func() {
			cancel()
			if err := <-listened; err != nil {
				b.Errorf("portal listener: %v", err)
			}
		})
	}
	b.Cleanup(f.stopListening)
	awaitBook(b, s, "listening", func(v *versionBook) bool { return v.listening })
	f.warm = get(b, f.ts, f.path)
	if f.warm.status != http.StatusOK {
		b.Fatalf("warm-up GET: %d", f.warm.status)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "wallet.html"), []byte(f.warm.body), 0o600); err != nil {
		b.Fatal(err)
	}
	return f
}

// loadTest sends b.N GETs from benchClients concurrent clients and reports
// throughput and p99 latency.
func loadTest(b *testing.B, url, etag string, wantLen int) {
	client, done := benchClient()
	defer done()
	b.ResetTimer()
	rate, p99, err := load(client, url, etag, wantLen, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "req/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

// benchClient is a client keeping up to benchClients connections alive.
func benchClient() (*http.Client, func()) {
	tr := &http.Transport{MaxIdleConns: benchClients, MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

// load sends n GETs through client from benchClients concurrent goroutines
// and returns requests per second and the 99th percentile latency.
func load(client *http.Client, url, etag string, wantLen, n int) (float64, time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failure atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range benchClients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(lat) {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if etag != "" {
					req.Header.Set("If-None-Match", etag)
				}
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					failure.Store(err.Error())
					return
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat[i] = time.Since(t0)
				if int(n) != wantLen || (etag != "" && res.StatusCode != http.StatusNotModified) || (etag == "" && res.StatusCode != http.StatusOK) {
					failure.Store(fmt.Sprintf("%s: status %d, %d bytes", url, res.StatusCode, n))
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failure.Load(); f != nil {
		return 0, 0, fmt.Errorf("%v", f)
	}
	slices.Sort(lat)
	return float64(n) / elapsed.Seconds(), lat[len(lat)*99/100], nil
}
