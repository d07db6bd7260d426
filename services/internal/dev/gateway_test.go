package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestRouteOf(t *testing.T) {
	for _, tc := range []struct {
		path, service, rest string
	}{
		{"/v/330213100201", "disclosure", "/v/330213100201"},
		{"/v/330213100201/wallet", "disclosure", "/v/330213100201/wallet"},
		{"/v1/public/villages/330213100201/wallet", "disclosure", "/v1/public/villages/330213100201/wallet"},
		{"/r/330213100201", "complaint", "/r/330213100201"},
		{"/v1/public/villages/330213100201/complaints", "complaint", "/v1/public/villages/330213100201/complaints"},
		{"/v1/public/complaints/TS-ABCD-EFGH", "complaint", "/v1/public/complaints/TS-ABCD-EFGH"},
		{"/open311/v2/services.json", "complaint", "/open311/v2/services.json"},
		{"/workflow/v1/catalog", "workflow", "/v1/catalog"},
		{"/workflow", "workflow", "/"},
		{"/inspection/v1/district/ratings", "inspection", "/v1/district/ratings"},
		{"/complaint/v1/statistics", "complaint", "/v1/statistics"},
		{"/nothing", "", ""},
		{"/workflowx/v1", "", ""},
	} {
		service, rest, ok := routeOf(tc.path)
		if ok != (tc.service != "") || service != tc.service || rest != tc.rest {
			t.Errorf("routeOf(%q) = %q, %q, %v; want %q, %q", tc.path, service, rest, ok, tc.service, tc.rest)
		}
	}
}

// The gateway really forwards, with the prefix cut and the forwarding
// headers set.
func TestGatewayForwards(t *testing.T) {
	backends := map[string]*url.URL{}
	for _, s := range devServices {
		name := s.Name
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, name+" "+r.URL.Path+" "+r.Header.Get("X-Forwarded-Host"))
		}))
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		backends[name] = u
	}
	gw := httptest.NewServer(gateway(backends))
	defer gw.Close()
	for path, want := range map[string]string{
		"/workflow/v1/catalog":     "workflow /v1/catalog ",
		"/r/330213100201":          "complaint /r/330213100201 ",
		"/v/330213100201/powers":   "disclosure /v/330213100201/powers ",
		"/inspection/v1/notices/1": "inspection /v1/notices/1 ",
	} {
		resp, err := http.Get(gw.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := string(body); got != want+gw.Listener.Addr().String() {
			t.Errorf("GET %s → %q, want %q", path, got, want+gw.Listener.Addr().String())
		}
	}
	resp, err := http.Get(gw.URL + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing → %d, want 404", resp.StatusCode)
	}
}
