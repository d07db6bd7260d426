package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// perfBurst is how many requests one server gets before the next one's
// turn in BenchmarkPortalGatewayVsFileServer: short turns, so that all
// servers see the same (shared, noisy) machine.
const perfBurst = 4 * benchClients

// BenchmarkPortalGatewayVsFileServer is the portal's target through the
// gateway (issue 18, ≥ 0.8×): the wallet page of a real disclosure service
// (warm cache, listener running, 60 ledger entries) asked through the
// district gateway as villagers ask it (its public route, the one-second
// page cache, its httpapi stack), against http.FileServer serving the same
// bytes from a file, both on loopback ports with benchClients concurrent
// clients over kept-alive connections. As the disclosure service's
// BenchmarkPortalVsFileServer, the servers take turns of perfBurst
// requests, the order rotating, until each has served b.N. It reports
//
//   - ratio: gateway req/s ÷ http.FileServer req/s (the target, ≥ 0.8);
//
//   - cpu-ratio: FileServer's CPU per request ÷ the gateway's (the
//     process's getrusage over the turns, clients included; steadier);
//
//   - proxy-ratio, proxy-cpu-ratio: the same with Cache-Control: no-cache,
//     which bypasses the gateway's page cache, so every request crosses
//     both hops (gateway and disclosure, here in one process);
//
//   - direct-ratio: the disclosure service asked directly, for reference;
//
//   - each server's req/s and CPU µs per request.
//
//     go test ./services/gateway -run '^$' -bench PortalGatewayVsFileServer -benchtime 10000x
func BenchmarkPortalGatewayVsFileServer(b *testing.B) {
	f := newPortalBench(b)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "wallet.html"), []byte(f.body), 0o600); err != nil {
		b.Fatal(err)
	}
	files := httptest.NewServer(http.FileServer(http.Dir(dir)))
	b.Cleanup(files.Close)
	targets := []struct{ name, url, cacheControl string }{
		{"gateway", f.gateway + f.path, ""},
		{"fileserver", files.URL + "/wallet.html", ""},
		{"proxy", f.gateway + f.path, "no-cache"},
		{"direct", f.direct + f.path, ""},
	}
	clients := make([]*http.Client, len(targets))
	for i, t := range targets {
		tr := &http.Transport{MaxIdleConns: benchClients, MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
		b.Cleanup(tr.CloseIdleConnections)
		clients[i] = &http.Client{Transport: tr}
		// Open the connections and warm the code paths.
		if err := turn(clients[i], t.url, t.cacheControl, len(f.body), 2*benchClients); err != nil {
			b.Fatal(err)
		}
	}
	serve := make([]func(int) error, len(targets))
	for i, t := range targets {
		serve[i] = func(n int) error { return turn(clients[i], t.url, t.cacheControl, len(f.body), n) }
	}
	b.ResetTimer()
	res, err := testinfra.RotatingTurns(b.N, perfBurst, serve...)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	rate, perReq := res.Rate, res.CPUPerRequest
	b.ReportMetric(rate(0)/rate(1), "ratio")
	b.ReportMetric(perReq(1)/perReq(0), "cpu-ratio")
	b.ReportMetric(rate(2)/rate(1), "proxy-ratio")
	b.ReportMetric(perReq(1)/perReq(2), "proxy-cpu-ratio")
	b.ReportMetric(rate(3)/rate(1), "direct-ratio")
	for i, t := range targets {
		b.ReportMetric(rate(i), t.name+"-req/s")
		b.ReportMetric(perReq(i)*1e6, t.name+"-cpu-us/req")
	}
	b.ReportMetric(float64(len(f.body)), "page-bytes")
	b.ReportMetric(0, "ns/op") // b.N is each server's requests, not the run's
	turns := res.TurnRatios(0, 1)
	b.Logf("gateway ÷ fileserver per turn (%d turns): p25 %.2f, median %.2f, p75 %.2f",
		len(turns), turns[len(turns)/4], turns[len(turns)/2], turns[len(turns)*3/4])
}

// turn sends n GETs through client from benchClients concurrent
// goroutines, each checked for status 200 and the page's length.
func turn(client *http.Client, url, cacheControl string, wantLen, n int) error {
	var next atomic.Int64
	var failure atomic.Value
	var wg sync.WaitGroup
	for range benchClients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if cacheControl != "" {
					req.Header.Set("Cache-Control", cacheControl)
				}
				res, err := client.Do(req)
				if err != nil {
					failure.Store(err.Error())
					return
				}
				got, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if int(got) != wantLen || res.StatusCode != http.StatusOK {
					failure.Store(fmt.Sprintf("%s: status %d, %d bytes", url, res.StatusCode, got))
					return
				}
			}
		})
	}
	wg.Wait()
	if f := failure.Load(); f != nil {
		return fmt.Errorf("%v", f)
	}
	return nil
}
