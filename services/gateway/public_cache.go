package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// The portal pages' origin (disclosure) marks them "public, max-age=60":
// browsers and proxies may reuse them for a minute. The gateway keeps them
// for at most publicCacheTTL, a micro-cache: when a village meeting scans
// the QR code at once, one request per page and second reaches the town,
// while a change published by the town shows within a second (the town's
// own cache follows its data at once; a minute would undo that). Only
// GETs without credentials are served from it, and only responses the
// origin marked public, with no cookie set and no Vary.

// publicCacheTTL bounds how long the gateway reuses a public page.
const publicCacheTTL = time.Second

// publicCacheMaxBody and publicCacheMaxBytes bound one page and all of
// them (a portal page is some tens of KiB).
const (
	publicCacheMaxBody  = 512 << 10
	publicCacheMaxBytes = 64 << 20
)

type cachedPage struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

type pageCache struct {
	mu    sync.Mutex
	pages map[string]*cachedPage
	bytes int
	now   func() time.Time
}

func newPageCache() *pageCache {
	return &pageCache{pages: map[string]*cachedPage{}, now: time.Now}
}

// cacheKey is the request's full address: a page names its own host (the
// QR code), so the host is part of it.
func cacheKey(r *http.Request) string {
	return r.Host + "\x00" + r.URL.RequestURI()
}

// cacheableRequest: a GET or HEAD with no credentials and no wish to
// bypass caches.
func cacheableRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
		return false
	}
	cc := strings.ToLower(r.Header.Get("Cache-Control"))
	return !strings.Contains(cc, "no-cache") && !strings.Contains(cc, "no-store") &&
		!strings.Contains(strings.ToLower(r.Header.Get("Pragma")), "no-cache")
}

// get serves r from the cache; false when it holds no fresh page for it.
func (c *pageCache) get(w http.ResponseWriter, r *http.Request) bool {
	key := cacheKey(r)
	c.mu.Lock()
	p, ok := c.pages[key]
	if ok && !c.now().Before(p.expires) {
		delete(c.pages, key)
		c.bytes -= len(p.body)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return false
	}
	h := w.Header()
	for k, v := range p.header {
		h[k] = v
	}
	if etag := p.header.Get("Etag"); etag != "" && etagMatches(r.Header.Get("If-None-Match"), etag) {
		h.Del("Content-Length")
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	w.WriteHeader(p.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(p.body)
	}
	return true
}

func etagMatches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// ttl is how long resp may be kept: 0 when it may not be.
func cacheableResponse(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("Vary") != "" ||
		resp.ContentLength < 0 || resp.ContentLength > publicCacheMaxBody {
		return 0
	}
	public, maxAge := false, -1
	for d := range strings.SplitSeq(strings.ToLower(resp.Header.Get("Cache-Control")), ",") {
		d = strings.TrimSpace(d)
		switch {
		case d == "public":
			public = true
		case d == "private", d == "no-store", d == "no-cache":
			return 0
		case strings.HasPrefix(d, "s-maxage="), strings.HasPrefix(d, "max-age="):
			if n, err := strconv.Atoi(d[strings.IndexByte(d, '=')+1:]); err == nil && (maxAge < 0 || strings.HasPrefix(d, "s-maxage=")) {
				maxAge = n
			}
		}
	}
	if !public || maxAge <= 0 {
		return 0
	}
	return min(time.Duration(maxAge)*time.Second, publicCacheTTL)
}

// store keeps resp's body for r, if resp may be kept, and gives resp a
// body reading the kept bytes. It runs as the proxy's ModifyResponse.
func (c *pageCache) store(key string, resp *http.Response) error {
	ttl := cacheableResponse(resp)
	if ttl <= 0 {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, publicCacheMaxBody+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if int64(len(body)) != resp.ContentLength {
		return nil
	}
	h := resp.Header.Clone()
	for _, k := range hopByHop {
		h.Del(k)
	}
	h.Del(httpapi.RequestIDHeader) // each answer has its own
	p := &cachedPage{status: resp.StatusCode, header: h, body: body, expires: c.now().Add(ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pages[key]; ok {
		c.bytes -= len(old.body)
	} else if c.bytes+len(body) > publicCacheMaxBytes {
		c.evictExpired()
		if c.bytes+len(body) > publicCacheMaxBytes {
			return nil // full of fresh pages: this one is not kept
		}
	}
	c.pages[key] = p
	c.bytes += len(body)
	return nil
}

func (c *pageCache) evictExpired() {
	now := c.now()
	for k, p := range c.pages {
		if !now.Before(p.expires) {
			delete(c.pages, k)
			c.bytes -= len(p.body)
		}
	}
}
