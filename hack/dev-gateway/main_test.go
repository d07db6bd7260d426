package main

import (
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
