package complaint

// The pages of the complaint service (the report page, reportpage.go, and
// the tracking page, trackpage.go): templates, their Content-Security-Policy
// and rendering. Plain HTML forms, no external assets, mobile-first, in
// Simplified Chinese.

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/pow"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

var (
	//go:embed web/pages.html
	pagesHTML string
	//go:embed web/page.css
	pageCSS string
	//go:embed web/report.js
	reportJS string
)

var statusLabels = map[Status]string{
	StatusReceived:      "已收到，等待受理",
	StatusAccepted:      "已受理",
	StatusRejected:      "不予受理",
	StatusInvestigating: "调查核实中",
	StatusResolved:      "已办结，等待您的评价",
	StatusClosed:        "已办结",
}

// fieldMessages is what the "fielderror" template shows under one field.
type fieldMessages struct {
	ID       string
	Messages []string
}

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"css":   func() template.CSS { return template.CSS(pageCSS) },      //nolint:gosec // G203: our own stylesheet, embedded at build time
	"js":    func() template.JS { return template.JS(reportJS) },       //nolint:gosec // G203: our own script, embedded at build time
	"powjs": func() template.JS { return template.JS(pow.FormScript) }, //nolint:gosec // G203: our own script, embedded at build time
	"ferr":  func(errs map[string][]string, field string) fieldMessages { return fieldMessages{field, errs[field]} },
	"date":  func(t time.Time) string { return t.In(tz.Shanghai).Format("2006年1月2日 15:04") },
	"statusLabel": func(s Status) string {
		if l, ok := statusLabels[s]; ok {
			return l
		}
		return string(s)
	},
}).Parse(pagesHTML))

// pageCSP allows exactly the page's own inline style and script (by hash,
// which stays valid when the script writes the next page into the
// document), same-origin form posts and fetches, and nothing else.
var pageCSP = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s' '%s'; img-src data:; connect-src 'self'; "+
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'", cspHash(pageCSS), cspHash(reportJS), cspHash(pow.FormScript))

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// renderPage writes an HTML page. Every page is no-store: the form may
// hold what the reporter typed, the receipt the secret.
func renderPage(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "页面生成失败，请稍后再试", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer") // tracking codes are in URLs
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorPage struct{ Title, Message string }

func pageError(w http.ResponseWriter, status int, title, message string) {
	renderPage(w, status, "error", errorPage{title, message})
}

// crossSite: a form posted from another site (CSRF) must not file in a
// signed-in villager's name, nor flood the intake from someone else's page.
func crossSite(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Site") == "cross-site"
}

func (s *Service) logError(r *http.Request, msg string, err error) {
	httpapi.Logger(r.Context()).ErrorContext(r.Context(), msg, "error", err.Error())
}
