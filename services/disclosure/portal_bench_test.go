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
	ts := serve(b, s)
	listenCtx, stopListening := context.WithCancel(ctx)
	listened := make(chan error, 1)
	go func() { listened <- s.ListenPortal(listenCtx) }()
	defer func() {
		stopListening()
		if err := <-listened; err != nil {
			b.Errorf("portal listener: %v", err)
		}
	}()
	awaitBook(b, s, "listening", func(v *versionBook) bool { return v.listening })
	path := "/v/" + village + "?year=2026"
	warm := get(b, ts, path)
	if warm.status != http.StatusOK {
		b.Fatalf("warm-up GET: %d", warm.status)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wallet.html"), []byte(warm.body), 0o600); err != nil {
		b.Fatal(err)
	}
	files := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer files.Close()

	b.Run("portal", func(b *testing.B) { loadTest(b, ts.URL+path, "", len(warm.body)) })
	b.Run("portal-304", func(b *testing.B) { loadTest(b, ts.URL+path, warm.header.Get("ETag"), 0) })
	stopListening()
	if err := <-listened; err != nil {
		b.Fatal(err)
	}
	listened <- nil // for the deferred stop
	b.Run("portal-dbread", func(b *testing.B) { loadTest(b, ts.URL+path, "", len(warm.body)) })
	b.Run("fileserver", func(b *testing.B) { loadTest(b, files.URL+"/wallet.html", "", len(warm.body)) })
}

// loadTest sends b.N GETs from benchClients concurrent clients and reports
// throughput and p99 latency.
func loadTest(b *testing.B, url, etag string, wantLen int) {
	tr := &http.Transport{MaxIdleConns: benchClients, MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failure atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
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
					failure.Store(fmt.Sprintf("status %d, %d bytes", res.StatusCode, n))
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failure.Load(); f != nil {
		b.Fatal(f)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
