package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
)

func TestClientIP(t *testing.T) {
	// The ingress runs in 10.0.0.0/8; a CDN edge at 192.0.2.0/24 sits in
	// front of it in some tests.
	trusted := []string{"10.0.0.0/8", "192.0.2.0/24", "fd00::/8"}
	for _, tc := range []struct {
		name    string
		trusted []string
		remote  string
		xff     []string // header lines
		want    string
	}{
		{"direct client, no proxies configured", nil, "203.0.113.7:4711", nil, "203.0.113.7"},
		{"spoofed header, no proxies configured", nil, "203.0.113.7:4711", []string{"198.51.100.1"}, "203.0.113.7"},
		{"spoofed header from an untrusted peer", trusted, "203.0.113.7:4711", []string{"198.51.100.1"}, "203.0.113.7"},
		{"behind the ingress", trusted, "10.1.2.3:5555", []string{"203.0.113.7"}, "203.0.113.7"},
		{"client prepends a fake address", trusted, "10.1.2.3:5555", []string{"198.51.100.1, 203.0.113.7"}, "203.0.113.7"},
		{"client claims a trusted address", trusted, "10.1.2.3:5555", []string{"10.9.9.9, 203.0.113.7"}, "203.0.113.7"},
		{"client sends garbage before its address", trusted, "10.1.2.3:5555", []string{"<script>, 203.0.113.7"}, "203.0.113.7"},
		{"two trusted proxies", trusted, "10.1.2.3:5555", []string{"198.51.100.1, 203.0.113.7, 192.0.2.10"}, "203.0.113.7"},
		{"several header lines form one list", trusted, "10.1.2.3:5555", []string{"198.51.100.1", "203.0.113.7, 192.0.2.10"}, "203.0.113.7"},
		{"client's own header line first", trusted, "10.1.2.3:5555", []string{"198.51.100.1, 10.0.0.1", "203.0.113.7"}, "203.0.113.7"},
		{"trusted peer without the header", trusted, "10.1.2.3:5555", nil, "10.1.2.3"},
		{"empty header", trusted, "10.1.2.3:5555", []string{""}, "10.1.2.3"},
		{"only trusted hops: the left-most", trusted, "10.1.2.3:5555", []string{"10.4.4.4, 192.0.2.10"}, "10.4.4.4"},
		{"garbage written by a trusted hop", trusted, "10.1.2.3:5555", []string{"203.0.113.7, unknown"}, "10.1.2.3"},
		{"entries with ports", trusted, "10.1.2.3:5555", []string{"203.0.113.7:1234"}, "203.0.113.7"},
		{"IPv6 client", trusted, "[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"bracketed IPv6 with port", trusted, "10.1.2.3:5555", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"IPv4-mapped peer is unmapped", trusted, "[::ffff:10.1.2.3]:5555", []string{"203.0.113.7"}, "203.0.113.7"},
		{"IPv4-mapped client is unmapped", nil, "[::ffff:203.0.113.7]:5555", nil, "203.0.113.7"},
		{"zone in the header is not an address", trusted, "10.1.2.3:5555", []string{"fe80::1%eth0"}, "10.1.2.3"},
		{"remote address not an IP", trusted, "pipe", []string{"203.0.113.7"}, "pipe"},
		{"single-host proxy", []string{"10.1.2.3"}, "10.1.2.3:5555", []string{"10.1.2.4, 203.0.113.7"}, "203.0.113.7"},
		{"single-host proxy, other peer", []string{"10.1.2.3"}, "10.1.2.4:5555", []string{"203.0.113.7"}, "10.1.2.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := config.Base{TrustedProxies: tc.trusted}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, l := range tc.xff {
				r.Header.Add("X-Forwarded-For", l)
			}
			if got := clientIP(r, b.TrustedProxyPrefixes()); got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestClientIPThroughServer: the Server hands its configured proxies to
// ClientIP; outside a Server the header is never believed.
func TestClientIPThroughServer(t *testing.T) {
	s := New(config.Base{TrustedProxies: []string{"10.0.0.0/8"}}, slog.New(slog.NewJSONHandler(io.Discard, nil)), nil)
	s.Handle("GET /ip", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, ClientIP(r))
	})))
	for _, tc := range []struct{ remote, want string }{
		{"10.1.2.3:5555", "203.0.113.7"},
		{"198.51.100.9:5555", "198.51.100.9"},
	} {
		r := httptest.NewRequest("GET", "/ip", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("X-Forwarded-For", "203.0.113.7")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if got := w.Body.String(); got != tc.want {
			t.Errorf("from %s: ClientIP = %q, want %q", tc.remote, got, tc.want)
		}
	}
	r := httptest.NewRequest("GET", "/ip", nil)
	r.RemoteAddr = "10.1.2.3:5555"
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	if got := ClientIP(r); got != "10.1.2.3" {
		t.Errorf("outside a Server: ClientIP = %q, want the peer", got)
	}
}
