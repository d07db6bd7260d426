package gateway

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// step marks a stage of a browser test in its log. (Not subtests: the
// Page belongs to the test that opened it, and fails that test.)
func step(t *testing.T, name string) { t.Helper(); t.Logf("== %s", name) }

// location is the browser's current URL.
func location(t *testing.T, p *testinfra.Page) *url.URL {
	t.Helper()
	u, err := url.Parse(testinfra.Eval[string](p, "location.href"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkPage fails for accessibility problems, console errors and failed
// requests of the page now shown, and saves its screenshot at the phone
// viewport.
// signOut confirms the sign-out page if the browser is signed in.
func signOut(p *testinfra.Page, base string) {
	p.Navigate(base + LogoutPath)
	if p.Exists(`main form[action="/auth/logout"] button`) {
		p.ClickAndWait(`main form[action="/auth/logout"] button`)
	}
}

func checkPage(t *testing.T, p *testinfra.Page, name string) {
	t.Helper()
	p.ExpectAccessible()
	p.ExpectClean()
	p.Screenshot(name)
	// Nothing may overflow a phone's width (a horizontal scroll bar).
	if w := testinfra.Eval[float64](p, "document.documentElement.scrollWidth"); w > testinfra.PhoneWidth {
		t.Errorf("%s: the page is %.0f px wide on a %d px phone", name, w, testinfra.PhoneWidth)
	}
}

// The sign-in pages in a real Chromium on a phone viewport, without any
// JavaScript of ours: an official's first sign-in from the hand-over link,
// a wrong password, an unknown flow, logout, and the error page.
func TestSignInBrowser(t *testing.T) {
	env := startAuthGateway(t)
	p := testinfra.Browser(t)

	id, email := env.official(t, "")
	code, link := env.recoveryLink(t, id, "24h") // what the operator hands to town IT
	if !strings.HasPrefix(link, env.URL+RecoveryPath+"?flow=") {
		t.Fatalf("recovery link %q does not open the gateway", link)
	}
	const password, newPassword = "qingfeng-2026-mima", "lianjie-2027-mima"

	step(t, "first sign-in: link, one-time code, password, console")
	{
		p.Navigate(link)
		if u := location(t, p); u.Path != RecoveryPath {
			t.Fatalf("the link opened %s", u)
		}
		if got := p.Text("label[for=f-code]"); got != "一次性验证码" {
			t.Fatalf("code label %q", got)
		}
		checkPage(t, p, "recovery-code")

		// A mistyped code: the same page says so in Chinese.
		wrong := "000000"
		if code == wrong {
			wrong = "000001"
		}
		p.SetValue("#f-code", wrong)
		p.ClickAndWait(`button[name="method"][value="code"]`)
		if !strings.Contains(p.Text("main"), "验证码不正确或已被使用") {
			t.Fatalf("wrong code: %s", p.Text("main"))
		}
		checkPage(t, p, "recovery-wrong-code")

		p.SetValue("#f-code", code)
		p.ClickAndWait(`button[name="method"][value="code"]`)
		if u := location(t, p); u.Path != SettingsPath {
			t.Fatalf("after the code the browser is on %s: %s", u, p.Text("main"))
		}
		main := p.Text("main")
		for _, want := range []string{"验证通过，您已登录", email, "王小明"} {
			if !strings.Contains(main, want) {
				t.Errorf("settings page lacks %q: %s", want, main)
			}
		}
		if p.Exists(`input[name^="traits."]`) {
			t.Errorf("the settings page offers profile traits for editing")
		}
		checkPage(t, p, "settings-first")

		p.SetValue("#f-password", "short")
		p.ClickAndWait(`button[name="method"][value="password"]`)
		if !strings.Contains(p.Text("main"), "密码至少需要 8 位") {
			t.Fatalf("short password: %s", p.Text("main"))
		}
		if p.OuterHTML("#f-password") == "" || !strings.Contains(p.OuterHTML("#f-password"), `aria-invalid="true"`) {
			t.Errorf("the password field is not marked invalid: %s", p.OuterHTML("#f-password"))
		}
		checkPage(t, p, "settings-short-password")

		p.SetValue("#f-password", password)
		p.ClickAndWait(`button[name="method"][value="password"]`)
		// The console is another page's work (it may still answer 404):
		// the browser must be sent there, signed in.
		if u := location(t, p); u.Path != ConsolePath || u.Host != strings.TrimPrefix(env.URL, "http://") {
			t.Fatalf("after setting the password the browser is on %s", u)
		}
		if !testinfra.HasSessionCookie(t, p, env.URL) {
			t.Fatal("no session cookie after the first sign-in")
		}
		p.ResetProblems()
	}

	step(t, "logout asks to confirm, then settings asks to sign in")
	{
		p.Navigate(env.URL + LogoutPath)
		if !strings.Contains(p.Text("main"), "确定要退出登录吗") || !testinfra.HasSessionCookie(t, p, env.URL) {
			t.Fatalf("opening the sign-out address did more than ask: %s", p.Text("main"))
		}
		checkPage(t, p, "logout-confirm")
		p.ClickAndWait(`main form[action="/auth/logout"] button`)
		if u := location(t, p); u.Path != LoginPath || u.Query().Get("flow") == "" {
			t.Fatalf("after logout the browser is on %s", u)
		}
		if testinfra.HasSessionCookie(t, p, env.URL) {
			t.Fatal("the session cookie survived the logout")
		}
		checkPage(t, p, "login")
		p.Navigate(env.URL + SettingsPath)
		if u := location(t, p); u.Path != LoginPath || !p.Exists(`input[name="identifier"]`) {
			t.Fatalf("settings without a session: on %s", u)
		}
		p.ResetProblems()
	}

	step(t, "a wrong password is answered in Chinese")
	{
		p.Navigate(env.URL + LoginPath)
		p.SetValue("#f-identifier", email)
		p.SetValue("#f-password", "not-my-password")
		p.ClickAndWait(`button[name="method"][value="password"]`)
		if u := location(t, p); u.Path != LoginPath {
			t.Fatalf("after a wrong password: %s", u)
		}
		if got := p.Text("[role=alert]"); got != "登录名或密码不正确，请检查后重试。" {
			t.Fatalf("error message %q", got)
		}
		if v := testinfra.Eval[string](p, `document.querySelector("#f-identifier").value`); v != email {
			t.Errorf("the login name was not kept: %q", v)
		}
		checkPage(t, p, "login-wrong-password")
	}

	step(t, "an unknown flow starts a new one")
	{
		p.Navigate(env.URL + LoginPath + "?flow=9a7e9e5c-0000-4000-8000-000000000000")
		u := location(t, p)
		if u.Path != LoginPath || u.Query().Get("flow") == "" || strings.HasPrefix(u.Query().Get("flow"), "9a7e9e5c") || !p.Exists("#f-identifier") {
			t.Fatalf("unknown flow: on %s", u)
		}
		p.ExpectClean()
	}

	step(t, "the shared sign-in helper")
	{
		testinfra.SignInBrowser(t, p, env.URL, email, password)
		if u := location(t, p); u.Path != ConsolePath {
			t.Fatalf("signed in, on %s", u)
		}
		p.ResetProblems()
		// Change the password while signed in (fresh session: no re-auth).
		p.Navigate(env.URL + SettingsPath)
		if u := location(t, p); u.Path != SettingsPath || !p.Exists("#f-password") {
			t.Fatalf("settings while signed in: %s", u)
		}
		if !p.Exists(`a[href="/console"]`) {
			t.Errorf("the settings page of a signed-in user has no way back to the console")
		}
		checkPage(t, p, "settings-change")
		p.SetValue("#f-password", newPassword)
		p.ClickAndWait(`button[name="method"][value="password"]`)
		if u := location(t, p); u.Path != ConsolePath {
			t.Fatalf("after changing the password: on %s: %s", u, p.Text("main"))
		}
		p.ResetProblems()
	}

	step(t, "recovery by e-mail and the error page")
	{
		signOut(p, env.URL)
		p.Navigate(env.URL + RecoveryPath)
		if u := location(t, p); u.Path != RecoveryPath || !p.Exists(`input[name="email"]`) {
			t.Fatalf("recovery without a link: %s", location(t, p))
		}
		checkPage(t, p, "recovery-email")
		p.Navigate(env.URL + ErrorPath + "?id=9a7e9e5c-0000-4000-8000-000000000000")
		if !strings.Contains(p.Text("main"), "登录过程中出现了问题") || !p.Exists(`a[href="/auth/login"]`) {
			t.Fatalf("error page: %s", p.Text("main"))
		}
		checkPage(t, p, "error")
	}

	step(t, "the shared first-sign-in helper, for a second official")
	{
		signOut(p, env.URL)
		id2, email2 := env.official(t, "")
		code2, link2 := env.recoveryLink(t, id2, "24h")
		testinfra.FirstSignInBrowser(t, p, link2, code2, "second-official-pw")
		p.ResetProblems()
		signOut(p, env.URL)
		testinfra.SignInBrowser(t, p, env.URL, email2, "second-official-pw")
		p.ResetProblems()
	}

	// The session the browser got is the official's, with their role.
	step(t, "the changed password signs in; the session is the official's")
	{
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		acc, err := env.Admin.Get(ctx, id)
		if err != nil || acc.Email != email {
			t.Fatalf("identity %s: %+v %v", id, acc, err)
		}
		c := newClient(t, env.URL)
		c.login(email, newPassword)
		ck := c.cookie("wuxiao_session")
		if ck == nil {
			t.Fatal("the password set in the browser does not sign in")
		}
		var got identity.Principal
		h := identity.New(env.KratosPub, identity.WithCacheTTL(0)).Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = identity.FromContext(r.Context())
		}))
		r, _ := http.NewRequest(http.MethodGet, "http://gateway/", nil)
		r.AddCookie(ck)
		h.ServeHTTP(discard{}, r)
		if got.IdentityID != id || got.Role != identity.RoleSecretary || got.Village != "330283100201" {
			t.Fatalf("principal %+v", got)
		}
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
