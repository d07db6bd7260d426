package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
)

// BenchmarkPublicPage is the server's own cost per request on a public
// route that writes a 24 kB page at once (the disclosure portal's cached
// pages): middleware, routing and instrumentation, without the network
// (ns/op, allocs/op).
func BenchmarkPublicPage(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 24<<10)
	srv := New(config.Base{Service: "bench"}, slog.New(slog.DiscardHandler), nil)
	srv.Handle("GET /v/{village}", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/html; charset=utf-8"}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})))
	for _, p := range []string{"/v1/a/{x}", "/v1/b/{x}/c", "/v/{village}/sub", "/v/{village}/x/{y}"} {
		srv.Handle("GET "+p, Public(http.NotFoundHandler()))
	}
	h := srv.Handler()
	r := httptest.NewRequest(http.MethodGet, "/v/330213100201?year=2026", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatal(w.code)
		}
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
