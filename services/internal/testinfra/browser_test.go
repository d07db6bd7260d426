package testinfra

import (
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

const goodPage = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>好页面</title><link rel="icon" href="data:,">
<style>body{color:#1a1a1a;background:#fff} .panel{background:#003366;color:#fff;padding:8px}</style></head>
<body><h1>村务公开</h1><div class="panel">深色背景上的白字</div>
<form method="post" action="/submit">
<label for="name">姓名</label><input id="name" name="name">
<label>类别 <select name="cat"><option value="a">甲</option><option value="b">乙</option></select></label>
<textarea name="note" aria-label="备注"></textarea>
<button id="go" type="submit">提交</button>
</form></body></html>`

const badPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>坏页面</title><link rel="icon" href="data:,">
<style>.faint{color:#bbb;background:#fff}</style></head>
<body><p class="faint">浅灰色文字看不清</p><input name="orphan">
<img src="/missing.png" alt="缺失的图片">
<script>console.error("boom from console"); undefinedFunction();</script>
</body></html>`

func harnessServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(body))
		}
	}
	mux.HandleFunc("GET /good", page(goodPage))
	mux.HandleFunc("GET /bad", page(badPage))
	mux.HandleFunc("GET /csp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "script-src 'none'")
		page(`<!doctype html><html lang="zh-CN"><head><link rel="icon" href="data:,"></head><body><p>CSP</p><script>document.title = "ran";</script></body></html>`)(w, r)
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html lang="zh-CN"><head><link rel="icon" href="data:,"></head><body><p id="got">` +
			r.PostForm.Get("name") + "|" + r.PostForm.Get("cat") + "|" + r.PostForm.Get("note") + `</p></body></html>`))
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestBrowserHarness(t *testing.T) {
	ts := harnessServer(t)
	t.Setenv(EnvArtefacts, t.TempDir())
	p := Browser(t)

	// A good page: no problems, forms can be filled and submitted.
	if st := p.Navigate(ts.URL + "/good"); st != 200 {
		t.Fatalf("status %d", st)
	}
	if got := p.Text("h1"); got != "村务公开" {
		t.Errorf("h1 text %q", got)
	}
	if html := p.OuterHTML("form"); !strings.Contains(html, `name="cat"`) {
		t.Errorf("outerHTML %q", html)
	}
	if probs := p.Accessibility(); len(probs) != 0 {
		t.Errorf("good page has accessibility problems: %v", probs)
	}
	if errs, failed := p.ConsoleErrors(), p.FailedRequests(); len(errs)+len(failed) != 0 {
		t.Errorf("good page: console %v, failed %v", errs, failed)
	}
	p.SetValue("#name", "张三")
	p.SetValue("select[name=cat]", "b")
	p.SetValue("textarea", "说明文字")
	shot := p.Screenshot("form")
	if st := p.ClickAndWait("#go"); st != 200 {
		t.Fatalf("submit status %d", st)
	}
	if got := p.Text("#got"); got != "张三|b|说明文字" {
		t.Errorf("submitted %q", got)
	}
	if n := Eval[int](p, `Promise.resolve(40 + 2)`); n != 42 {
		t.Errorf("eval %d", n)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() < 300 {
		t.Fatalf("screenshot %s: %v %v", shot, err, img)
	}

	// A bad page: every check reports it.
	p.Navigate(ts.URL + "/bad")
	errs := p.ConsoleErrors()
	if !slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(s, "boom from console") }) ||
		!slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(s, "undefinedFunction") }) {
		t.Errorf("console errors not caught: %q", errs)
	}
	if failed := p.FailedRequests(); !slices.ContainsFunc(failed, func(s string) bool { return strings.Contains(s, "/missing.png: HTTP 404") }) {
		t.Errorf("failed request not caught: %q", failed)
	}
	probs := p.Accessibility()
	for _, want := range []string{"<html> has no lang", "without a label: input[name=orphan]", "low text contrast"} {
		if !slices.ContainsFunc(probs, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("accessibility check misses %q: %q", want, probs)
		}
	}
	if len(probs) != 3 {
		t.Errorf("accessibility problems: %q", probs)
	}
	p.ResetProblems()
	if len(p.ConsoleErrors())+len(p.FailedRequests()) != 0 {
		t.Error("ResetProblems kept problems")
	}

	// A script the page's Content-Security-Policy blocks is an error too.
	p.Navigate(ts.URL + "/csp")
	if errs := p.ConsoleErrors(); len(errs) != 1 || !strings.Contains(errs[0], "Content Security Policy") {
		t.Errorf("CSP violation not caught: %q", errs)
	}
}
