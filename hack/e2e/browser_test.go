//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// A headless Chromium for the sign-in through the district gateway. The
// services' browser harness (services/internal/testinfra) cannot be imported
// from here (Go's internal rule), so this is the small part of it the story
// needs, with the same browser (hack/chromium.sh), the same phone viewport and
// the same form selectors as testinfra.FirstSignInBrowser.

const browserTimeout = 60 * time.Second

var chromium struct {
	once sync.Once
	path string
	err  error
}

// chromiumPath is $WUXIAO_TEST_CHROMIUM (hack/test.sh sets it), or what
// hack/chromium.sh builds or finds.
func chromiumPath(t *testing.T) string {
	t.Helper()
	chromium.once.Do(func() {
		if p := os.Getenv("WUXIAO_TEST_CHROMIUM"); p != "" {
			chromium.path = p
			return
		}
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command(filepath.Join(filepath.Dir(file), "..", "chromium.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		chromium.path, chromium.err = strings.TrimSpace(string(out)), err
	})
	if chromium.err != nil || chromium.path == "" {
		t.Fatalf("Chromium (hack/chromium.sh): %v", chromium.err)
	}
	return chromium.path
}

// page is one browser tab, closed when the test ends; its own profile, so
// each official signs in with no cookie of another.
type page struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	failed []string
	urls   map[network.RequestID]string
}

// socketDir is a temporary directory removed when the test ends, with a
// short path: t.TempDir() is named after the (sub)test, and a Unix socket's
// path may have at most 107 bytes (Chromium: "Socket path too long").
func socketDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func newPage(t *testing.T) *page {
	t.Helper()
	p := &page{t: t, urls: map[network.RequestID]string{}}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(412, 915), chromedp.Flag("lang", "zh-CN"),
		chromedp.Env("TMPDIR="+socketDir(t))) // Chromium's singleton socket directory, left when it is ended
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(p.listen))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	p.ctx = ctx
	// The first action starts the browser: no timeout on it (that would
	// end the browser too).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(412, 915, chromedp.EmulatePortrait,
		chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
		t.Fatalf("emulating a phone: %v", err)
	}
	return p
}

// listen records the requests that failed or answered 400 or more.
func (p *page) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		p.urls[ev.RequestID] = ev.Request.Method + " " + ev.Request.URL
	case *network.EventLoadingFailed:
		if !ev.Canceled {
			p.failed = append(p.failed, fmt.Sprintf("%s: %s", p.urls[ev.RequestID], ev.ErrorText))
		}
	case *network.EventResponseReceived:
		if ev.Response.Status >= 400 && !strings.HasSuffix(ev.Response.URL, "/favicon.ico") {
			p.failed = append(p.failed, fmt.Sprintf("%s: HTTP %d", p.urls[ev.RequestID], ev.Response.Status))
		}
	}
}

func (p *page) failedRequests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.failed...)
}

// navigate loads u and returns the document's HTTP status.
func (p *page) navigate(u string) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		p.t.Fatalf("browser: navigating to %s: %v", u, err)
	}
	if res == nil {
		return 0
	}
	return res.Status
}

func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("browser: evaluating %.80q: %v", expr, err)
	}
	return v
}

func (p *page) path() string { return eval[string](p, "location.pathname") }

// text is the rendered text of the first element matching sel.
func (p *page) text(sel string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : ""; })()`, sel))
}

// setValue types value into the input sel (with the events typing fires).
func (p *page) setValue(sel, value string) {
	p.t.Helper()
	eval[bool](p, fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		if (!e) throw new Error("no element " + %q);
		e.value = %q;
		e.dispatchEvent(new Event("input", {bubbles: true}));
		e.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`, sel, sel, value))
}

func (p *page) waitFor(sel string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("browser: waiting for %s on %s: %v", sel, p.path(), err)
	}
}

// clickAndWait clicks sel and waits for the page the click loads.
func (p *page) clickAndWait(sel string) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("browser: clicking %s: %v", sel, err)
	}
	if res == nil {
		return 0
	}
	return res.Status
}

// sessionCookie is the browser's Kratos session cookie (HttpOnly, so read
// through the DevTools protocol) for u's origin, or "".
func (p *page) sessionCookie(u string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		p.t.Fatalf("browser: cookies of %s: %v", u, err)
	}
	for _, c := range res.Cookies {
		if c.Name == "wuxiao_session" && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// firstSignIn is an official's first sign-in as town IT hands it over: open
// link (<gateway>/auth/recovery?flow=...), enter the one-time code, choose
// password on the settings page Kratos sends the browser to, and land on
// the console. It returns the session cookie's value.
func (p *page) firstSignIn(link, code, password string) string {
	p.t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Scheme == "" || u.Host == "" {
		p.t.Fatalf("first sign-in: %q is not an absolute link", link)
	}
	origin := u.Scheme + "://" + u.Host
	if st := p.navigate(link); st != 200 {
		p.t.Fatalf("first sign-in: %s answered %d: %s", link, st, p.text("main"))
	}
	p.waitFor(`input[name="code"]`)
	p.setValue(`input[name="code"]`, code)
	p.clickAndWait(`button[name="method"][value="code"]`)
	if path := p.path(); path != "/auth/settings" {
		p.t.Fatalf("first sign-in: after the code the browser is on %s: %s", path, p.text("main"))
	}
	p.setValue(`input[name="password"]`, password)
	p.clickAndWait(`button[name="method"][value="password"]`)
	if path := p.path(); path != "/console" {
		p.t.Fatalf("first sign-in: after the password the browser is on %s, want /console: %s", path, p.text("main"))
	}
	ck := p.sessionCookie(origin)
	if ck == "" {
		p.t.Fatalf("first sign-in: no session cookie for %s", origin)
	}
	return ck
}
