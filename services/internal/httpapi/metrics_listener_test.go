package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// Run serves /metrics on MetricsAddr and nowhere else: the public listener
// (which the gateway proxies to and the portals expose) answers 404, the
// metrics listener serves the registry and nothing but it.
func TestMetricsListenerApart(t *testing.T) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "wuxiao-disclosure", Town: "xikou", District: "fenghua"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	public, metrics := freeAddr(t), freeAddr(t)
	s := New(config.Base{Service: "disclosure", Town: "xikou", HTTPAddr: public, MetricsAddr: metrics, ShutdownTimeout: 5 * time.Second},
		slog.New(slog.DiscardHandler), tel)
	s.SetDrainDelay(0)
	s.Handle("GET /v/{village}", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "portal") })))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	get := func(addr, path string) (int, string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := http.Get("http://" + addr + path)
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				return res.StatusCode, string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s%s: %v", addr, path, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Traffic on the public listener, so that the registry has a series.
	if code, _ := get(public, "/v/330283001001"); code != 200 {
		t.Fatalf("portal: %d", code)
	}
	for _, tc := range []struct {
		name, addr, path string
		want             int
		body             string
	}{
		{"public listener has no /metrics", public, "/metrics", 404, ""},
		{"nor under another spelling", public, "/metrics/", 404, ""},
		{"public listener keeps its routes", public, "/healthz", 200, ""},
		{"metrics listener serves the registry", metrics, "/metrics", 200, `http_route="/v/{village}"`},
		{"metrics listener serves nothing else", metrics, "/v/330283001001", 404, ""},
		{"not even the probes", metrics, "/healthz", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.addr, tc.path)
			if code != tc.want || !strings.Contains(body, tc.body) {
				t.Errorf("GET %s: %d (body has %q: %v), want %d", tc.path, code, tc.body, strings.Contains(body, tc.body), tc.want)
			}
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A metrics address that cannot be listened on is Run's error.
func TestRunReportsMetricsListenError(t *testing.T) {
	s := New(config.Base{HTTPAddr: freeAddr(t), MetricsAddr: "256.0.0.1:1"}, slog.New(slog.DiscardHandler), nil)
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "for /metrics") {
		t.Errorf("Run() = %v", err)
	}
}

// freeAddr is a loopback address nobody listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
