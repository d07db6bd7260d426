package identity

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	kratos "github.com/ory/kratos-client-go"
	"golang.org/x/sync/singleflight"

	apiidentity "github.com/wuxiao/wuxiao/api/identity"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// DefaultCookieNames are the session cookies forwarded to Kratos: the name
// hack/kratos/kratos.yml configures (session.cookie.name) and Kratos' own
// default. Only these cookies leave the service; the rest of the Cookie
// header is never sent to Kratos.
var DefaultCookieNames = []string{"wuxiao_session", "ory_kratos_session"}

// ErrorWriter writes a problem response. It must set the status code.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, title, detail string)

// WriteProblem is the default ErrorWriter: an RFC 9457
// application/problem+json body with type about:blank.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	body := struct {
		Type     string `json:"type"`
		Title    string `json:"title"`
		Status   int    `json:"status"`
		Detail   string `json:"detail,omitempty"`
		Instance string `json:"instance,omitempty"`
	}{"about:blank", title, status, detail, ""}
	if r != nil && r.URL != nil {
		body.Instance = r.URL.Path
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

type ctxKey struct{}

// NewContext returns ctx carrying p (for tests of handlers and for code that
// authenticates by other means).
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal Require or Optional put in ctx.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Option configures an Authenticator.
type Option func(*Authenticator)

// WithErrorWriter replaces the problem writer (default WriteProblem).
func WithErrorWriter(f ErrorWriter) Option { return func(a *Authenticator) { a.writeError = f } }

// WithLogger sets the logger for rejected principals and Kratos failures
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(a *Authenticator) { a.log = l } }

// WithHTTPClient sets the client used to call Kratos (default: 5 s timeout,
// each call a client span: telemetry.HTTPTransport).
func WithHTTPClient(c *http.Client) Option { return func(a *Authenticator) { a.httpClient = c } }

// WithCacheTTL sets how long a resolved session is reused without asking
// Kratos again (default 10 s; 0 disables the cache). A session revoked, an
// identity deactivated or a role changed in Kratos therefore takes effect in
// this service within the TTL, never later than the session's own expiry.
func WithCacheTTL(d time.Duration) Option { return func(a *Authenticator) { a.ttl = d } }

// WithCacheSize bounds the number of cached sessions (default 10000).
func WithCacheSize(n int) Option { return func(a *Authenticator) { a.maxEntries = n } }

// WithCookieNames sets the session cookie names (default DefaultCookieNames).
func WithCookieNames(names ...string) Option {
	return func(a *Authenticator) { a.cookieNames = names }
}

// WithTownGroup is for a town's service: town is the town it serves and
// group the 片组 the operator says it is in (WUXIAO_TOWN_GROUP; "" none).
// Principals then carry TownGroups{town: group}, and Require refuses (403)
// a district official limited to another group, or to any group when the
// town is in none.
func WithTownGroup(town, group string) Option {
	return func(a *Authenticator) {
		a.town = town
		a.groups = TownGroups{}
		if group != "" {
			a.groups[town] = group
		}
	}
}

// WithTownGroups is for the district gateway, which serves every town:
// the group of each town in a group (District spec.groups). Principals
// carry the map; nothing is refused at the door (the console narrows its
// town lists with Principal.InTown, the towns' services check again).
func WithTownGroups(groups TownGroups) Option {
	return func(a *Authenticator) { a.town, a.groups = "", maps.Clone(groups) }
}

// Authenticator resolves callers through Kratos' FrontendAPI ToSession
// (GET /sessions/whoami on the public port).
type Authenticator struct {
	api         *kratos.APIClient
	httpClient  *http.Client
	writeError  ErrorWriter
	log         *slog.Logger
	ttl         time.Duration
	maxEntries  int
	cookieNames []string
	now         func() time.Time
	town        string     // the town served (WithTownGroup); "" district-wide
	groups      TownGroups // what this service knows of the 片组

	flight singleflight.Group
	mu     sync.Mutex
	cache  map[[32]byte]cacheEntry
	// notReadyUntil: Kratos said it was not ready (kratosReady) and is
	// not asked again before then.
	notReadyUntil time.Time
}

type cacheEntry struct {
	p       Principal
	expires time.Time
}

// New returns an Authenticator asking the Kratos public API at publicURL.
func New(publicURL string, opts ...Option) *Authenticator {
	a := &Authenticator{
		writeError:  WriteProblem,
		log:         slog.Default(),
		ttl:         10 * time.Second,
		maxEntries:  10000,
		cookieNames: DefaultCookieNames,
		now:         time.Now,
		cache:       map[[32]byte]cacheEntry{},
	}
	for _, o := range opts {
		o(a)
	}
	if a.httpClient == nil {
		// Each whoami is a client span of the request being authenticated.
		a.httpClient = &http.Client{Timeout: 5 * time.Second, Transport: telemetry.HTTPTransport(nil, "kratos")}
	}
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: strings.TrimRight(publicURL, "/")}}
	cfg.HTTPClient = a.httpClient
	cfg.UserAgent = "wuxiao-identity"
	a.api = kratos.NewAPIClient(cfg)
	return a
}

// credentials is what the request carries: a session token or a session cookie.
type credentials struct {
	token  string // Authorization: Bearer or X-Session-Token
	cookie string // "name=value" of the session cookie(s)
}

func (c credentials) present() bool { return c.token != "" || c.cookie != "" }

func (a *Authenticator) credentials(r *http.Request) credentials {
	var c credentials
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			c.token = strings.TrimSpace(tok)
		}
	}
	if c.token == "" {
		c.token = strings.TrimSpace(r.Header.Get("X-Session-Token"))
	}
	if c.token != "" {
		return c
	}
	var parts []string
	for _, ck := range r.Cookies() {
		for _, n := range a.cookieNames {
			if ck.Name == n && ck.Value != "" {
				parts = append(parts, ck.Name+"="+ck.Value)
			}
		}
	}
	c.cookie = strings.Join(parts, "; ")
	return c
}

// authError is why a caller was not resolved.
type authError struct {
	status int // 401, 403 or 503
	title  string
	detail string
}

func (e *authError) Error() string { return e.detail }

func (a *Authenticator) fail(w http.ResponseWriter, r *http.Request, e *authError) {
	switch e.status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="wuxiao"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	a.writeError(w, r, e.status, e.title, e.detail)
}

// Require lets only callers with a valid Kratos session and valid
// metadata through, with their Principal in the request context:
// 401 without credentials or with an invalid, expired or revoked session
// (or an inactive identity), 403 when the identity's metadata_public is
// invalid, 503 when Kratos cannot be asked — an outage never lets a caller
// through and never makes one anonymous.
func (a *Authenticator) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := a.credentials(r)
		if !c.present() {
			a.fail(w, r, &authError{http.StatusUnauthorized, "Authentication required",
				"sign in: send the session cookie, an Authorization: Bearer session token or an X-Session-Token header"})
			return
		}
		p, err := a.resolve(r.Context(), c)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if a.town != "" && p.Role.IsDistrictRole() && !p.InTown(a.town) {
			a.fail(w, r, &authError{http.StatusForbidden, "Outside your group",
				fmt.Sprintf("your account is limited to the group (片组) %s, which does not include town %s", p.Group, a.town)})
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// Optional is for public routes that behave differently when the caller is
// signed in. Without credentials the request goes on anonymously (no
// Principal in the context). A session cookie that Kratos no longer
// accepts (a browser's stale cookie) is also anonymous; a session token
// that Kratos does not accept is 401, since the client asked explicitly to
// act as someone. Invalid metadata is 403 and a Kratos outage 503, as in
// Require: an outage never silently turns a signed-in caller anonymous.
func (a *Authenticator) Optional(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := a.credentials(r)
		if !c.present() {
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.resolve(r.Context(), c)
		if err != nil {
			if err.status == http.StatusUnauthorized && c.token == "" {
				next.ServeHTTP(w, r)
				return
			}
			a.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// RequireRoles returns middleware, to be placed after Require, that lets
// through only principals holding one of roles: 401 without a principal,
// 403 naming the roles needed otherwise.
func (a *Authenticator) RequireRoles(roles ...Role) func(http.Handler) http.Handler {
	return requireRoles(a.writeError, roles)
}

// RequireRoles is Authenticator.RequireRoles with the default problem writer.
func RequireRoles(roles ...Role) func(http.Handler) http.Handler {
	return requireRoles(WriteProblem, roles)
}

func requireRoles(write ErrorWriter, roles []Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="wuxiao"`)
				write(w, r, http.StatusUnauthorized, "Authentication required", "sign in first")
				return
			}
			if !p.HasRole(roles...) {
				write(w, r, http.StatusForbidden, "Role not permitted",
					fmt.Sprintf("this needs one of the roles: %s (you are %s)", joinRoles(roles), p.Role))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// resolve returns the principal for c, from the cache or from Kratos.
func (a *Authenticator) resolve(ctx context.Context, c credentials) (Principal, *authError) {
	key := cacheKey(c)
	if p, ok := a.cached(key); ok {
		return p, nil
	}
	// Concurrent requests with the same credentials share one Kratos call.
	// The call must not die with the first caller's request.
	v, _, _ := a.flight.Do(string(key[:]), func() (any, error) {
		p, exp, err := a.whoami(context.WithoutCancel(ctx), c)
		if err == nil {
			a.store(key, p, exp)
		}
		return result{p, err}, nil
	})
	res := v.(result)
	return res.p, res.err
}

type result struct {
	p   Principal
	err *authError
}

func cacheKey(c credentials) [32]byte {
	if c.token != "" {
		return sha256.Sum256([]byte("token\x00" + c.token))
	}
	return sha256.Sum256([]byte("cookie\x00" + c.cookie))
}

func (a *Authenticator) cached(key [32]byte) (Principal, bool) {
	if a.ttl <= 0 {
		return Principal{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.cache[key]
	if !ok {
		return Principal{}, false
	}
	if !a.now().Before(e.expires) {
		delete(a.cache, key)
		return Principal{}, false
	}
	return e.p, true
}

func (a *Authenticator) store(key [32]byte, p Principal, sessionExpires time.Time) {
	if a.ttl <= 0 || a.maxEntries <= 0 {
		return
	}
	now := a.now()
	exp := now.Add(a.ttl)
	if !sessionExpires.IsZero() && sessionExpires.Before(exp) {
		exp = sessionExpires
	}
	if !now.Before(exp) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= a.maxEntries {
		for k, e := range a.cache {
			if !now.Before(e.expires) {
				delete(a.cache, k)
			}
		}
		// Still full: drop arbitrary entries (map order is random); they
		// are asked of Kratos again on their next request.
		for k := range a.cache {
			if len(a.cache) < a.maxEntries {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[key] = cacheEntry{p, exp}
}

// whoami asks Kratos who c is and checks the answer.
func (a *Authenticator) whoami(ctx context.Context, c credentials) (Principal, time.Time, *authError) {
	req := a.api.FrontendAPI.ToSession(ctx)
	if c.token != "" {
		req = req.XSessionToken(c.token)
	} else {
		req = req.Cookie(c.cookie)
	}
	s, resp, err := req.Execute()
	if err != nil {
		if resp == nil || resp.StatusCode >= 500 || resp.StatusCode < 400 {
			status := "no response"
			if resp != nil {
				status = resp.Status
			}
			a.log.Error("identity: Kratos unavailable", "status", status, "err", err)
			return Principal{}, time.Time{}, &authError{http.StatusServiceUnavailable, "Identity service unavailable",
				"the sign-in service cannot be reached; try again shortly"}
		}
		// 401: no, invalid, expired or revoked session, or inactive
		// identity. 403: the session's assurance level is insufficient.
		// But Kratos (v1.3, session.Handler.whoami) also answers 401 when
		// it cannot read its database: a valid session would be told to
		// sign in again while PostgreSQL restarts. A 401 counts only while
		// Kratos says it is ready (its readiness pings the database).
		if resp.StatusCode == http.StatusUnauthorized && !a.kratosReady(ctx) {
			a.log.Error("identity: Kratos answered 401 while not ready (its database?)", "err", err)
			return Principal{}, time.Time{}, &authError{http.StatusServiceUnavailable, "Identity service unavailable",
				"the sign-in service cannot reach its database; try again shortly"}
		}
		return Principal{}, time.Time{}, &authError{http.StatusUnauthorized, "Authentication required",
			"the session is invalid, expired or revoked: sign in again"}
	}
	a.mu.Lock()
	a.notReadyUntil = time.Time{} // it answered from its database
	a.mu.Unlock()
	if s == nil || s.Identity == nil {
		a.log.Error("identity: Kratos returned a session without an identity")
		return Principal{}, time.Time{}, &authError{http.StatusServiceUnavailable, "Identity service unavailable",
			"the sign-in service gave an incomplete answer; try again shortly"}
	}
	id := s.Identity
	var exp time.Time
	if s.ExpiresAt != nil {
		exp = *s.ExpiresAt
	}
	// Kratos answers 401 for these itself; checked again so that a
	// differently configured Kratos cannot let them through.
	if (s.Active != nil && !*s.Active) || (!exp.IsZero() && !a.now().Before(exp)) ||
		(id.State != nil && *id.State != "active") {
		return Principal{}, time.Time{}, &authError{http.StatusUnauthorized, "Authentication required",
			"the session is invalid, expired or revoked: sign in again"}
	}
	meta, err := parseMetadata(id.MetadataPublic)
	if err == nil {
		err = meta.Validate()
	}
	if err != nil {
		a.log.Warn("identity: rejected principal with invalid metadata_public", "identity_id", id.Id, "err", err)
		return Principal{}, time.Time{}, &authError{http.StatusForbidden, "Account not set up",
			fmt.Sprintf("account %s has no valid role or scope (%v); ask your town's IT staff to fix it", id.Id, err)}
	}
	p := Principal{IdentityID: id.Id, Role: meta.Role, Town: meta.Town, Village: meta.Village,
		Group: meta.Group, Villages: meta.Villages, TownGroups: a.groups}
	if traits, ok := id.Traits.(map[string]any); ok {
		p.Email, _ = traits[apiidentity.TraitEmail].(string)
		p.Name, _ = traits[apiidentity.TraitName].(string)
	}
	return p, exp, nil
}

// kratosReady asks Kratos' readiness endpoint (GET /health/ready: its
// database reachable, its migrations applied). Only a 401 pays for it;
// concurrent ones share one call, and a "not ready" holds for a second.
func (a *Authenticator) kratosReady(ctx context.Context) bool {
	a.mu.Lock()
	notReady := a.now().Before(a.notReadyUntil)
	a.mu.Unlock()
	if notReady {
		return false
	}
	v, _, _ := a.flight.Do("kratos ready", func() (any, error) {
		_, resp, err := a.api.MetadataAPI.IsReady(ctx).Execute()
		ready := err == nil && resp != nil && resp.StatusCode == http.StatusOK
		if !ready {
			a.mu.Lock()
			a.notReadyUntil = a.now().Add(time.Second)
			a.mu.Unlock()
		}
		return ready, nil
	})
	return v.(bool)
}

// parseMetadata reads metadata_public strictly: role, town, village and
// group must be strings, villages a list of strings, when present.
func parseMetadata(v any) (Metadata, error) {
	if v == nil {
		return Metadata{}, fmt.Errorf("%w: metadata_public is empty", ErrInvalidMetadata)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Metadata{}, fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			want := "a string"
			if te.Field == "villages" || strings.HasPrefix(te.Field, "villages.") {
				want = "a list of strings"
			}
			return Metadata{}, fmt.Errorf("%w: metadata_public.%s must be %s, not a %s", ErrInvalidMetadata, te.Field, want, te.Value)
		}
		return Metadata{}, fmt.Errorf("%w: metadata_public is not an object", ErrInvalidMetadata)
	}
	return m, nil
}
