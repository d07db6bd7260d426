package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
)

func TestWithBodyLimitRaisesOneRouteOnly(t *testing.T) {
	srv := New(config.Base{Service: "workflow", Town: "xikou", MaxBodyBytes: 64}, slog.New(slog.DiscardHandler), nil)
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv.Handle("POST /upload", WithBodyLimit(1024, Public(read)))
	srv.Handle("POST /other", Public(read))
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, tc := range []struct {
		path   string
		size   int
		status int
	}{
		{"/upload", 1000, http.StatusNoContent},
		{"/upload", 1025, http.StatusRequestEntityTooLarge},
		{"/other", 64, http.StatusNoContent},
		{"/other", 65, http.StatusRequestEntityTooLarge},
	} {
		res, err := http.Post(ts.URL+tc.path, "application/octet-stream", strings.NewReader(strings.Repeat("x", tc.size)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("POST %s with %d bytes: %d, want %d", tc.path, tc.size, res.StatusCode, tc.status)
		}
	}
}
