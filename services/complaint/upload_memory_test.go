package complaint

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// podMemoryLimit is the operator's default memory limit of a town service's
// container (operator/internal/resources/town.go: limits.memory 256Mi).
const podMemoryLimit = 256 << 20

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// streamedReport writes a report with three maximum-size PNG files to w
// without holding any file in memory.
func streamedReport(t testing.TB, w io.Writer) (contentType string, err error) {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary("wuxiao-report-boundary"); err != nil { // the same length every time
		return "", err
	}
	if err := mw.WriteField("category", "funds"); err != nil {
		return "", err
	}
	if err := mw.WriteField("description", goodDescription); err != nil {
		return "", err
	}
	png := samplePNG(t)
	idatLen := IntakeMaxFileBytes - int64(len(png)) - 12
	var idatHead, idatCRC [4 + 4]byte
	binary.BigEndian.PutUint32(idatHead[:4], uint32(idatLen))
	copy(idatHead[4:], "IDAT")
	crc := crc32.NewIEEE()
	crc.Write([]byte("IDAT"))
	_, _ = io.Copy(crc, io.LimitReader(zeros{}, idatLen))
	binary.BigEndian.PutUint32(idatCRC[:4], crc.Sum32())
	for i := range IntakeMaxFiles {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="attachments"; filename="%d.png"`, i+1))
		h.Set("Content-Type", "image/png")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return "", err
		}
		// A PNG of exactly the limit whose bulk is image data (an IDAT
		// chunk of zeros), which metadata removal keeps: bytes after the
		// end of the image would not be stored.
		if _, err := io.Copy(pw, io.MultiReader(bytes.NewReader(png[:len(png)-12]), bytes.NewReader(idatHead[:]),
			io.LimitReader(zeros{}, idatLen), bytes.NewReader(idatCRC[:4]), bytes.NewReader(png[len(png)-12:]))); err != nil {
			return "", err
		}
	}
	return mw.FormDataContentType(), mw.Close()
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestReportPageConcurrentUploadsMemory sends ten concurrent reports of
// maximum size (three 5 MiB files each, streamed by the client, with their
// Content-Length) to the report page on the real PostgreSQL, samples the
// process's memory while they run, and requires the growth to stay far
// below the pod's memory limit. Each answer is a receipt, or a refusal
// with Retry-After (the upload bound, 503) made before the body was read;
// every receipt's files are stored whole. The page read every file into
// memory before the rate limiter ran: ten uploads took ~150 MiB of file
// content plus copies.
func TestReportPageConcurrentUploadsMemory(t *testing.T) {
	srv, a := pageServer(t, RateLimitConfig{ClientBurst: 1000, VillageBurst: 1000, FloodThreshold: 1000, ClientDailyBytes: 1 << 30})
	var size countWriter
	ct, err := streamedReport(t, &size)
	if err != nil {
		t.Fatal(err)
	}
	post := func() (int, http.Header, error) {
		pr, pw := io.Pipe()
		go func() { _, err := streamedReport(t, pw); pw.CloseWithError(err) }()
		req, _ := http.NewRequest("POST", srv.URL+"/r/"+testVillage, pr)
		req.Header.Set("Content-Type", ct)
		req.ContentLength = size.n
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode, res.Header, nil
	}
	if status, _, err := post(); err != nil || status != http.StatusCreated { // warm up: pools, templates
		t.Fatalf("warm-up report: %d %v", status, err)
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap, baseSys := ms.HeapInuse, ms.Sys
	var peakHeap, peakSys atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peakHeap.Load() {
				peakHeap.Store(m.HeapInuse)
			}
			if m.Sys > peakSys.Load() {
				peakSys.Store(m.Sys)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	const uploads = 10
	var wg sync.WaitGroup
	statuses := make([]int, uploads)
	errs := make([]error, uploads)
	retry := make([]string, uploads)
	for i := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h http.Header
			statuses[i], h, errs[i] = post()
			if h != nil {
				retry[i] = h.Get("Retry-After")
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled

	heapGrowth := int64(peakHeap.Load()) - int64(baseHeap)
	sysGrowth := int64(peakSys.Load()) - int64(baseSys)
	t.Logf("%d concurrent uploads of %.1f MiB: statuses %v; heap in use grew by %.1f MiB (peak %.1f MiB), memory from the OS by %.1f MiB; pod limit %d MiB",
		uploads, float64(size.n)/(1<<20), statuses, float64(heapGrowth)/(1<<20), float64(peakHeap.Load())/(1<<20),
		float64(sysGrowth)/(1<<20), podMemoryLimit>>20)

	created := 0
	for i, st := range statuses {
		switch {
		case errs[i] != nil:
			t.Errorf("upload %d: %v", i, errs[i])
		case st == http.StatusCreated:
			created++
		case (st == http.StatusServiceUnavailable || st == http.StatusTooManyRequests) && retry[i] != "":
		default:
			t.Errorf("upload %d: %d (Retry-After %q)", i, st, retry[i])
		}
	}
	if created == 0 {
		t.Error("no upload was taken")
	}
	// The whole process (the test's client and PostgreSQL driver included)
	// must stay well inside the pod's limit: a quarter of it for ten
	// uploads. Reading bodies into memory took 316-346 MiB; streaming takes
	// ~17 MiB on a quiet machine and up to 33 MiB where the collector lags
	// on a loaded one (an eighth, 32 MiB, failed there once).
	if heapGrowth > podMemoryLimit/4 || sysGrowth > podMemoryLimit/4 {
		t.Errorf("memory grew by %d MiB heap, %d MiB from the OS for %d uploads; the pod's limit is %d MiB",
			heapGrowth>>20, sysGrowth>>20, uploads, podMemoryLimit>>20)
	}
	if n := count(t, a.Service, `SELECT count(*) FROM attachments WHERE size = $1`, IntakeMaxFileBytes); n != 3*(created+1) {
		t.Errorf("%d stored files of full size, want %d", n, 3*(created+1))
	}
}

// TestReportPageRefusesBeforeReading sends report-page posts whose body
// never arrives (a declared Content-Length, nothing sent): each refusal
// that needs no body must come at once, without waiting for the upload.
// The page used to read the whole body before any of these checks.
func TestReportPageRefusesBeforeReading(t *testing.T) {
	const ct = "multipart/form-data; boundary=wuxiao-report-boundary"
	// hanging posts a body of n bytes that never comes; stop ends it.
	hanging := func(t *testing.T, url string, n int64, header http.Header) (status int, retryAfter string, stop func()) {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", url, pr)
		req.Header.Set("Content-Type", ct)
		for k, v := range header {
			req.Header[k] = v
		}
		req.ContentLength = n
		stop = func() { pw.CloseWithError(io.ErrUnexpectedEOF) }
		// Give up after 5 s by ending the body (the client waits for its
		// body's writer before it returns).
		timer := time.AfterFunc(5*time.Second, stop)
		res, err := http.DefaultClient.Do(req)
		if !timer.Stop() {
			if err == nil {
				res.Body.Close()
			}
			t.Fatalf("no answer within 5 s while the body did not come (%v)", err)
		}
		if err != nil {
			stop()
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Retry-After"), stop
	}
	tests := []struct {
		name   string
		limits RateLimitConfig
		before func(t *testing.T, srv string, a *API) // sets the scene
		size   int64
		header http.Header
		status int
	}{
		{"declared too large", generous, nil, IntakeMaxBodyBytes + 1, nil, http.StatusRequestEntityTooLarge},
		{"client over its limit", RateLimitConfig{ClientBurst: 1, VillageBurst: 100, FloodThreshold: 100},
			func(t *testing.T, srv string, _ *API) {
				if st, _ := do(t, "POST", srv+"/v1/public/villages/"+testVillage+"/complaints", "application/json",
					`{"category":"funds","description":"`+goodDescription+`"}`); st != 201 {
					t.Fatalf("first report: %d", st)
				}
			}, 1 << 20, nil, http.StatusTooManyRequests},
		{"village flooded, no proof", RateLimitConfig{ClientBurst: 100, VillageBurst: 1, FloodThreshold: 100},
			func(t *testing.T, srv string, _ *API) {
				if st, _ := do(t, "POST", srv+"/v1/public/villages/"+testVillage+"/complaints", "application/json",
					`{"category":"funds","description":"`+goodDescription+`"}`); st != 201 {
					t.Fatalf("first report: %d", st)
				}
			}, 1 << 20, nil, http.StatusPreconditionRequired},
		{"village flooded, wrong proof", RateLimitConfig{ClientBurst: 100, VillageBurst: 1, FloodThreshold: 100},
			func(t *testing.T, srv string, _ *API) {
				if st, _ := do(t, "POST", srv+"/v1/public/villages/"+testVillage+"/complaints", "application/json",
					`{"category":"funds","description":"`+goodDescription+`"}`); st != 201 {
					t.Fatalf("first report: %d", st)
				}
			}, 1 << 20, http.Header{HeaderChallenge: {"bm90.YXRva2Vu"}, HeaderNonce: {"1"}}, http.StatusForbidden},
		{"over the daily bytes", RateLimitConfig{ClientBurst: 100, VillageBurst: 100, FloodThreshold: 100, ClientDailyBytes: 1 << 20},
			nil, 2 << 20, nil, http.StatusTooManyRequests},
		{"uploads busy", generous, func(t *testing.T, srv string, a *API) {
			// Another upload being read holds the only slot.
			release, ok := a.acquireUpload()
			if !ok {
				t.Fatal("no slot")
			}
			t.Cleanup(release)
		}, 1 << 20, nil, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, a := pageServer(t, tt.limits)
			a.MaxUploads = 1
			if tt.before != nil {
				tt.before(t, srv.URL, a)
			}
			start := time.Now()
			status, retry, stop := hanging(t, srv.URL+"/r/"+testVillage, tt.size, tt.header)
			defer stop()
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && retry == "" {
				t.Error("no Retry-After")
			}
			t.Logf("%d after %v", status, time.Since(start).Round(time.Millisecond))
		})
	}
}
