package testinfra

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	kratos "github.com/ory/kratos-client-go"
)

// KratosIdentity is a test identity created by KratosUser.
type KratosIdentity struct {
	ID       string
	Email    string
	Name     string
	Password string
	// Role, Town and Village are what metadata_public holds (unvalidated:
	// tests also create malformed accounts).
	Role, Town, Village string
}

// KratosAdmin is a client of the test Kratos' admin API.
func KratosAdmin(t testing.TB) *kratos.APIClient {
	t.Helper()
	return kratosClient(Require(t, EnvKratosAdminURL))
}

// KratosPublic is a client of the test Kratos' public API.
func KratosPublic(t testing.TB) *kratos.APIClient {
	t.Helper()
	return kratosClient(Require(t, EnvKratosPublicURL))
}

func kratosClient(url string) *kratos.APIClient {
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: strings.TrimRight(url, "/")}}
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	return kratos.NewAPIClient(cfg)
}

// KratosUser creates an identity in the test Kratos with a random e-mail and
// password and metadata_public {"role", "town", "village"} (empty values
// left out; no metadata at all when role is empty), signs it in through a
// native login flow and returns the session token. The identity is deleted
// when the test ends.
func KratosUser(t testing.TB, role, town, village string) (string, KratosIdentity) {
	t.Helper()
	var meta any
	if role != "" {
		m := map[string]any{"role": role}
		if town != "" {
			m["town"] = town
		}
		if village != "" {
			m["village"] = village
		}
		meta = m
	}
	token, u := KratosUserWithMetadata(t, meta)
	u.Role, u.Town, u.Village = role, town, village
	return token, u
}

// KratosUserWithMetadata is KratosUser with any metadata_public (nil: none).
func KratosUserWithMetadata(t testing.TB, metadataPublic any) (string, KratosIdentity) {
	t.Helper()
	admin := KratosAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := KratosIdentity{
		Email:    UniqueName("user-") + "@test.wuxiao.invalid",
		Name:     UniqueName("Test User "),
		Password: UniqueName("pw-"),
	}
	body := kratos.NewCreateIdentityBody("default", map[string]any{"email": u.Email, "name": u.Name})
	if metadataPublic != nil {
		body.SetMetadataPublic(metadataPublic)
	}
	body.SetCredentials(kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
		Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &u.Password},
	}})
	id, resp, err := admin.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(*body).Execute()
	if err != nil {
		t.Fatalf("creating Kratos identity %s: %v", u.Email, kratosErrBody(resp, err))
	}
	u.ID = id.Id
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if r, err := admin.IdentityAPI.DeleteIdentity(ctx, u.ID).Execute(); err != nil && (r == nil || r.StatusCode != http.StatusNotFound) {
			t.Errorf("deleting Kratos identity %s: %v", u.ID, err)
		}
	})
	return KratosLogin(t, u.Email, u.Password), u
}

// KratosLogin signs in with a password through a native (API) login flow
// and returns the session token.
func KratosLogin(t testing.TB, email, password string) string {
	t.Helper()
	pub := KratosPublic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	flow, resp, err := pub.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		t.Fatalf("creating a native login flow: %v", kratosErrBody(resp, err))
	}
	pw := kratos.NewUpdateLoginFlowWithPasswordMethod(email, "password", password)
	done, resp, err := pub.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).
		UpdateLoginFlowBody(kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(pw)).Execute()
	if err != nil {
		t.Fatalf("signing in %s: %v", email, kratosErrBody(resp, err))
	}
	if done.SessionToken == nil || *done.SessionToken == "" {
		t.Fatalf("signing in %s: Kratos returned no session token", email)
	}
	return *done.SessionToken
}

func kratosErrBody(resp *http.Response, err error) error {
	if oe := (*kratos.GenericOpenAPIError)(nil); errors.As(err, &oe) && len(oe.Body()) > 0 {
		status := ""
		if resp != nil {
			status = resp.Status + ": "
		}
		return &kratosErr{status + strings.TrimSpace(string(oe.Body()))}
	}
	return err
}

type kratosErr struct{ s string }

func (e *kratosErr) Error() string { return e.s }

// PrivateKratos starts a Kratos of the test's own, with the binary and
// configuration of hack/kratos.sh, whose browser flows belong to the
// gateway at gatewayURL (an origin such as http://127.0.0.1:41234): its
// public base URL is <gatewayURL>/.ory/kratos/, its flows' pages are
// <gatewayURL>/auth/*, it accepts return URLs on that origin and sends
// browsers to <gatewayURL>/console by default. Browser tests of the
// gateway need it because the shared test Kratos' URLs cannot name a
// gateway that listens on a port chosen at run time: choose the port
// first (listen on 127.0.0.1:0), start this Kratos, then serve the gateway
// on that listener. Its database is a fresh one from Postgres. It returns
// the public and admin API URLs; Kratos is stopped when the test ends.
// settings are more of Kratos' configuration as its environment variables
// ("SELFSERVICE_FLOWS_LOGIN_LIFESPAN=2s"), for settings hack/kratos.sh does
// not set itself.
func PrivateKratos(t testing.TB, gatewayURL string, settings ...string) (publicURL, adminURL string) {
	t.Helper()
	gatewayURL = strings.TrimRight(gatewayURL, "/")
	u, err := url.Parse(gatewayURL)
	if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		t.Fatalf("PrivateKratos: %q is not an origin such as http://127.0.0.1:8080", gatewayURL)
	}
	dsn := Postgres(t)
	run := t.TempDir()
	_, publicPort, _ := net.SplitHostPort(FreeAddr(t))
	_, adminPort, _ := net.SplitHostPort(FreeAddr(t))
	env := append(os.Environ(),
		"WUXIAO_RUN="+run,
		"WUXIAO_KRATOS_PUBLIC_PORT="+publicPort,
		"WUXIAO_KRATOS_ADMIN_PORT="+adminPort,
		"WUXIAO_KRATOS_DSN="+dsn,
		"WUXIAO_KRATOS_PUBLIC_BASE_URL="+gatewayURL+"/.ory/kratos/",
		"WUXIAO_KRATOS_UI_URL="+gatewayURL,
	)
	env = append(env, settings...)
	script := filepath.Join(RepoRoot(), "hack", "kratos.sh")
	kratosSh := func(ctx context.Context, arg string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, script, arg)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	logFile := filepath.Join(run, "kratos", "kratos.log")
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(logFile); err == nil {
				t.Logf("private Kratos log (%s), last lines:\n%s", logFile, tail(string(b), 40))
			}
		}
		// The test's context is cancelled before cleanups run.
		if out, err := kratosSh(context.Background(), "stop"); err != nil {
			t.Errorf("stopping the private Kratos: %v\n%s", err, out)
		}
	})
	start := time.Now()
	if out, err := kratosSh(t.Context(), "start"); err != nil {
		t.Fatalf("starting a private Kratos for %s: %v\n%s", gatewayURL, err, out)
	}
	t.Logf("private Kratos for %s ready in %s (public :%s, admin :%s)", gatewayURL, time.Since(start).Round(time.Millisecond), publicPort, adminPort)
	return "http://127.0.0.1:" + publicPort, "http://127.0.0.1:" + adminPort
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// KratosClient is a client of a Kratos API at url (e.g. PrivateKratos').
func KratosClient(url string) *kratos.APIClient { return kratosClient(url) }

// SignInBrowser signs email in with password through the gateway's
// sign-in page at gatewayURL, as a person would in the browser: it opens
// /auth/login, fills in the login name and password and submits. It fails
// the test unless the browser then holds a Kratos session cookie for the
// gateway's origin and has left the sign-in pages (Kratos sends it to the
// login's return URL, /console by default; that page's own status is the
// caller's business: its errors are in p.FailedRequests).
//
// The gateway's Kratos must name gatewayURL in its browser URLs: a
// PrivateKratos(t, gatewayURL), or hack/kratos.sh started with
// WUXIAO_KRATOS_UI_URL=gatewayURL and
// WUXIAO_KRATOS_PUBLIC_BASE_URL=gatewayURL/.ory/kratos/.
func SignInBrowser(t testing.TB, p *Page, gatewayURL, email, password string) {
	t.Helper()
	gatewayURL = strings.TrimRight(gatewayURL, "/")
	p.Navigate(gatewayURL + "/auth/login")
	p.WaitFor(`input[name="identifier"]`)
	p.SetValue(`input[name="identifier"]`, email)
	p.SetValue(`input[name="password"]`, password)
	p.ClickAndWait(`button[name="method"][value="password"]`)
	if path := Eval[string](p, "location.pathname"); strings.HasPrefix(path, "/auth/") {
		t.Fatalf("signing in %s through %s: the browser is still on %s: %s", email, gatewayURL, path, p.Text("main"))
	}
	if !HasSessionCookie(t, p, gatewayURL) {
		t.Fatalf("signing in %s through %s: no session cookie for the gateway's origin", email, gatewayURL)
	}
}

// FirstSignInBrowser is an official's first sign-in as town IT hands it
// over (the operator's recovery Secrets hold both): it opens
// link (Kratos' recovery link, <gateway>/auth/recovery?flow=...), enters the
// one-time code, sets password on the settings page it is sent to, and
// fails the test unless the browser then holds a session for link's origin
// and has left the sign-in pages (for /console, as Kratos is configured by
// hack/kratos.sh; that page's own status is the caller's business).
func FirstSignInBrowser(t testing.TB, p *Page, link, code, password string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Scheme == "" || u.Host == "" {
		t.Fatalf("first sign-in: %q is not an absolute link", link)
	}
	origin := u.Scheme + "://" + u.Host
	p.Navigate(link)
	p.WaitFor(`input[name="code"]`)
	p.SetValue(`input[name="code"]`, code)
	p.ClickAndWait(`button[name="method"][value="code"]`)
	if path := Eval[string](p, "location.pathname"); path != "/auth/settings" {
		t.Fatalf("first sign-in: after the code the browser is on %s: %s", path, p.Text("main"))
	}
	p.SetValue(`input[name="password"]`, password)
	p.ClickAndWait(`button[name="method"][value="password"]`)
	if path := Eval[string](p, "location.pathname"); strings.HasPrefix(path, "/auth/") {
		t.Fatalf("first sign-in: after the password the browser is on %s: %s", path, p.Text("main"))
	}
	if !HasSessionCookie(t, p, origin) {
		t.Fatalf("first sign-in: no session cookie for %s", origin)
	}
}

// HasSessionCookie reports whether the browser holds a Kratos session
// cookie (wuxiao_session) for url's origin. The cookie is HttpOnly: it is
// read through the DevTools protocol, not the page.
func HasSessionCookie(t testing.TB, p *Page, url string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Context(), browserTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatalf("browser: reading cookies of %s: %v", url, err)
	}
	for _, c := range res.Cookies {
		if c.Name == "wuxiao_session" && c.Value != "" {
			return true
		}
	}
	return false
}
