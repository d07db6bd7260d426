package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRouteOf(t *testing.T) {
	tests := []struct {
		path, service, code string
		ok                  bool
	}{
		{"/v/330213100201", "disclosure", "330213100201", true},
		{"/v/330213100201/processes/abc", "disclosure", "330213100201", true},
		{"/r/330213100201", "complaint", "330213100201", true},
		{"/r/330213100201/submit", "complaint", "330213100201", true},
		{"/v1/public/villages/330213001001/wallet", "disclosure", "330213001001", true},
		{"/v1/public/villages/330213001001/complaints", "complaint", "330213001001", true},
		{"/v/33021310020", "", "", false},         // 11 digits
		{"/v/33021310020x", "", "", false},        // not digits
		{"/r/track/ABCDEF", "", "", false},        // no village code: town unknown
		{"/workflow/v1/instances", "", "", false}, // staff APIs are not exposed
		{"/", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			s, c, ok := routeOf(tc.path)
			if s != tc.service || c != tc.code || ok != tc.ok {
				t.Errorf("routeOf(%q) = %q, %q, %v; want %q, %q, %v", tc.path, s, c, ok, tc.service, tc.code, tc.ok)
			}
		})
	}
}

func TestBackend(t *testing.T) {
	st := &state{
		prefixes:  map[string]string{"330213100": "town-xikou", "330213001": "town-jinping"},
		endpoints: map[string][]string{"town-xikou/disclosure": {"198.18.0.5:8080", "198.18.0.6:8080"}},
	}
	seen := map[string]bool{}
	for range 4 {
		ns, addr, err := st.backend("disclosure", "330213100201")
		if err != nil || ns != "town-xikou" {
			t.Fatalf("backend = %q, %q, %v", ns, addr, err)
		}
		seen[addr] = true
	}
	if len(seen) != 2 {
		t.Errorf("round robin reached %v, want both pods", seen)
	}
	for _, tc := range []struct{ service, code, wantErr string }{
		{"complaint", "330213100201", "town-xikou/complaint has no ready pod"},
		{"disclosure", "330213001201", "town-jinping/disclosure has no ready pod"},
		{"disclosure", "330299999201", "no town has the code prefix 330299999"},
	} {
		if _, _, err := st.backend(tc.service, tc.code); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("backend(%s, %s) error = %v, want %q", tc.service, tc.code, err, tc.wantErr)
		}
	}
}

// A tracking code names no town: the gateway asks the towns in turn and
// relays the first answer that is not 404, form posts included.
func TestServeTracking(t *testing.T) {
	town := func(code string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/r/track/"+code {
				http.NotFound(w, r)
				return
			}
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Town", code)
			w.Header().Set("X-Saw-Fetch-Site", r.Header.Get("Sec-Fetch-Site"))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(r.Method + " " + string(b)))
		}))
	}
	a, b := town("TS-AAAA-AAAA"), town("TS-BBBB-BBBB")
	defer a.Close()
	defer b.Close()
	backends := []string{strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b.URL, "http://")}
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{http.MethodGet, "/r/track/TS-BBBB-BBBB", "", 200, "GET "},
		{http.MethodPost, "/r/track/TS-BBBB-BBBB", "verdict=satisfied", 200, "POST verdict=satisfied"},
		{http.MethodGet, "/r/track/TS-AAAA-AAAA", "", 200, "GET "},
		{http.MethodGet, "/r/track/TS-CCCC-CCCC", "", 404, "没有找到"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		serveTracking(rec, req, backends, http.DefaultClient)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, rec.Code, rec.Body.String(), tc.status, tc.want)
		}
		if rec.Code == http.StatusOK && rec.Header().Get("X-Saw-Fetch-Site") != "same-origin" {
			t.Errorf("%s %s: Sec-Fetch-Site not forwarded", tc.method, tc.path)
		}
	}

	// A town that does not answer may be the one that knows the code: 502,
	// not "no such code".
	down := httptest.NewServer(http.NotFoundHandler())
	downAddr := strings.TrimPrefix(down.URL, "http://")
	down.Close()
	rec := httptest.NewRecorder()
	serveTracking(rec, httptest.NewRequest(http.MethodGet, "/r/track/TS-CCCC-CCCC", nil), []string{backends[0], downAddr}, http.DefaultClient)
	if rec.Code != http.StatusBadGateway {
		t.Errorf("with a town down: %d %q, want 502", rec.Code, rec.Body.String())
	}
}
