package disclosure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/singleflight"

	"github.com/wuxiao/wuxiao/api/divcode"
)

// Portal pages are rendered once per village version and served from memory
// until the village changes. The version lives in the database (villages.
// version, bumped by touchVillage in the transaction of every write that
// changes what the village's pages show). touchVillage also notifies the
// new version (channel wuxiao_portal, delivered on commit), from which each
// replica's listener keeps a map village → version (portal_listen.go): a
// warm request reads nothing from the database. Without a trusted listener
// a request reads the version by primary key, as before.

// touchVillage bumps the village's version; the caller holds its lock
// (lockVillage). changed_at advances by at least a second so that
// Last-Modified, which has one-second resolution, differs between versions.
// The notification carries all a page's validators need (see
// parseVersionNotice); PostgreSQL sends it only if the transaction commits.
func touchVillage(ctx context.Context, tx pgx.Tx, village string) error {
	_, err := tx.Exec(ctx, `WITH v AS (
		UPDATE villages SET version = version + 1,
			changed_at = greatest(date_trunc('second', now()), changed_at + interval '1 second')
		WHERE code = $1 RETURNING code, version, changed_at, name)
	SELECT pg_notify('`+portalChannel+`', concat_ws('|', code, version,
		(extract(epoch FROM changed_at) * 1000000)::bigint, current_schema(), name)) FROM v`, village)
	return err
}

// villageVersion is what a page's cache entry and validators depend on.
// A field added here must also be carried by touchVillage's notification
// (parseVersionNotice), or replicas that listen would not see it.
type villageVersion struct {
	Known     bool // the village has records (or belongs to the town)
	Version   int64
	ChangedAt time.Time
	Name      string // registered by the operator; "" until then
}

func (s *Service) villageVersion(ctx context.Context, village string) (villageVersion, error) {
	var v villageVersion
	err := s.Pool.QueryRow(ctx, `SELECT version, changed_at, name FROM villages WHERE code = $1`, village).Scan(&v.Version, &v.ChangedAt, &v.Name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// A village of the town with nothing published yet still has a
		// portal (its QR code is printed before the first entry).
		v.Known = divcode.InTown(village, s.TownCode)
		return v, nil
	case err != nil:
		return v, fmt.Errorf("reading village version: %w", err)
	}
	v.Known = true
	return v, nil
}

// renderedPage is a page as cached: its bytes and validators, and the
// header values that go with them, formatted once per version rather than
// on every request.
type renderedPage struct {
	body         []byte
	etag         string
	lastModified time.Time
	headers      pageHeaders
}

// pageHeaders are a page version's header values, ready to be put in a
// response's header map as they are (each slice has length = capacity, so
// a later Add copies instead of writing into the shared array).
type pageHeaders struct {
	etag, lastModified, contentLength []string
}

func newPageHeaders(etag string, changedAt time.Time, body []byte) pageHeaders {
	h := pageHeaders{etag: []string{etag}}
	if !changedAt.IsZero() {
		h.lastModified = []string{changedAt.UTC().Format(http.TimeFormat)}
	}
	if body != nil {
		h.contentLength = []string{strconv.Itoa(len(body))}
	}
	return h
}

// Header values every cached page shares, by canonical key.
var (
	portalHeaderValues = func() []headerValue {
		h := http.Header{}
		portalHeaders(h)
		h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(PortalMaxAge.Seconds())))
		var kv []headerValue
		for k, v := range h {
			kv = append(kv, headerValue{k, slices.Clip(v)})
		}
		return kv
	}()
	htmlContentType = []string{"text/html; charset=utf-8"}
)

type headerValue struct {
	key    string // canonical
	values []string
}

// serveCached serves the page k at village version v (servePage's second
// half): validators and headers first, a conditional GET answered from
// them, otherwise the cached bytes, rendered once per version by build. A
// warm request allocates nothing of its own here: the cache entry carries
// its ETag and formatted headers.
func (s *Service) serveCached(w http.ResponseWriter, r *http.Request, k pageKey, v villageVersion,
	build func(ctx context.Context, village string) (view, error)) {
	st := s.cache()
	p, cached := st.pages.get(k, v.Version)
	if !cached {
		p.etag = st.etag(k, v.Version)
		p.headers = newPageHeaders(p.etag, v.ChangedAt, nil)
	}
	h := w.Header()
	for _, kv := range portalHeaderValues {
		h[kv.key] = kv.values
	}
	h["Etag"] = p.headers.etag
	if p.headers.lastModified != nil {
		h["Last-Modified"] = p.headers.lastModified
	}
	if notModified(r, p.etag, v.ChangedAt) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if !cached {
		// Rendering outlives a cancelled request: others may wait on it.
		ctx := context.WithoutCancel(r.Context())
		var err error
		p, err = st.pages.load(k, v, p.etag, func() ([]byte, error) {
			vw, err := build(ctx, k.village)
			if err != nil {
				return nil, err
			}
			return s.render(k.village, v.Name, vw)
		})
		if err != nil {
			for _, k := range []string{"ETag", "Last-Modified", "Cache-Control"} {
				h.Del(k)
			}
			s.writeError(w, r, k.village, err)
			return
		}
	}
	h["Content-Type"] = htmlContentType
	h["Content-Length"] = p.headers.contentLength
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(p.body)
	}
}

// maxCachedPages bounds the cache; past it, the oldest entries go first.
const maxCachedPages = 4096

type pageKey struct {
	village, page string
}

// pageCache keeps the latest rendered version of each page. An entry of
// another version is simply replaced, so stale pages do not accumulate.
type pageCache struct {
	mu      sync.RWMutex
	pages   map[pageKey]cachedPage
	order   []pageKey // insertion order, for eviction
	flights singleflight.Group
}

type cachedPage struct {
	version int64
	page    renderedPage
}

func newPageCache() *pageCache { return &pageCache{pages: map[pageKey]cachedPage{}} }

func (c *pageCache) get(k pageKey, version int64) (renderedPage, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.pages[k]
	if !ok || e.version != version {
		return renderedPage{}, false
	}
	return e.page, true
}

func (c *pageCache) put(k pageKey, version int64, p renderedPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pages[k]; ok && old.version > version {
		return // a slower render of an older version must not win
	} else if !ok {
		c.order = append(c.order, k)
	}
	c.pages[k] = cachedPage{version, p}
	for len(c.pages) > maxCachedPages && len(c.order) > 0 {
		delete(c.pages, c.order[0])
		c.order = c.order[1:]
	}
}

// len is the number of cached pages (tests).
func (c *pageCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pages)
}

// load returns the cached page, or renders it once however many requests
// ask for it at the same time (a burst after a change renders it once).
func (c *pageCache) load(k pageKey, v villageVersion, etag string, render func() ([]byte, error)) (renderedPage, error) {
	if p, ok := c.get(k, v.Version); ok {
		return p, nil
	}
	flight := fmt.Sprintf("%s\x00%s\x00%d", k.village, k.page, v.Version)
	res, err, _ := c.flights.Do(flight, func() (any, error) {
		if p, ok := c.get(k, v.Version); ok {
			return p, nil
		}
		body, err := render()
		if err != nil {
			return renderedPage{}, err
		}
		p := renderedPage{body: body, etag: etag, lastModified: v.ChangedAt.UTC().Truncate(time.Second),
			headers: newPageHeaders(etag, v.ChangedAt, body)}
		c.put(k, v.Version, p)
		return p, nil
	})
	if err != nil {
		return renderedPage{}, err
	}
	return res.(renderedPage), nil
}

// buildTag changes whenever the templates or styles change, so that two
// builds never give the same strong ETag to different bytes (a rolling
// update runs both side by side).
var buildTag = func() string {
	h := sha256.New()
	_ = fs.WalkDir(portalFiles, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := portalFiles.ReadFile(path)
		h.Write([]byte(path))
		h.Write(data)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:8]
}()

// etagOf is the strong ETag of a page at a village version: rendering is
// deterministic for a version and content tag (templates, power list), so
// the validator needs no rendering.
func etagOf(contentTag string, k pageKey, version int64) string {
	h := sha256.Sum256([]byte(contentTag + "\x00" + k.village + "\x00" + k.page))
	return fmt.Sprintf(`"%d-%s"`, version, hex.EncodeToString(h[:9]))
}

// notModified answers a conditional GET: If-None-Match wins; otherwise
// If-Modified-Since is compared at one-second resolution (RFC 9110 13.2.2).
func notModified(r *http.Request, etag string, lastModified time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || t == etag {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !lastModified.IsZero() {
		if t, err := http.ParseTime(ims); err == nil {
			return !lastModified.Truncate(time.Second).After(t)
		}
	}
	return false
}
