package testinfra

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Environment variables of the browser tests.
const (
	// EnvChromium is the Chromium binary; hack/test.sh sets it from
	// hack/chromium.sh, and a plain `go test` runs that script on first use.
	EnvChromium = "WUXIAO_TEST_CHROMIUM"
	// EnvArtefacts is where screenshots go (default <repo>/.artefacts/screenshots).
	EnvArtefacts = "WUXIAO_TEST_ARTEFACTS"
)

// browserTimeout bounds one step (a navigation, a query, a script): a page
// that never loads fails the test instead of hanging it.
const browserTimeout = 60 * time.Second

var (
	chromiumOnce sync.Once
	chromiumErr  error
)

// chromiumPath returns the browser binary, installing it through
// hack/chromium.sh when EnvChromium is not set (as Require brings the other
// infrastructure up on first use). It fails the test, never skips it.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if os.Getenv(EnvChromium) == "" {
		chromiumOnce.Do(func() {
			var stderr bytes.Buffer
			cmd := exec.CommandContext(t.Context(), filepath.Join(RepoRoot(), "hack", "chromium.sh"))
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				chromiumErr = fmt.Errorf("hack/chromium.sh: %w\n%s", err, stderr.String())
				return
			}
			chromiumErr = os.Setenv(EnvChromium, strings.TrimSpace(string(out)))
		})
		if chromiumErr != nil {
			t.Fatalf("browser tests need Chromium (%s): %v", EnvChromium, chromiumErr)
		}
	}
	path := Require(t, EnvChromium)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s=%s: %v (run hack/chromium.sh)", EnvChromium, path, err)
	}
	return path
}

// Page is one headless Chromium tab of a test. It records what went wrong
// in the page while the test drove it: console errors, uncaught exceptions
// and failed requests. Every method fails the test on error.
type Page struct {
	t   testing.TB
	ctx context.Context

	mu         sync.Mutex
	console    []string
	exceptions []string
	failed     []string
	urls       map[network.RequestID]string
}

// socketDir is a temporary directory removed when the test ends, with a
// short path: t.TempDir() is named after the test, and a Unix socket's path
// may have at most 107 bytes (Chromium: "Socket path too long").
func socketDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// The phone the public pages are shown on: a common Android size, in CSS
// pixels.
const PhoneWidth, PhoneHeight = 412, 915

// Browser starts a headless Chromium (no sandbox, since tests run as root;
// its own temporary profile) and returns its tab, emulating a phone (the
// public pages are mobile-first): headless Chromium never makes a window
// narrower than 500px, so the viewport is emulated (mobile, touch, the
// page's viewport meta honoured). The browser is closed when the test ends.
func Browser(t testing.TB) *Page {
	t.Helper()
	path := chromiumPath(t)
	p := &Page{t: t, urls: map[network.RequestID]string{}}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		// Chromium's singleton socket directory goes to TMPDIR, and is
		// left there when the browser is ended: one of the test's own.
		chromedp.Env("TMPDIR="+socketDir(t)),
		chromedp.WindowSize(PhoneWidth, PhoneHeight),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("hide-scrollbars", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(p.listen))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	p.ctx = ctx
	// The first Run starts the browser; it must not carry a timeout (that
	// would end the browser with it), so it only opens a blank tab.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium %s: %v", path, err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(PhoneWidth, PhoneHeight, chromedp.EmulatePortrait,
		chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
		t.Fatalf("emulating a phone: %v", err)
	}
	return p
}

// listen runs on the browser's reader goroutine: record and return.
func (p *Page) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, remoteText(a))
			}
			p.console = append(p.console, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		p.exceptions = append(p.exceptions, fmt.Sprintf("%s (%s:%d:%d)", msg, d.URL, d.LineNumber+1, d.ColumnNumber+1))
	case *cdplog.EventEntryAdded:
		// The browser's own errors, such as Content-Security-Policy
		// violations; network ones are FailedRequests.
		if e := ev.Entry; e.Level == cdplog.EntryLevelError && e.Source != cdplog.EntrySourceNetwork {
			p.console = append(p.console, fmt.Sprintf("%s: %s (%s)", e.Source, e.Text, e.URL))
		}
	case *network.EventRequestWillBeSent:
		p.urls[ev.RequestID] = ev.Request.Method + " " + ev.Request.URL
	case *network.EventLoadingFailed:
		if !ev.Canceled {
			p.failed = append(p.failed, fmt.Sprintf("%s: %s", p.urls[ev.RequestID], ev.ErrorText))
		}
	case *network.EventResponseReceived:
		// The browser's own favicon probe is not the page's request.
		if ev.Response.Status >= 400 && !strings.HasSuffix(ev.Response.URL, "/favicon.ico") {
			p.failed = append(p.failed, fmt.Sprintf("%s: HTTP %d", p.urls[ev.RequestID], ev.Response.Status))
		}
	}
}

func remoteText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if len(o.Value) > 0 {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
		return string(o.Value)
	}
	return o.Description
}

// Context is the tab's chromedp context, for actions the helpers lack
// (derive a timeout from it; never cancel it).
func (p *Page) Context() context.Context { return p.ctx }

func (p *Page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %s: %v", what, err)
	}
}

// Navigate loads url, waits for the page to load and returns the HTTP
// status of the document.
func (p *Page) Navigate(url string) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		p.t.Fatalf("browser: navigating to %s: %v", url, err)
	}
	if res == nil {
		return 0
	}
	return res.Status
}

// Text is the rendered text (innerText) of the first element matching the
// CSS selector, e.g. "body".
func (p *Page) Text(sel string) string {
	p.t.Helper()
	return Eval[string](p, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : ""; })()`, sel))
}

// OuterHTML is the current markup of the first element matching sel.
func (p *Page) OuterHTML(sel string) string {
	p.t.Helper()
	return Eval[string](p, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.outerHTML : ""; })()`, sel))
}

// Exists reports whether an element matches the CSS selector now.
func (p *Page) Exists(sel string) bool {
	p.t.Helper()
	return Eval[bool](p, fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
}

// SetValue sets the value of an input, textarea or select and fires the
// input and change events a user's typing would.
func (p *Page) SetValue(sel, value string) {
	p.t.Helper()
	Eval[bool](p, fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		if (!e) throw new Error("no element " + %q);
		e.value = %q;
		e.dispatchEvent(new Event("input", {bubbles: true}));
		e.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`, sel, sel, value))
}

// Click clicks the first visible element matching the CSS selector.
func (p *Page) Click(sel string) {
	p.t.Helper()
	p.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Upload sets the files of an <input type="file">.
func (p *Page) Upload(sel string, files ...string) {
	p.t.Helper()
	p.do("choosing files for "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), files))
}

// ClickAndWait clicks sel (a submit button or a link) and waits until the
// navigation it starts has loaded; it returns the document's HTTP status.
func (p *Page) ClickAndWait(sel string) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("browser: clicking %s and waiting for the page: %v", sel, err)
	}
	if res == nil {
		return 0
	}
	return res.Status
}

// WaitFor waits until an element matching the CSS selector is visible.
func (p *Page) WaitFor(sel string) {
	p.t.Helper()
	p.do("waiting for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Eval evaluates a JavaScript expression in the page (promises are awaited)
// and decodes its JSON value into T.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("browser: evaluating %.80q: %v", expr, err)
	}
	return v
}

// ConsoleErrors are the console.error/assert calls, the browser's own error
// messages (e.g. Content-Security-Policy violations) and the uncaught
// exceptions seen so far.
func (p *Page) ConsoleErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(append([]string(nil), p.console...), p.exceptions...)
}

// FailedRequests are the requests that failed at the network level or got
// an HTTP status of 400 or more ("METHOD URL: reason").
func (p *Page) FailedRequests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.failed...)
}

// ResetProblems forgets the console errors and failed requests seen so
// far (e.g. after a step that was meant to fail).
func (p *Page) ResetProblems() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.console, p.exceptions, p.failed = nil, nil, nil
}

// ExpectClean fails the test if the page logged console errors, threw
// uncaught exceptions or had failed requests.
func (p *Page) ExpectClean() {
	p.t.Helper()
	for _, e := range p.ConsoleErrors() {
		p.t.Errorf("browser console: %s", e)
	}
	for _, f := range p.FailedRequests() {
		p.t.Errorf("browser request failed: %s", f)
	}
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// ArtefactsDir is where screenshots are saved: $WUXIAO_TEST_ARTEFACTS, or
// <repo>/.artefacts/screenshots.
func ArtefactsDir() string {
	if d := os.Getenv(EnvArtefacts); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".artefacts", "screenshots")
}

// Screenshot saves a full-page PNG as <ArtefactsDir>/<test>-<name>.png,
// logs its path and returns it.
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	dir := ArtefactsDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		p.t.Fatal(err)
	}
	file := filepath.Join(dir, unsafeFileChars.ReplaceAllString(p.t.Name()+"-"+name, "_")+".png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", file)
	return file
}

// MinContrast is the smallest text contrast ratio accepted (WCAG 2 AA for
// normal text).
const MinContrast = 4.5

// accessibilityJS checks the page and returns its problems. Contrast is
// computed from the computed colours: the text colour is blended over the
// background, itself composed from the element's and its ancestors'
// background colours over white (background images are not looked at).
const accessibilityJS = `(() => {
	const problems = [];
	const lang = document.documentElement.getAttribute("lang");
	if (!lang || !lang.trim()) problems.push("<html> has no lang attribute");
	const describe = (e) => {
		let s = e.tagName.toLowerCase();
		if (e.id) s += "#" + e.id;
		if (e.getAttribute("name")) s += "[name=" + e.getAttribute("name") + "]";
		return s;
	};
	for (const e of document.querySelectorAll("input, select, textarea")) {
		const type = (e.getAttribute("type") || "").toLowerCase();
		if (["hidden", "submit", "button", "reset", "image"].includes(type)) continue;
		const aria = (e.getAttribute("aria-label") || "").trim();
		const by = (e.getAttribute("aria-labelledby") || "").split(/\s+/).filter(id => id && document.getElementById(id));
		if (!(e.labels && e.labels.length) && !aria && !by.length) problems.push("form control without a label: " + describe(e));
	}
	const parse = (c) => {
		const m = c.match(/rgba?\(([^)]+)\)/);
		if (!m) return null;
		const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
		return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
	};
	const over = (top, bottom) => {
		const a = top[3];
		return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
	};
	const background = (e) => {
		const layers = [];
		for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
			const c = parse(getComputedStyle(n).backgroundColor);
			if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
		}
		let bg = [255, 255, 255, 1];
		for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
		return bg;
	};
	const lum = (c) => {
		const ch = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
		return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
	};
	const visible = (e) => {
		const s = getComputedStyle(e);
		return s.visibility !== "hidden" && s.display !== "none" && e.getClientRects().length > 0 && parseFloat(s.opacity) > 0;
	};
	const hasText = (e) => {
		if (["INPUT", "SELECT", "TEXTAREA"].includes(e.tagName)) return true;
		for (const n of e.childNodes) if (n.nodeType === 3 && n.textContent.trim()) return true;
		return false;
	};
	for (const e of document.body ? document.body.querySelectorAll("*") : []) {
		if (["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE"].includes(e.tagName) || !hasText(e) || !visible(e)) continue;
		if (e.tagName === "INPUT" && ["hidden", "file", "checkbox", "radio", "image"].includes((e.type || "").toLowerCase())) continue;
		const fg0 = parse(getComputedStyle(e).color);
		if (!fg0) continue;
		const bg = background(e);
		const fg = over(fg0, bg);
		const l1 = lum(fg), l2 = lum(bg);
		const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
		if (ratio < ` + "%v" + `) problems.push("low text contrast " + ratio.toFixed(2) + ":1 on " + describe(e) + " (" + getComputedStyle(e).color + " on rgb(" + bg.slice(0, 3).map(Math.round).join(", ") + "))");
	}
	return problems;
})()`

// Accessibility returns the page's accessibility problems: a missing
// <html lang>, form controls without a <label> or aria-label, and text
// whose contrast with its background is below MinContrast.
func (p *Page) Accessibility() []string {
	p.t.Helper()
	return Eval[[]string](p, fmt.Sprintf(accessibilityJS, MinContrast))
}

// ExpectAccessible fails the test for every problem Accessibility finds.
func (p *Page) ExpectAccessible() {
	p.t.Helper()
	for _, problem := range p.Accessibility() {
		p.t.Errorf("accessibility: %s", problem)
	}
}
