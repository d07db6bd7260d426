package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// A disclosure pod whose answers say how they may be cached: the query
// parameter cc is the Cache-Control, extra=... a header to add.
func cachingPod(t *testing.T, hits *atomic.Int64, ids *atomic.Value) *pubPod {
	p := &pubPod{name: "xikou/disclosure"}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		ids.Store(r.Header.Get(httpapi.RequestIDHeader))
		cc := r.URL.Query().Get("cc")
		if cc == "" {
			cc = "public, max-age=60"
		}
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set(httpapi.RequestIDHeader, "the-town's-own-id")
		if k, v, ok := strings.Cut(r.URL.Query().Get("extra"), ":"); ok {
			w.Header().Set(k, v)
		}
		body := fmt.Sprintf("page %s answer %d", r.URL.RequestURI(), n)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if r.URL.Query().Get("status") == "404" {
			w.WriteHeader(http.StatusNotFound)
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// Public portal pages are kept for a second: repeated requests within it
// cost the town nothing, conditional ones get 304, and whatever the town
// did not mark public, or a request with credentials, goes through.
func TestPublicPageCache(t *testing.T) {
	var hits atomic.Int64
	var ids atomic.Value
	pods := allPods(t)
	pods["xikou/disclosure"] = cachingPod(t, &hits, &ids)
	env := startPubGateway(t, Config{}, pods)
	portal := "/v/" + xikouVillage

	first := pubDo(t, "GET", env.url+portal, "", "")
	second := pubDo(t, "GET", env.url+portal, "", "")
	if first.status != 200 || second.body != first.body || hits.Load() != 1 {
		t.Fatalf("two GETs within a second: %q then %q, %d requests to the town; want the same page and 1", first.body, second.body, hits.Load())
	}
	if first.header.Get(httpapi.RequestIDHeader) == second.header.Get(httpapi.RequestIDHeader) ||
		first.header.Get(httpapi.RequestIDHeader) != ids.Load().(string) {
		t.Errorf("request ids: first %q (the town saw %q), second %q; want the gateway's own, passed to the town, new each time",
			first.header.Get(httpapi.RequestIDHeader), ids.Load(), second.header.Get(httpapi.RequestIDHeader))
	}
	if got := second.header.Get("Cache-Control"); got != "public, max-age=60" {
		t.Errorf("a kept page's Cache-Control %q, want the town's", got)
	}
	if a := pubDo(t, "GET", env.url+portal, "", "", "If-None-Match", `"v1"`); a.status != http.StatusNotModified || a.body != "" || hits.Load() != 1 {
		t.Errorf("conditional GET: %d %q after %d requests to the town, want 304 from the cache", a.status, a.body, hits.Load())
	}
	if a := pubDo(t, "HEAD", env.url+portal, "", ""); a.status != 200 || hits.Load() != 1 {
		t.Errorf("HEAD: %d after %d requests to the town", a.status, hits.Load())
	}

	for _, tc := range []struct {
		name, path string
		header     []string
	}{
		{"a cookie", portal, []string{"Cookie", "wuxiao_session=x"}},
		{"credentials", portal, []string{"Authorization", "Bearer x"}},
		{"the client's no-cache", portal, []string{"Cache-Control", "no-cache"}},
		{"another query", portal + "?year=2025", nil},
		{"private", portal + "?cc=private,max-age=60", nil},
		{"no-store", portal + "?cc=no-store", nil},
		{"max-age=0", portal + "?cc=public,max-age=0", nil},
		{"not public", portal + "?cc=max-age=60", nil},
		{"a cookie set", portal + "?extra=Set-Cookie:a=b", nil},
		{"Vary", portal + "?extra=Vary:Accept-Language", nil},
		{"not 200", portal + "?status=404", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			a := pubDo(t, "GET", env.url+tc.path, "", "", tc.header...)
			b := pubDo(t, "GET", env.url+tc.path, "", "", tc.header...)
			n := hits.Load() - before
			want := int64(2)
			if tc.name == "another query" {
				want = 1 // its own entry, kept
			}
			if n != want || (want == 2 && a.body == b.body) {
				t.Errorf("%d requests to the town for two GETs (bodies %q, %q), want %d", n, a.body, b.body, want)
			}
		})
	}
	// Another host is another page (it names its own host).
	req, _ := http.NewRequest("GET", env.url+portal, nil)
	req.Host = "jiandu.example.cn"
	before := hits.Load()
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("other host: %v", err)
	} else {
		resp.Body.Close()
	}
	if hits.Load() != before+1 {
		t.Error("a page kept for one host was served for another")
	}
	// A POST is never served from or kept in the cache.
	before = hits.Load()
	pubDo(t, "POST", env.url+portal+"/subsidies/lookup", "application/x-www-form-urlencoded", "name=x")
	pubDo(t, "POST", env.url+portal+"/subsidies/lookup", "application/x-www-form-urlencoded", "name=x")
	if hits.Load() != before+2 {
		t.Error("a POST was answered from the cache")
	}

	time.Sleep(publicCacheTTL + 100*time.Millisecond)
	before = hits.Load()
	if a := pubDo(t, "GET", env.url+portal, "", ""); a.status != 200 || hits.Load() != before+1 || a.body == first.body {
		t.Errorf("after the TTL: %q, %d requests to the town; want a fresh page", a.body, hits.Load()-before)
	}
}

func TestCacheableResponse(t *testing.T) {
	tests := []struct {
		cc   string
		want time.Duration
	}{
		{"public, max-age=60", publicCacheTTL},
		{"max-age=60, public", publicCacheTTL},
		{"public, max-age=60, s-maxage=0", 0},
		{"public, s-maxage=0, max-age=60", 0},
		{"public", 0},
		{"public, max-age=60, no-cache", 0},
		{"private, max-age=60", 0},
		{"no-store", 0},
		{"", 0},
	}
	for _, tc := range tests {
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Cache-Control": {tc.cc}}, ContentLength: 10}
		if got := cacheableResponse(resp); got != tc.want {
			t.Errorf("Cache-Control %q: %v, want %v", tc.cc, got, tc.want)
		}
	}
}
