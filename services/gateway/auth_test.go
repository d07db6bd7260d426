package gateway

import (
	"bytes"
	"context"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	kratos "github.com/ory/kratos-client-go"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// authEnv is a gateway in front of a Kratos of its own (testinfra.PrivateKratos),
// serving on a loopback port.
type authEnv struct {
	URL         string // the gateway's origin
	KratosAdmin string
	KratosPub   string
	Admin       *identity.Admin
	log         *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// startAuthGateway listens on a free port first, starts a Kratos whose
// browser URLs name that port, then serves the gateway on the listener.
// kratosSettings are passed to testinfra.PrivateKratos.
func startAuthGateway(t *testing.T, kratosSettings ...string) authEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := authEnv{URL: "http://" + ln.Addr().String(), log: &syncBuffer{}}
	env.KratosPub, env.KratosAdmin = testinfra.PrivateKratos(t, env.URL, kratosSettings...)
	env.Admin = identity.NewAdmin(env.KratosAdmin, nil)
	log := slog.New(slog.NewTextHandler(env.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	g, err := New(Config{District: "fenghua", DistrictName: "奉化区", KratosPublicURL: env.KratosPub}, NewStaticBackends(), log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(config.Base{Service: "gateway", HTTPAddr: ln.Addr().String()}, log, nil)
	srv.SetDrainDelay(0)
	g.Register(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", env.log.String())
		}
	})
	return env
}

// official creates an identity in the env's Kratos (without a password
// when password is empty) and returns its id and login.
func (e authEnv) official(t *testing.T, password string) (id, email string) {
	t.Helper()
	email = testinfra.UniqueName("official-") + "@test.wuxiao.invalid"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := e.Admin.CreateOfficial(ctx, email, "王小明", identity.Metadata{Role: identity.RoleSecretary, Town: "xikou", Village: "330283100201"}, password)
	if err != nil {
		t.Fatalf("creating an official: %v", err)
	}
	return id, email
}

// recoveryLink is what the operator writes into a village's recovery Secret
// for a new official: Kratos' one-time code and its recovery link.
func (e authEnv) recoveryLink(t *testing.T, id, expiresIn string) (code, link string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := kratos.NewCreateRecoveryCodeForIdentityBody(id)
	body.SetExpiresIn(expiresIn)
	rc, _, err := testinfra.KratosClient(e.KratosAdmin).IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(*body).Execute()
	if err != nil {
		t.Fatalf("creating a recovery code: %v", err)
	}
	return rc.RecoveryCode, rc.RecoveryLink
}

// client is a browser without JavaScript: a cookie jar, redirects followed
// by hand so that each hop can be checked.
type client struct {
	t    *testing.T
	base string
	jar  *cookiejar.Jar
	c    *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, jar: jar, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type hop struct {
	Status   int
	URL      string // absolute
	Location string
	Body     string
}

func (c *client) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return c.base + u
	}
	return u
}

// do sends one request and returns the answer without following it;
// hdr are extra header name, value pairs.
func (c *client) do(method, u string, form url.Values, hdr ...string) hop {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.abs(u), body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return hop{Status: resp.StatusCode, URL: req.URL.String(), Location: resp.Header.Get("Location"), Body: string(b)}
}

// follow sends the request and follows redirects (GET) to the final
// answer; it returns every hop.
func (c *client) follow(method, u string, form url.Values, hdr ...string) []hop {
	c.t.Helper()
	hops := []hop{c.do(method, u, form, hdr...)}
	for len(hops) < 10 {
		last := hops[len(hops)-1]
		if last.Status < 300 || last.Status >= 400 || last.Location == "" {
			return hops
		}
		next, err := url.Parse(last.URL)
		if err != nil {
			c.t.Fatal(err)
		}
		loc, err := next.Parse(last.Location)
		if err != nil {
			c.t.Fatal(err)
		}
		hops = append(hops, c.do(http.MethodGet, loc.String(), nil))
	}
	c.t.Fatalf("more than 10 redirects from %s %s", method, u)
	return nil
}

func (c *client) cookie(name string) *http.Cookie {
	u, _ := url.Parse(c.base)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name || strings.HasPrefix(ck.Name, name+"_") {
			return ck
		}
	}
	return nil
}

var (
	formRe   = regexp.MustCompile(`<form class="auth-form" action="([^"]*)" method="post">`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// pageForm is the form of a rendered sign-in page: its action and hidden
// fields.
func pageForm(t *testing.T, body string) (string, url.Values) {
	t.Helper()
	m := formRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no sign-in form on the page:\n%s", body)
	}
	v := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(body, -1) {
		v.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	return html.UnescapeString(m[1]), v
}

func last(h []hop) hop { return h[len(h)-1] }

func pathOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// logoutForm opens the sign-out page (a signed-in browser gets a
// confirmation form) and returns the form's fields.
func (c *client) logoutForm() url.Values {
	c.t.Helper()
	h := c.do(http.MethodGet, LogoutPath, nil)
	if h.Status != http.StatusOK || !strings.Contains(h.Body, `action="/auth/logout"`) {
		c.t.Fatalf("sign-out page: %d %s", h.Status, h.Body)
	}
	v := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(h.Body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// logout confirms the sign-out form as the browser would (same origin).
func (c *client) logout() []hop {
	c.t.Helper()
	return c.follow(http.MethodPost, LogoutPath, c.logoutForm())
}

// login opens the login page and submits the password form; it returns the hops.
func (c *client) login(email, password string) []hop {
	c.t.Helper()
	hops := c.follow(http.MethodGet, LoginPath, nil)
	page := last(hops)
	if page.Status != http.StatusOK || pathOf(c.t, page.URL) != LoginPath {
		c.t.Fatalf("login page: %d %s", page.Status, page.URL)
	}
	action, form := pageForm(c.t, page.Body)
	form.Set("identifier", email)
	form.Set("password", password)
	form.Set("method", "password")
	return c.follow(http.MethodPost, action, form)
}

// The sign-in pages and Kratos' public API through the gateway, as a
// browser without JavaScript uses them (forms, redirects, cookies).
func TestAuthPagesThroughGateway(t *testing.T) {
	env := startAuthGateway(t)

	t.Run("login without a flow starts one at Kratos through the gateway", func(t *testing.T) {
		c := newClient(t, env.URL)
		for _, tt := range []struct{ query, returnTo string }{
			{"", "/console"},
			{"?return_to=%2Fconsole%2Fstart%3Fitem%3Dfunds-1", "/console/start?item=funds-1"},
			{"?return_to=%2F%2Fevil.example%2Fx", "/console"},
			{"?return_to=https%3A%2F%2Fevil.example%2F", "/console"},
		} {
			h := c.do(http.MethodGet, LoginPath+tt.query, nil)
			want := KratosPathPrefix + "self-service/login/browser?" + url.Values{"return_to": {tt.returnTo}}.Encode()
			if h.Status != http.StatusSeeOther || h.Location != want {
				t.Errorf("GET %s%s: %d %q, want 303 %q", LoginPath, tt.query, h.Status, h.Location, want)
			}
		}
		hops := c.follow(http.MethodGet, LoginPath, nil)
		page := last(hops)
		if page.Status != http.StatusOK || pathOf(t, page.URL) != LoginPath {
			t.Fatalf("login: ended at %d %s", page.Status, page.URL)
		}
		// Kratos' CSRF cookie belongs to the gateway's origin.
		if c.cookie("csrf_token") == nil {
			t.Fatalf("no Kratos CSRF cookie for %s", env.URL)
		}
		action, hidden := pageForm(t, page.Body)
		if !strings.HasPrefix(action, KratosPathPrefix+"self-service/login?flow=") {
			t.Errorf("form action %q does not post through the gateway", action)
		}
		if hidden.Get("csrf_token") == "" {
			t.Errorf("no csrf_token in the form")
		}
		for _, want := range []string{`<html lang="zh-CN">`, `<label for="f-identifier">登录名（邮箱或手机号登录名）</label>`,
			`<label for="f-password">密码</label>`, `autocomplete="current-password"`, `>登录</button>`} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("login page lacks %s", want)
			}
		}
	})

	t.Run("a wrong password is answered in Chinese on the same flow", func(t *testing.T) {
		_, email := env.official(t, "correct-horse-1")
		c := newClient(t, env.URL)
		hops := c.login(email, "wrong-password-1")
		page := last(hops)
		if page.Status != http.StatusOK || pathOf(t, page.URL) != LoginPath {
			t.Fatalf("after a wrong password: %d %s", page.Status, page.URL)
		}
		if !strings.Contains(page.Body, "登录名或密码不正确") {
			t.Fatalf("no Chinese invalid-credentials message:\n%s", page.Body)
		}
		if !strings.Contains(page.Body, `value="`+email+`"`) {
			t.Errorf("the login name was not kept in the form")
		}
		if c.cookie("wuxiao_session") != nil {
			t.Fatalf("a wrong password got a session cookie")
		}
	})

	t.Run("the right password signs in and lands on the console", func(t *testing.T) {
		id, email := env.official(t, "correct-horse-2")
		c := newClient(t, env.URL)
		hops := c.login(email, "correct-horse-2")
		// The console is another page's work: what matters here is where
		// Kratos sends the browser and the session it holds.
		var landed string
		for _, h := range hops {
			landed = h.URL
		}
		if pathOf(t, landed) != ConsolePath {
			t.Fatalf("signed in, landed on %s (hops %v)", landed, hopURLs(hops))
		}
		ck := c.cookie("wuxiao_session")
		if ck == nil {
			t.Fatalf("no session cookie for the gateway's origin")
		}
		whoami := c.do(http.MethodGet, KratosPathPrefix+"sessions/whoami", nil)
		if whoami.Status != http.StatusOK || !strings.Contains(whoami.Body, id) {
			t.Fatalf("whoami through the gateway: %d %s", whoami.Status, whoami.Body)
		}
		// The services' authenticator accepts the cookie as that official.
		var p identity.Principal
		h := identity.New(env.KratosPub, identity.WithCacheTTL(0)).Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ = identity.FromContext(r.Context())
		}))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK || p.IdentityID != id || p.Role != identity.RoleSecretary {
			t.Fatalf("the session as a principal: %d %+v %s", w.Code, p, w.Body)
		}
	})

	t.Run("an unknown flow starts a new one", func(t *testing.T) {
		c := newClient(t, env.URL)
		for _, page := range []string{LoginPath, RecoveryPath} {
			hops := c.follow(http.MethodGet, page+"?flow=9a7e9e5c-0000-4000-8000-000000000000", nil)
			if hops[0].Status != http.StatusSeeOther || !strings.HasPrefix(hops[0].Location, KratosPathPrefix+"self-service/") {
				t.Errorf("%s with an unknown flow: %d %q", page, hops[0].Status, hops[0].Location)
			}
			end := last(hops)
			u, _ := url.Parse(end.URL)
			if end.Status != http.StatusOK || u.Path != page || u.Query().Get("flow") == "" || strings.HasPrefix(u.Query().Get("flow"), "9a7e9e5c") {
				t.Errorf("%s with an unknown flow ended at %d %s", page, end.Status, end.URL)
			}
		}
	})

	t.Run("an expired hand-over link says so in Chinese", func(t *testing.T) {
		id, _ := env.official(t, "")
		_, link := env.recoveryLink(t, id, "1s")
		time.Sleep(1500 * time.Millisecond)
		c := newClient(t, env.URL)
		h := c.do(http.MethodGet, link, nil)
		if h.Status != http.StatusOK || !strings.Contains(h.Body, "链接已过期") || !strings.Contains(h.Body, "镇（街道）信息员") {
			t.Fatalf("expired link: %d\n%s", h.Status, h.Body)
		}
	})

	t.Run("first sign-in: hand-over link, one-time code, password, console", func(t *testing.T) {
		id, email := env.official(t, "")
		code, link := env.recoveryLink(t, id, "24h") // as the operator does
		if !strings.HasPrefix(link, env.URL+RecoveryPath+"?flow=") {
			t.Fatalf("the recovery link %q does not open the gateway's recovery page", link)
		}
		c := newClient(t, env.URL)
		page := last(c.follow(http.MethodGet, link, nil))
		if page.Status != http.StatusOK || !strings.Contains(page.Body, `<label for="f-code">一次性验证码</label>`) {
			t.Fatalf("recovery page: %d\n%s", page.Status, page.Body)
		}
		action, form := pageForm(t, page.Body)
		// A wrong code first: the same flow, a Chinese message.
		form.Set("code", "000000")
		form.Set("method", "code")
		if code == "000000" {
			form.Set("code", "000001")
		}
		wrong := last(c.follow(http.MethodPost, action, form))
		if !strings.Contains(wrong.Body, "验证码不正确或已被使用") {
			t.Fatalf("wrong code: %d %s\n%s", wrong.Status, wrong.URL, wrong.Body)
		}
		action, form = pageForm(t, wrong.Body)
		form.Set("code", code)
		form.Set("method", "code")
		settings := last(c.follow(http.MethodPost, action, form))
		if settings.Status != http.StatusOK || pathOf(t, settings.URL) != SettingsPath {
			t.Fatalf("after the code: %d %s\n%s", settings.Status, settings.URL, settings.Body)
		}
		for _, want := range []string{"验证通过，您已登录", email, `<label for="f-password">新密码</label>`, `autocomplete="new-password"`, "保存密码"} {
			if !strings.Contains(settings.Body, want) {
				t.Errorf("settings page lacks %q", want)
			}
		}
		if strings.Contains(settings.Body, `name="traits.`) {
			t.Errorf("settings page offers the profile traits for editing")
		}
		// Too short first.
		action, form = pageForm(t, settings.Body)
		form.Set("password", "short")
		form.Set("method", "password")
		short := last(c.follow(http.MethodPost, action, form))
		if !strings.Contains(short.Body, "密码至少需要 8 位") {
			t.Fatalf("short password: %d %s\n%s", short.Status, short.URL, short.Body)
		}
		action, form = pageForm(t, short.Body)
		form.Set("password", "my-own-password-9")
		form.Set("method", "password")
		hops := c.follow(http.MethodPost, action, form)
		if pathOf(t, last(hops).URL) != ConsolePath {
			t.Fatalf("after setting the password: %v", hopURLs(hops))
		}
		// The code worked once; the password works from now on.
		c2 := newClient(t, env.URL)
		again := last(c2.follow(http.MethodGet, link, nil))
		if strings.Contains(again.Body, `name="code"`) && !strings.Contains(again.Body, "已经用过") {
			// Kratos shows the used flow's state; submitting the code again must not sign in.
			action, form := pageForm(t, again.Body)
			form.Set("code", code)
			form.Set("method", "code")
			c2.follow(http.MethodPost, action, form)
			if c2.cookie("wuxiao_session") != nil {
				t.Fatalf("a used code signed in again")
			}
		}
		c3 := newClient(t, env.URL)
		if end := last(c3.login(email, "my-own-password-9")); pathOf(t, end.URL) != ConsolePath {
			t.Fatalf("signing in with the new password ended at %s", end.URL)
		}
	})

	t.Run("logout ends the session; settings then asks to sign in", func(t *testing.T) {
		_, email := env.official(t, "correct-horse-3")
		c := newClient(t, env.URL)
		c.login(email, "correct-horse-3")
		if c.cookie("wuxiao_session") == nil {
			t.Fatal("not signed in")
		}
		// Only a POST from this site with the session's token signs out: a
		// GET, a foreign page's form and a forged token leave the session.
		form := c.logoutForm()
		forged := url.Values{"csrf": {"0000"}}
		for _, tt := range []struct {
			name string
			form url.Values
			hdr  []string
		}{
			{"cross-site form", form, []string{"Origin", "https://evil.example"}},
			{"cross-site fetch", form, []string{"Sec-Fetch-Site", "cross-site"}},
			{"forged token", forged, nil},
			{"no token", url.Values{}, nil},
		} {
			if h := c.do(http.MethodPost, LogoutPath, tt.form, tt.hdr...); h.Status != http.StatusForbidden || !strings.Contains(h.Body, "您仍处于登录状态") {
				t.Fatalf("%s: %d %q", tt.name, h.Status, h.Location)
			}
			if w := c.do(http.MethodGet, KratosPathPrefix+"sessions/whoami", nil); w.Status != http.StatusOK {
				t.Fatalf("%s signed the browser out: whoami %d", tt.name, w.Status)
			}
		}
		hops := c.follow(http.MethodPost, LogoutPath, form, "Origin", env.URL)
		if hops[0].Status != http.StatusSeeOther || !strings.HasPrefix(hops[0].Location, KratosPathPrefix+"self-service/logout?token=") {
			t.Fatalf("logout: %d %q", hops[0].Status, hops[0].Location)
		}
		if end := last(hops); pathOf(t, end.URL) != LoginPath || end.Status != http.StatusOK {
			t.Fatalf("after logout: %v", hopURLs(hops))
		}
		if ck := c.cookie("wuxiao_session"); ck != nil {
			t.Fatalf("session cookie still there after logout")
		}
		if w := c.do(http.MethodGet, KratosPathPrefix+"sessions/whoami", nil); w.Status != http.StatusUnauthorized {
			t.Fatalf("whoami after logout: %d", w.Status)
		}
		// A protected page (settings: Kratos requires a session) sends the browser to sign in.
		hops = c.follow(http.MethodGet, SettingsPath, nil)
		if end := last(hops); pathOf(t, end.URL) != LoginPath || end.Status != http.StatusOK || !strings.Contains(end.Body, `name="identifier"`) {
			t.Fatalf("settings without a session: %v", hopURLs(hops))
		}
		// Logging out again (no session) just shows the login page.
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			if h := c.do(m, LogoutPath, url.Values{}); h.Status != http.StatusSeeOther || h.Location != LoginPath {
				t.Fatalf("%s logout without a session: %d %q", m, h.Status, h.Location)
			}
		}
	})

	t.Run("Kratos errors are shown in Chinese", func(t *testing.T) {
		// A form posted without Kratos' CSRF cookie (e.g. a page opened in
		// another browser): Kratos records an error and sends the browser
		// to the error page.
		c := newClient(t, env.URL)
		page := last(c.follow(http.MethodGet, LoginPath, nil))
		action, form := pageForm(t, page.Body)
		form.Set("identifier", "x@test.wuxiao.invalid")
		form.Set("password", "whatever-1")
		form.Set("method", "password")
		other := newClient(t, env.URL)
		hops := other.follow(http.MethodPost, action, form)
		end := last(hops)
		if pathOf(t, end.URL) != ErrorPath {
			t.Fatalf("a post without the CSRF cookie ended at %v", hopURLs(hops))
		}
		for _, want := range []string{"页面已失效", "security_csrf_violation", `href="/auth/login"`, `<h1>请重新登录</h1>`} {
			if !strings.Contains(end.Body, want) {
				t.Errorf("error page lacks %s:\n%s", want, end.Body)
			}
		}
		// An unknown error id: the generic text, still in Chinese.
		h := c.do(http.MethodGet, ErrorPath+"?id=9a7e9e5c-0000-4000-8000-000000000000", nil)
		if h.Status != http.StatusOK || !strings.Contains(h.Body, "登录过程中出现了问题") || !strings.Contains(h.Body, `lang="zh-CN"`) {
			t.Fatalf("unknown error: %d\n%s", h.Status, h.Body)
		}
	})

	t.Run("only Kratos' browser API is proxied", func(t *testing.T) {
		c := newClient(t, env.URL)
		for _, tt := range []struct {
			path string
			want int
		}{
			{KratosPathPrefix + "sessions/whoami", http.StatusUnauthorized}, // Kratos' own answer
			{KratosPathPrefix + "health/ready", http.StatusNotFound},
			{KratosPathPrefix + "identities", http.StatusNotFound},
			{KratosPathPrefix + "admin/identities", http.StatusNotFound},
			{KratosPathPrefix + "self-service/../admin/identities", http.StatusNotFound},
			{KratosPathPrefix + "schemas/default", http.StatusOK},
		} {
			// (A path with dot segments is first redirected to its clean form.)
			if h := last(c.follow(http.MethodGet, tt.path, nil)); h.Status != tt.want {
				t.Errorf("GET %s: %d, want %d (%s)", tt.path, h.Status, tt.want, h.Body)
			}
		}
	})
}

// An expired login flow: opening it starts a new one that keeps where the
// user was going; posting its form gets Kratos' new flow with the expiry
// said in Chinese.
func TestExpiredLoginFlow(t *testing.T) {
	env := startAuthGateway(t, "SELFSERVICE_FLOWS_LOGIN_LIFESPAN=3s")
	_, email := env.official(t, "correct-horse-4")
	c := newClient(t, env.URL)
	page := last(c.follow(http.MethodGet, LoginPath+"?return_to=%2Fconsole%2Fprocesses", nil))
	old, err := url.Parse(page.URL)
	if err != nil || page.Status != http.StatusOK || old.Query().Get("flow") == "" {
		t.Fatalf("login page: %d %s", page.Status, page.URL)
	}
	action, form := pageForm(t, page.Body)
	time.Sleep(3500 * time.Millisecond)

	hops := c.follow(http.MethodGet, page.URL, nil)
	want := KratosPathPrefix + "self-service/login/browser?return_to="
	if hops[0].Status != http.StatusSeeOther || !strings.HasPrefix(hops[0].Location, want) || !strings.Contains(hops[0].Location, "console%2Fprocesses") {
		t.Fatalf("expired flow: %d %q, want a new flow returning to /console/processes", hops[0].Status, hops[0].Location)
	}
	fresh := last(hops)
	nu, _ := url.Parse(fresh.URL)
	if fresh.Status != http.StatusOK || nu.Path != LoginPath || nu.Query().Get("flow") == old.Query().Get("flow") {
		t.Fatalf("after the expired flow: %v", hopURLs(hops))
	}

	// The old form posted after expiry.
	form.Set("identifier", email)
	form.Set("password", "correct-horse-4")
	form.Set("method", "password")
	end := last(c.follow(http.MethodPost, action, form))
	if pathOf(t, end.URL) != LoginPath || !strings.Contains(end.Body, "登录页面已过期，请重新登录。") {
		t.Fatalf("posting an expired flow: %d %s\n%s", end.Status, end.URL, end.Body)
	}
	if c.cookie("wuxiao_session") != nil {
		t.Fatal("an expired flow signed in")
	}
	// Its new form works (within the short lifespan) and keeps the way on.
	action, form = pageForm(t, end.Body)
	form.Set("identifier", email)
	form.Set("password", "correct-horse-4")
	form.Set("method", "password")
	hops = c.follow(http.MethodPost, action, form)
	if got := pathOf(t, last(hops).URL); got != ConsolePath+"/processes" {
		t.Fatalf("signed in after the expiry, landed on %s (%v)", got, hopURLs(hops))
	}
}

// A Kratos whose serve.public.base_url still names Kratos itself (not
// <gateway>/.ory/kratos/): the pages still post through the gateway (form
// actions and logout URLs are rewritten onto it), so signing in and out
// works; only the URLs Kratos writes into e-mails would be wrong.
func TestSignInWithKratosOwnBaseURL(t *testing.T) {
	env := startAuthGateway(t, "WUXIAO_KRATOS_PUBLIC_BASE_URL=http://kratos-public.wuxiao-system.svc:4433/")
	_, email := env.official(t, "correct-horse-5")
	c := newClient(t, env.URL)
	// (Kratos does name itself in the flows it makes.)
	req, _ := http.NewRequest(http.MethodGet, env.URL+KratosPathPrefix+"self-service/login/browser", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"action":"http://kratos-public.wuxiao-system.svc:4433/self-service/login?flow=`) {
		t.Fatalf("Kratos' flow does not name its own base URL: %s", b)
	}
	hops := c.login(email, "correct-horse-5")
	if pathOf(t, last(hops).URL) != ConsolePath || c.cookie("wuxiao_session") == nil {
		t.Fatalf("sign-in: %v", hopURLs(hops))
	}
	hops = c.logout()
	if !strings.HasPrefix(hops[0].Location, KratosPathPrefix+"self-service/logout?token=") || c.cookie("wuxiao_session") != nil {
		t.Fatalf("logout: %v", hopURLs(hops))
	}
}

func hopURLs(hops []hop) []string {
	var out []string
	for _, h := range hops {
		out = append(out, h.URL+" → "+http.StatusText(h.Status))
	}
	return out
}

// Sign-in pages and Kratos' API answer only on the staff hosts.
func TestAuthOnlyOnStaffHosts(t *testing.T) {
	g, err := New(Config{KratosPublicURL: "http://127.0.0.1:1", StaffHosts: []string{"jiandu.example.cn"}}, NewStaticBackends(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(config.Base{Service: "gateway"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	g.Register(srv)
	for _, tt := range []struct {
		host, path string
		want       int
	}{
		{"portal.example.cn", LoginPath, http.StatusNotFound},
		{"portal.example.cn", KratosPathPrefix + "self-service/login/browser", http.StatusNotFound},
		{"portal.example.cn", ErrorPath, http.StatusNotFound},
		{"jiandu.example.cn", LoginPath, http.StatusSeeOther},
		{"JIANDU.example.cn:443", LoginPath, http.StatusSeeOther},
		// Kratos is unreachable here: the page says so in Chinese (502).
		{"jiandu.example.cn", LoginPath + "?flow=x", http.StatusBadGateway},
		{"jiandu.example.cn", KratosPathPrefix + "self-service/login/browser", http.StatusBadGateway},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://"+tt.host+tt.path, nil)
		r.Host = tt.host
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s%s: %d, want %d", tt.host, tt.path, w.Code, tt.want)
		}
		if w.Code == http.StatusBadGateway && !strings.Contains(w.Body.String(), "登录服务暂时不可用") {
			t.Errorf("%s%s: 502 without the Chinese page:\n%s", tt.host, tt.path, w.Body)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/console", "/console"},
		{"/console/start?item=a&b=c", "/console/start?item=a&b=c"},
		{"", ""},
		{"console", ""},
		{"//evil.example/x", ""},
		{"/\\evil.example", ""},
		{"https://evil.example/", ""},
		{"javascript:alert(1)", ""},
	} {
		if got := localPath(tt.in); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSameOriginPath(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://jiandu.example.cn/auth/settings", nil)
	for _, tt := range []struct{ in, want string }{
		{"http://jiandu.example.cn/console/processes?state=open", "/console/processes?state=open"},
		{"/console", "/console"},
		{"http://evil.example/console", ""},
		{"http://jiandu.example.cn//evil.example", ""},
	} {
		if got := sameOriginPath(tt.in, r); got != tt.want {
			t.Errorf("sameOriginPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestThroughGateway(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://127.0.0.1:8080/.ory/kratos/self-service/login?flow=abc", "/.ory/kratos/self-service/login?flow=abc"},
		{"https://jiandu.example.cn/.ory/kratos/self-service/logout?token=t1", "/.ory/kratos/self-service/logout?token=t1"},
		// A Kratos whose base_url was left at its own address: the form
		// still posts through the gateway.
		{"http://kratos.wuxiao-system:4433/self-service/recovery?flow=f", "/.ory/kratos/self-service/recovery?flow=f"},
		{"http://x/other", "http://x/other"},
	} {
		if got := throughGateway(tt.in); got != tt.want {
			t.Errorf("throughGateway(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTranslate(t *testing.T) {
	for _, tt := range []struct {
		msg  kratos.UiText
		want string
	}{
		{kratos.UiText{Id: 4000006, Text: "The provided credentials are invalid"}, "登录名或密码不正确，请检查后重试。"},
		{kratos.UiText{Id: 4000002, Text: "Property password is missing.", Context: map[string]any{"property": "password"}}, "请填写密码。"},
		{kratos.UiText{Id: 4000002, Text: "Property x is missing.", Context: map[string]any{"property": "x"}}, "请填写此项。"},
		{kratos.UiText{Id: 4000032, Context: map[string]any{"min_length": float64(8), "actual_length": float64(5)}}, "密码至少需要 8 位（现在是 5 位）。"},
		{kratos.UiText{Id: 4060006}, "验证码不正确或已被使用，请核对后重试。"},
		{kratos.UiText{Id: 4060004}, "找回链接无效或已被使用，请联系镇（街道）信息员重新获取。"},
		{kratos.UiText{Id: 1060001}, "验证通过，您已登录。请现在设置您的登录密码。"},
		{kratos.UiText{Id: 1050001}, "已保存。"},
		{kratos.UiText{Id: 4010001}, "登录页面已过期，请重新登录。"},
		// Unknown ids keep Kratos' text.
		{kratos.UiText{Id: 4999999, Text: "Something new"}, "Something new"},
	} {
		if got := translate(tt.msg); got != tt.want {
			t.Errorf("translate(%d) = %q, want %q", tt.msg.Id, got, tt.want)
		}
	}
}

func TestDescribeFlowError(t *testing.T) {
	for _, tt := range []struct {
		in        map[string]any
		wantTitle string
		wantCode  string
	}{
		{map[string]any{"id": "security_csrf_violation", "code": float64(403)}, "请重新登录", "security_csrf_violation"},
		{map[string]any{"id": "self_service_flow_expired", "code": float64(410)}, "页面已过期", "self_service_flow_expired"},
		{map[string]any{"code": float64(500), "message": "db down"}, "出错了", "HTTP 500"},
	} {
		v := describeFlowError(tt.in)
		if v.Title != tt.wantTitle || v.Code != tt.wantCode || v.Detail == "" {
			t.Errorf("describeFlowError(%v) = %+v", tt.in, v)
		}
	}
}
