package complaint

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// BenchmarkIntake files complaints through the real HTTP stack (httpapi
// server over loopback, as in production minus TLS) into the real
// PostgreSQL: the JSON intake, and the report page's multipart form with one
// 100 KiB photo stored in the database. The abuse guard runs on every
// request but is configured not to throttle (bursts and flood threshold of
// 2^30), so the figures are the intake's own cost. Reported: intakes/s
// with GOMAXPROCS concurrent clients.
func BenchmarkIntake(b *testing.B) {
	unthrottled := RateLimitConfig{ClientBurst: 1 << 30, VillageBurst: 1 << 30, FloodThreshold: 1 << 30}
	ts, _ := pageServer(b, unthrottled)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	photo := padded(samplePNG(b), 100<<10)
	mpType, mpBody := validForm("funds", formFile{"photo.png", "image/png", photo}).encode()
	cases := []struct {
		name, path, contentType string
		body                    []byte
	}{
		{"json", "/v1/public/villages/" + testVillage + "/complaints", "application/json",
			[]byte(`{"category":"funds","description":"` + goodDescription + `"}`)},
		{"multipart-100KiB", "/r/" + testVillage, mpType, mpBody},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", ts.URL+c.path, bytes.NewReader(c.body))
					req.Header.Set("Content-Type", c.contentType)
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusCreated {
						b.Errorf("HTTP %d", res.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "intakes/s")
		})
	}
}
