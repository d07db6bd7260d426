package identity

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kratos "github.com/ory/kratos-client-go"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

func TestRequireResolvesPrincipalFromMetadata(t *testing.T) {
	pub := kratosPublic(t)
	a := New(pub, WithCacheTTL(0))
	tests := []struct {
		role          Role
		town, village string
	}{
		{RoleSecretary, townA, villageA},
		{RoleLiaisonOfficer, townB, villageB},
		{RoleTownFinance, townA, ""},
		{RoleDistrictDiscipline, "", ""},
		{RoleVillager, townA, villageC},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			token, u := testinfra.KratosUser(t, string(tt.role), tt.town, tt.village)
			want := Principal{IdentityID: u.ID, Email: u.Email, Name: u.Name, Role: tt.role, Town: tt.town, Village: tt.village}
			cookie := browserLogin(t, u.Email, u.Password)
			for _, c := range []struct {
				name string
				cred cred
			}{
				{"bearer", cred{bearer: token}},
				{"x-session-token", cred{header: token}},
				{"browser session cookie", cred{cookie: cookie}},
			} {
				p := &probe{}
				w := get(t, a.Require(p), c.cred)
				if w.Code != http.StatusNoContent || p.calls != 1 {
					t.Fatalf("%s: status %d (calls %d), body %s", c.name, w.Code, p.calls, w.Body)
				}
				if !p.signedIn || !reflect.DeepEqual(p.principal, want) {
					t.Fatalf("%s: principal %+v, want %+v", c.name, p.principal, want)
				}
			}
		})
	}
}

// Kratos only accepts its own encrypted cookie: a native session token put
// into the session cookie is not a session.
func TestNativeTokenIsNotACookie(t *testing.T) {
	a := New(kratosPublic(t), WithCacheTTL(0))
	token, _ := testinfra.KratosUser(t, string(RoleSecretary), townA, villageA)
	for _, name := range DefaultCookieNames {
		t.Run(name, func(t *testing.T) {
			p := &probe{}
			w := get(t, a.Require(p), cred{cookie: &http.Cookie{Name: name, Value: token}})
			wantProblem(t, w, http.StatusUnauthorized)
			if p.calls != 0 {
				t.Fatal("handler ran")
			}
		})
	}
}

func TestRequireRejectsMissingAndBogusCredentials(t *testing.T) {
	a := New(kratosPublic(t), WithCacheTTL(0))
	tests := []struct {
		name string
		cred cred
	}{
		{"nothing", cred{}},
		{"unknown bearer token", cred{bearer: "ory_st_doesnotexist0000000000000000"}},
		{"unknown x-session-token", cred{header: "ory_st_doesnotexist0000000000000000"}},
		{"garbage cookie", cred{cookie: &http.Cookie{Name: "wuxiao_session", Value: "garbage"}}},
		{"only an unrelated cookie", cred{cookie: &http.Cookie{Name: "other", Value: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &probe{}
			w := get(t, a.Require(p), tt.cred)
			wantProblem(t, w, http.StatusUnauthorized)
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("no WWW-Authenticate: %v", w.Header())
			}
			if p.calls != 0 {
				t.Fatal("handler ran")
			}
		})
	}
}

// A user editing their own traits through a native settings flow cannot
// give themselves a role: the schema rejects extra traits and the profile
// method ignores anything but traits, so metadata_public never changes.
func TestSettingsFlowCannotChangeRole(t *testing.T) {
	pub := testinfra.KratosPublic(t)
	admin := kratosAdmin(t)
	a := New(kratosPublic(t), WithCacheTTL(0))
	tests := []struct {
		name     string
		traits   func(u testinfra.KratosIdentity) map[string]any
		extra    map[string]any
		accepted bool
	}{
		{
			name: "role in traits",
			traits: func(u testinfra.KratosIdentity) map[string]any {
				return map[string]any{"email": u.Email, "name": u.Name, "role": "district-admin"}
			},
		},
		{
			name: "town and village in traits",
			traits: func(u testinfra.KratosIdentity) map[string]any {
				return map[string]any{"email": u.Email, "name": u.Name, "town": townB, "village": villageB}
			},
		},
		{
			name: "metadata_public next to a legitimate name change",
			traits: func(u testinfra.KratosIdentity) map[string]any {
				return map[string]any{"email": u.Email, "name": "Renamed"}
			},
			extra:    map[string]any{"metadata_public": map[string]any{"role": "district-admin"}},
			accepted: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, u := testinfra.KratosUser(t, string(RoleCashier), townA, villageA)
			flow, resp, err := pub.FrontendAPI.CreateNativeSettingsFlow(ctx(t)).XSessionToken(token).Execute()
			if err != nil {
				t.Fatalf("settings flow: %v (%v)", err, resp)
			}
			body := kratos.NewUpdateSettingsFlowWithProfileMethod("profile", tt.traits(u))
			body.AdditionalProperties = tt.extra
			_, resp, err = pub.FrontendAPI.UpdateSettingsFlow(ctx(t)).Flow(flow.Id).XSessionToken(token).
				UpdateSettingsFlowBody(kratos.UpdateSettingsFlowWithProfileMethodAsUpdateSettingsFlowBody(body)).Execute()
			if tt.accepted {
				if err != nil {
					t.Fatalf("legitimate settings update failed: %v", err)
				}
			} else {
				if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("settings update with scope in traits: err %v, response %v; want 400", err, resp)
				}
				if oe := (*kratos.GenericOpenAPIError)(nil); !errors.As(err, &oe) || !strings.Contains(string(oe.Body()), "additionalProperties") {
					t.Fatalf("400 is not the schema's additionalProperties rejection: %v", err)
				}
			}
			acc, err := admin.Get(ctx(t), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(acc.Metadata, Metadata{Role: RoleCashier, Town: townA, Village: villageA}) || acc.MetadataErr != nil {
				t.Fatalf("metadata_public changed to %+v (%v)", acc.Metadata, acc.MetadataErr)
			}
			p := &probe{}
			if w := get(t, a.Require(p), cred{bearer: token}); w.Code != http.StatusNoContent {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			wantName := u.Name
			if tt.accepted {
				wantName = "Renamed"
			}
			if p.principal.Role != RoleCashier || p.principal.Town != townA || p.principal.Village != villageA || p.principal.Name != wantName {
				t.Fatalf("principal %+v", p.principal)
			}
		})
	}
}

func TestRevokedSessionIsUnauthorized(t *testing.T) {
	pub := testinfra.KratosPublic(t)
	kadmin := testinfra.KratosAdmin(t)
	admin := kratosAdmin(t)
	tests := []struct {
		name   string
		revoke func(t *testing.T, token, identityID string)
	}{
		{"native logout", func(t *testing.T, token, _ string) {
			if _, err := pub.FrontendAPI.PerformNativeLogout(ctx(t)).
				PerformNativeLogoutBody(*kratos.NewPerformNativeLogoutBody(token)).Execute(); err != nil {
				t.Fatal(err)
			}
		}},
		{"admin DisableSession", func(t *testing.T, token, _ string) {
			s, _, err := pub.FrontendAPI.ToSession(ctx(t)).XSessionToken(token).Execute()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kadmin.IdentityAPI.DisableSession(ctx(t), s.Id).Execute(); err != nil {
				t.Fatal(err)
			}
		}},
		{"Admin.RevokeSessions", func(t *testing.T, _, id string) {
			if err := admin.RevokeSessions(ctx(t), id); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(kratosPublic(t), WithCacheTTL(0))
			token, u := testinfra.KratosUser(t, string(RoleDirector), townA, villageA)
			if w := get(t, a.Require(&probe{}), cred{bearer: token}); w.Code != http.StatusNoContent {
				t.Fatalf("before revocation: %d %s", w.Code, w.Body)
			}
			tt.revoke(t, token, u.ID)
			p := &probe{}
			wantProblem(t, get(t, a.Require(p), cred{bearer: token}), http.StatusUnauthorized)
			if p.calls != 0 {
				t.Fatal("handler ran after revocation")
			}
		})
	}
}

// With a cache, a revoked session keeps working until the TTL ends (a
// documented trade-off), and not a moment longer.
func TestCacheHoldsRevocationForTTLOnly(t *testing.T) {
	proxy, url := newCountingProxy(t, kratosPublic(t))
	now := time.Unix(1_700_000_000, 0)
	var clock sync.Mutex
	a := New(url, WithCacheTTL(10*time.Second))
	a.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }

	token, u := testinfra.KratosUser(t, string(RoleTownOfficial), townA, "")
	h := a.Require(&probe{})
	for range 5 {
		if w := get(t, h, cred{bearer: token}); w.Code != http.StatusNoContent {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	if n := proxy.count(); n != 1 {
		t.Fatalf("5 requests asked Kratos %d times, want 1", n)
	}
	if err := kratosAdmin(t).RevokeSessions(ctx(t), u.ID); err != nil {
		t.Fatal(err)
	}
	advance(9 * time.Second)
	if w := get(t, h, cred{bearer: token}); w.Code != http.StatusNoContent {
		t.Fatalf("within the TTL: %d, want the cached principal", w.Code)
	}
	advance(time.Second)
	wantProblem(t, get(t, h, cred{bearer: token}), http.StatusUnauthorized)
	if n := proxy.count(); n != 2 {
		t.Fatalf("Kratos asked %d times, want 2", n)
	}
	// Failures are not cached: every retry asks Kratos.
	wantProblem(t, get(t, h, cred{bearer: token}), http.StatusUnauthorized)
	if n := proxy.count(); n != 3 {
		t.Fatalf("Kratos asked %d times, want 3", n)
	}
}

// A burst of concurrent requests with one token makes one Kratos call.
func TestCacheCoalescesBurst(t *testing.T) {
	proxy, url := newCountingProxy(t, kratosPublic(t))
	token, _ := testinfra.KratosUser(t, string(RoleAccountant), townA, villageA)
	a := New(url)
	block := make(chan struct{})
	proxy.mu.Lock()
	proxy.block = block
	proxy.mu.Unlock()
	p := &probe{}
	h := a.Require(p)
	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i] = get(t, h, cred{bearer: token}).Code }()
	}
	// Wait until the first call is held at the proxy, then let it go.
	for proxy.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(block)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusNoContent {
			t.Fatalf("request %d: %d", i, c)
		}
	}
	if p.calls != n {
		t.Fatalf("handler ran %d times, want %d", p.calls, n)
	}
	// Requests that arrived after the shared call finished hit the cache.
	if c := proxy.count(); c != 1 {
		t.Fatalf("%d concurrent requests asked Kratos %d times, want 1", n, c)
	}
}

func TestCacheIsBounded(t *testing.T) {
	proxy, url := newCountingProxy(t, kratosPublic(t))
	a := New(url, WithCacheSize(2))
	h := a.Require(&probe{})
	var tokens []string
	for range 3 {
		tok, _ := testinfra.KratosUser(t, string(RoleVillager), "", "")
		tokens = append(tokens, tok)
	}
	for _, tok := range tokens {
		if w := get(t, h, cred{bearer: tok}); w.Code != http.StatusNoContent {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		a.mu.Lock()
		size := len(a.cache)
		a.mu.Unlock()
		if size > 2 {
			t.Fatalf("cache holds %d entries, bound is 2", size)
		}
	}
	if c := proxy.count(); c != 3 {
		t.Fatalf("Kratos asked %d times, want 3", c)
	}
}

func TestDeactivatedIdentityIsUnauthorized(t *testing.T) {
	kadmin := testinfra.KratosAdmin(t)
	admin := kratosAdmin(t)
	tests := []struct {
		name       string
		deactivate func(t *testing.T, id string)
	}{
		{"Admin.Deactivate", func(t *testing.T, id string) {
			if err := admin.Deactivate(ctx(t), id); err != nil {
				t.Fatal(err)
			}
		}},
		{"state inactive, session left alive", func(t *testing.T, id string) {
			patch := []kratos.JsonPatch{{Op: "replace", Path: "/state", Value: "inactive"}}
			if _, _, err := kadmin.IdentityAPI.PatchIdentity(ctx(t), id).JsonPatch(patch).Execute(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(kratosPublic(t), WithCacheTTL(0))
			token, u := testinfra.KratosUser(t, string(RoleTownDiscipline), townA, "")
			if w := get(t, a.Require(&probe{}), cred{bearer: token}); w.Code != http.StatusNoContent {
				t.Fatalf("before: %d %s", w.Code, w.Body)
			}
			tt.deactivate(t, u.ID)
			p := &probe{}
			wantProblem(t, get(t, a.Require(p), cred{bearer: token}), http.StatusUnauthorized)
			if p.calls != 0 {
				t.Fatal("handler ran for an inactive identity")
			}
			acc, err := admin.Get(ctx(t), u.ID)
			if err != nil || acc.Active {
				t.Fatalf("identity after deactivation: %+v, %v (want kept, inactive)", acc, err)
			}
		})
	}
}

func TestKratosOutageIsServiceUnavailable(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"code":500,"message":"db down"}}`, http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	token, u := testinfra.KratosUser(t, string(RoleSecretary), townA, villageA)
	cookie := browserLogin(t, u.Email, u.Password)
	tests := []struct {
		name, url string
		cred      cred
	}{
		{"closed port, token", closedURL(t), cred{bearer: token}},
		{"closed port, cookie", closedURL(t), cred{cookie: cookie}},
		{"Kratos answers 500", failing.URL, cred{header: token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := newLogger()
			a := New(tt.url, WithLogger(log))
			for name, mw := range map[string]func(http.Handler) http.Handler{"Require": a.Require, "Optional": a.Optional} {
				p := &probe{}
				w := get(t, mw(p), tt.cred)
				wantProblem(t, w, http.StatusServiceUnavailable)
				if p.calls != 0 {
					t.Fatalf("%s: handler ran during an outage (signed in: %v)", name, p.signedIn)
				}
				if w.Header().Get("Retry-After") == "" {
					t.Fatalf("%s: no Retry-After", name)
				}
			}
			if !strings.Contains(logs.String(), "Kratos unavailable") {
				t.Fatalf("outage not logged: %q", logs.String())
			}
		})
	}
}

func TestMalformedMetadataIsRejected(t *testing.T) {
	tests := []struct {
		name string
		meta any
		want string
	}{
		{"no metadata", nil, "empty"},
		{"unknown role", map[string]any{"role": "mayor", "town": townA}, "unknown role"},
		{"village role without village", map[string]any{"role": "secretary", "town": townA}, "needs a town and a village"},
		{"village role with a short code", map[string]any{"role": "cashier", "town": townA, "village": "3302831002"}, "12-digit"},
		{"town role without town", map[string]any{"role": "town-finance"}, "needs a town"},
		{"district role with a town", map[string]any{"role": "district-admin", "town": townA}, "whole district"},
		{"role not a string", map[string]any{"role": 7}, "role must be a string"},
		{"metadata not an object", []any{"secretary"}, "not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := newLogger()
			a := New(kratosPublic(t), WithCacheTTL(0), WithLogger(log))
			token, u := testinfra.KratosUserWithMetadata(t, tt.meta)
			for name, mw := range map[string]func(http.Handler) http.Handler{"Require": a.Require, "Optional": a.Optional} {
				p := &probe{}
				prob := wantProblem(t, get(t, mw(p), cred{bearer: token}), http.StatusForbidden)
				if p.calls != 0 {
					t.Fatalf("%s: handler ran", name)
				}
				if !strings.Contains(prob.Detail, tt.want) || !strings.Contains(prob.Detail, u.ID) {
					t.Fatalf("%s: detail %q does not say %q for %s", name, prob.Detail, tt.want, u.ID)
				}
			}
			if l := logs.String(); !strings.Contains(l, "identity_id="+u.ID) {
				t.Fatalf("log does not name the identity: %q", l)
			}
		})
	}
}

func TestOptional(t *testing.T) {
	a := New(kratosPublic(t), WithCacheTTL(0))
	token, u := testinfra.KratosUser(t, string(RoleVillager), townA, villageA)
	cookie := browserLogin(t, u.Email, u.Password)
	tests := []struct {
		name     string
		cred     cred
		status   int
		signedIn bool
	}{
		{"anonymous", cred{}, http.StatusNoContent, false},
		{"signed in by token", cred{bearer: token}, http.StatusNoContent, true},
		{"signed in by cookie", cred{cookie: cookie}, http.StatusNoContent, true},
		{"stale cookie is anonymous", cred{cookie: &http.Cookie{Name: "wuxiao_session", Value: "stale"}}, http.StatusNoContent, false},
		{"bad token is refused", cred{bearer: "ory_st_doesnotexist0000000000000000"}, http.StatusUnauthorized, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &probe{}
			w := get(t, a.Optional(p), tt.cred)
			if tt.status != http.StatusNoContent {
				wantProblem(t, w, tt.status)
				if p.calls != 0 {
					t.Fatal("handler ran")
				}
				return
			}
			if w.Code != tt.status || p.calls != 1 || p.signedIn != tt.signedIn {
				t.Fatalf("status %d, calls %d, signed in %v; want %d, 1, %v", w.Code, p.calls, p.signedIn, tt.status, tt.signedIn)
			}
			if tt.signedIn && (p.principal.IdentityID != u.ID || p.principal.Role != RoleVillager || p.principal.Village != villageA) {
				t.Fatalf("principal %+v", p.principal)
			}
		})
	}
}

func TestRequireRoles(t *testing.T) {
	var got struct{ status int }
	custom := func(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
		got.status = status
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s|%s", title, detail)
	}
	a := New(kratosPublic(t), WithCacheTTL(0), WithErrorWriter(custom))
	tokFinance, _ := testinfra.KratosUser(t, string(RoleTownFinance), townA, "")
	tokCashier, _ := testinfra.KratosUser(t, string(RoleCashier), townA, villageA)
	tests := []struct {
		name   string
		chain  http.Handler
		cred   cred
		status int
		detail []string
	}{
		{"allowed role", a.Require(a.RequireRoles(RoleTownFinance, RoleTownOfficial)(&probe{})), cred{bearer: tokFinance}, http.StatusNoContent, nil},
		{"other role", a.Require(a.RequireRoles(RoleTownFinance, RoleTownOfficial)(&probe{})), cred{bearer: tokCashier}, http.StatusForbidden, []string{"town-finance, town-official", "cashier"}},
		{"no principal", a.RequireRoles(RoleTownFinance)(&probe{}), cred{bearer: tokFinance}, http.StatusUnauthorized, []string{"sign in"}},
		{"no credentials reach the custom writer", a.Require(&probe{}), cred{}, http.StatusUnauthorized, []string{"Authentication required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got.status = 0
			w := get(t, tt.chain, tt.cred)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status != http.StatusNoContent && got.status != tt.status {
				t.Fatalf("custom error writer not used (got %d)", got.status)
			}
			for _, d := range tt.detail {
				if !strings.Contains(w.Body.String(), d) {
					t.Fatalf("body %q does not name %q", w.Body, d)
				}
			}
		})
	}
	// The package-level helper writes a default problem.
	r := httptest.NewRequest(http.MethodGet, "/v1/thing", nil)
	r = r.WithContext(NewContext(r.Context(), Principal{Role: RoleVillager}))
	w := httptest.NewRecorder()
	RequireRoles(RoleDistrictAdmin)(&probe{}).ServeHTTP(w, r)
	if p := wantProblem(t, w, http.StatusForbidden); !strings.Contains(p.Detail, "district-admin") {
		t.Fatalf("detail %q", p.Detail)
	}
}

// Scopes from metadata_public through the real Kratos: a grouped district
// official passes a town service's door only when the town is in its group
// as the service was told (WithTownGroup), a liaison cadre arrives with its
// villages, and a villages list of the wrong type is refused (403).
func TestRequireGroupAndLiaisonScopes(t *testing.T) {
	pub := kratosPublic(t)
	grouped, _ := testinfra.KratosUserWithMetadata(t, Metadata{Role: RoleDistrictDiscipline, Group: "pian-1"})
	whole, _ := testinfra.KratosUserWithMetadata(t, Metadata{Role: RoleDistrictDiscipline})
	cadre, cu := testinfra.KratosUserWithMetadata(t, Metadata{Role: RoleVillageLiaisonCadre, Town: townA, Villages: []string{villageA}})
	badVillages, _ := testinfra.KratosUserWithMetadata(t, map[string]any{"role": string(RoleVillageLiaisonCadre), "town": townA, "villages": villageA})
	inGroup := New(pub, WithCacheTTL(0), WithTownGroup(townA, "pian-1"))
	otherGroup := New(pub, WithCacheTTL(0), WithTownGroup(townA, "pian-2"))
	noGroup := New(pub, WithCacheTTL(0), WithTownGroup(townA, ""))
	gateway := New(pub, WithCacheTTL(0), WithTownGroups(TownGroups{townA: "pian-1", townB: "pian-2"}))
	tests := []struct {
		name   string
		a      *Authenticator
		token  string
		status int
	}{
		{"grouped official at a town of its group", inGroup, grouped, http.StatusNoContent},
		{"grouped official at a town of another group", otherGroup, grouped, http.StatusForbidden},
		{"grouped official at a town in no group", noGroup, grouped, http.StatusForbidden},
		{"grouped official at the gateway", gateway, grouped, http.StatusNoContent},
		{"official without a group at a grouped town", otherGroup, whole, http.StatusNoContent},
		{"liaison cadre at its town", inGroup, cadre, http.StatusNoContent},
		{"villages not a list", inGroup, badVillages, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &probe{}
			w := get(t, tt.a.Require(p), cred{bearer: tt.token})
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status != http.StatusNoContent {
				wantProblem(t, w, tt.status)
				if p.calls != 0 {
					t.Fatal("the handler ran")
				}
			}
		})
	}
	p := &probe{}
	if w := get(t, gateway.Require(p), cred{bearer: grouped}); w.Code != http.StatusNoContent ||
		p.principal.Group != "pian-1" || !p.principal.InTown(townA) || p.principal.InTown(townB) {
		t.Fatalf("gateway: %d, principal %+v", w.Code, p.principal)
	}
	p = &probe{}
	if w := get(t, inGroup.Require(p), cred{bearer: cadre}); w.Code != http.StatusNoContent || p.principal.IdentityID != cu.ID ||
		!slices.Equal(p.principal.Villages, []string{villageA}) || !p.principal.CanReadVillage(townA, villageA) || p.principal.CanReadVillage(townA, villageC) {
		t.Fatalf("cadre: %d, principal %+v", w.Code, p.principal)
	}
}

// TestKratosDatabaseOutageIsServiceUnavailable: Kratos answers whoami with
// 401 when it cannot read its database, which would send everyone signed
// in back to the sign-in page while PostgreSQL restarts (hack/chaos
// pg-restart). A private Kratos reaches its database through a proxy the
// test cuts: a valid session is then 503 (try again), not 401, and works
// again when the database is back.
func TestKratosDatabaseOutageIsServiceUnavailable(t *testing.T) {
	dsn, err := url.Parse(testinfra.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	db := testinfra.NewProxy(t, dsn.Host)
	dsn.Host = db.Addr
	publicURL, adminURL := testinfra.PrivateKratos(t, "http://127.0.0.1:1", "WUXIAO_KRATOS_DSN="+dsn.String())

	admin, pub := testinfra.KratosClient(adminURL), testinfra.KratosClient(publicURL)
	email, password := testinfra.UniqueName("outage-")+"@test.wuxiao.invalid", testinfra.UniqueName("pw-")
	body := kratos.NewCreateIdentityBody("default", map[string]any{"email": email, "name": "停库测试"})
	body.SetMetadataPublic(map[string]any{"role": string(RoleDirector), "town": townA, "village": villageA})
	body.SetCredentials(kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
		Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &password}}})
	if _, _, err := admin.IdentityAPI.CreateIdentity(ctx(t)).CreateIdentityBody(*body).Execute(); err != nil {
		t.Fatal(err)
	}
	flow, _, err := pub.FrontendAPI.CreateNativeLoginFlow(ctx(t)).Execute()
	if err != nil {
		t.Fatal(err)
	}
	done, _, err := pub.FrontendAPI.UpdateLoginFlow(ctx(t)).Flow(flow.Id).UpdateLoginFlowBody(
		kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(kratos.NewUpdateLoginFlowWithPasswordMethod(email, "password", password))).Execute()
	if err != nil || done.SessionToken == nil {
		t.Fatalf("signing in: %v", err)
	}
	token := *done.SessionToken

	log, logs := newLogger()
	a := New(publicURL, WithCacheTTL(0), WithLogger(log))
	if w := get(t, a.Require(&probe{}), cred{bearer: token}); w.Code != http.StatusNoContent {
		t.Fatalf("before the outage: %d %s", w.Code, w.Body)
	}

	db.Cut()
	// What Kratos itself says, the reason for the check.
	if _, resp, err := pub.FrontendAPI.ToSession(ctx(t)).XSessionToken(token).Execute(); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Logf("Kratos without its database answered whoami with %v (%v): the 401 this test guards against may be gone", resp, err)
	}
	for name, mw := range map[string]func(http.Handler) http.Handler{"Require": a.Require, "Optional": a.Optional} {
		p := &probe{}
		wantProblem(t, get(t, mw(p), cred{bearer: token}), http.StatusServiceUnavailable)
		if p.calls != 0 {
			t.Fatalf("%s: handler ran during the outage", name)
		}
	}
	if !strings.Contains(logs.String(), "not ready") {
		t.Errorf("outage not logged: %q", logs.String())
	}
	// A session that does not exist is still refused as such, once Kratos
	// is ready: the check only turns 401s into 503s while it is not.
	db.Restore()
	eventuallyStatus(t, a, token, http.StatusNoContent)
	wantProblem(t, get(t, a.Require(&probe{}), cred{bearer: "ory_st_" + testinfra.UniqueName("bogus")}), http.StatusUnauthorized)
}

// eventuallyStatus waits until a request with token gets status (Kratos
// reconnects to its database on its own schedule).
func eventuallyStatus(t *testing.T, a *Authenticator, token string, status int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w := get(t, a.Require(&probe{}), cred{bearer: token})
		if w.Code == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
