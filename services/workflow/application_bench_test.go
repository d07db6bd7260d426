package workflow

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// noisyJPEG is a photo of at least size bytes (noise compresses badly,
// as a phone's photo of a document does not, so it is a worst case for
// the metadata filter's segment walk only in size).
func noisyJPEG(tb testing.TB, size int) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for side := 256; ; side += 128 {
		img := image.NewRGBA(image.Rect(0, 0, side, side))
		for y := range side {
			for x := range side {
				img.Set(x, y, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			tb.Fatal(err)
		}
		if buf.Len() >= size {
			return buf.Bytes()
		}
	}
}

// BenchmarkApplicationSubmit measures a villager's application through the
// public HTTP endpoint, as the portal's form sends it: multipart with one
// 1 MiB photo, read, checked, its metadata removed, stored with the
// process, the applicant's step, the audit links and the events in one
// transaction on the real PostgreSQL. 20 applicants at once. Reports
// applications/s and p50/p99 latency (target: p99 < 200 ms).
//
//	go test ./services/workflow -run '^$' -bench ApplicationSubmit -benchtime 400x
func BenchmarkApplicationSubmit(b *testing.B) {
	for _, applicants := range []int{1, 20} {
		b.Run(fmt.Sprintf("applicants=%d", applicants), func(b *testing.B) { benchmarkApplications(b, applicants) })
	}
}

func benchmarkApplications(b *testing.B, applicants int) {
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(b, testinfra.Postgres(b), clk)
	s.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	// The abuse limits are not what is measured: every request is admitted.
	s.ApplicationLimits = ApplicationLimits{ClientEvery: time.Nanosecond, ClientBurst: 1 << 30,
		VillageEvery: time.Nanosecond, VillageBurst: 1 << 30}
	ts := httpapitest.ServeAPI(b, httpapitest.APIBase(town), s.Routes)
	photo := noisyJPEG(b, 1<<20)
	ct, body := multipartBody(b, applyFields("service-certificate"), formFile{"material-1", "身份证.jpg", photo})
	url := ts.URL + "/v1/public/villages/" + village + "/applications"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	var mu sync.Mutex
	var lat []time.Duration
	b.SetBytes(int64(len(body)))
	serverCPU := backendsCPU(b, s.Pool)
	selfCPU := testinfra.ProcessCPU()
	b.ResetTimer()
	start := time.Now()
	// Exactly applicants goroutines share the b.N submissions.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range applicants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Content-Type", ct)
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				raw, _ := io.ReadAll(res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					b.Errorf("status %d: %s", res.StatusCode, raw)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	selfCPU = testinfra.ProcessCPU() - selfCPU
	if serverCPU >= 0 {
		if after := backendsCPU(b, s.Pool); after >= 0 {
			serverCPU = after - serverCPU
		} else {
			serverCPU = -1
		}
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "applications/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	// CPU per application, which the machine's load moves much less than
	// the latencies: this process's (the client's share included) and
	// PostgreSQL's backends' (when the server runs on this machine).
	b.ReportMetric(float64(selfCPU.Microseconds())/1000/float64(len(lat)), "go-cpu-ms/op")
	if serverCPU >= 0 {
		b.ReportMetric(float64(serverCPU.Microseconds())/1000/float64(len(lat)), "pg-cpu-ms/op")
	}
}
