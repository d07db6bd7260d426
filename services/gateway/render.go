package gateway

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Every page is web/layout.html around one content template web/<name>.html
// (which defines "content"). The style sheet is inlined: one request per
// page on a slow phone connection, and no static route to secure.
//
//go:embed web/*.html web/*.css
var webFiles embed.FS

var pageCSS = func() template.CSS {
	b, err := webFiles.ReadFile("web/style.css")
	if err != nil {
		panic(err)
	}
	return template.CSS(b) //nolint:gosec // our own file, embedded at build time, no user input
}()

var pageFuncs = template.FuncMap{
	// date and datetime show times in China Standard Time.
	"date":     func(t time.Time) string { return t.In(tz.Shanghai).Format("2006-01-02") },
	"datetime": func(t time.Time) string { return t.In(tz.Shanghai).Format("2006-01-02 15:04") },
	// yuan shows an amount in fen as 元 with two decimals.
	"yuan": func(fen int64) string {
		sign := ""
		if fen < 0 {
			sign, fen = "-", -fen
		}
		return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
	},
	"roleName": roleName,
}

var pageTemplates = func() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(pageFuncs).ParseFS(webFiles, "web/layout.html"))
	names, err := fs.Glob(webFiles, "web/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, p := range names {
		name := strings.TrimSuffix(path.Base(p), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(layout.Clone()).ParseFS(webFiles, p))
	}
	return out
}()

// page is what a handler hands to the layout.
type page struct {
	Template string // content template: web/<Template>.html
	Title    string // <title> and <h1>
	District string // the district's name, for the header
	// User is the signed-in user (nil on sign-in pages): the header shows
	// their name and role and a sign-out button.
	User *identity.Principal
	// CSRF is the session's form token, for the header's sign-out form.
	CSRF string
	// Nav marks the console tab of this page (aria-current).
	Nav string
	// Flash is a one-line status message shown above the content
	// (role=status), e.g. 已提交.
	Flash string
	// Unread counts the signed-in person's unread messages, for the
	// header's 消息 link (console_inbox.go).
	Unread int
	// Data is the content template's own data.
	Data any
	CSS  template.CSS
}

// render writes p as a complete page with status. Pages carry no-store:
// they show personal work lists and CSRF tokens.
func (g *Gateway) render(w http.ResponseWriter, status int, p page) {
	t, ok := pageTemplates[p.Template]
	if !ok {
		g.log.Error("gateway: no such page template", "template", p.Template)
		http.Error(w, "页面出错", http.StatusInternalServerError)
		return
	}
	p.CSS = pageCSS
	if p.District == "" {
		p.District = g.cfg.DistrictName
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		g.log.Error("gateway: rendering a page failed", "template", p.Template, "err", err)
		http.Error(w, "页面出错", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// roleNames are the roles as the people holding them call them.
var roleNames = map[identity.Role]string{
	identity.RoleSecretary:           "村党组织书记",
	identity.RoleDirector:            "村委会主任",
	identity.RoleCommitteeMember:     "村两委委员",
	identity.RoleAccountant:          "村报账员",
	identity.RoleCashier:             "村出纳",
	identity.RoleSupervisionChair:    "村务监督委员会主任",
	identity.RoleLiaisonOfficer:      "监察联络员",
	identity.RoleTownOfficial:        "镇（街道）干部",
	identity.RoleTownFinance:         "镇（街道）财务",
	identity.RoleTownDiscipline:      "镇（街道）纪委",
	identity.RoleTownIT:              "镇（街道）信息员",
	identity.RoleVillageLiaisonCadre: "联村干部",
	identity.RoleDistrictDiscipline:  "区纪委",
	identity.RoleDistrictAdmin:       "区平台管理员",
	identity.RoleVillager:            "村民",
}

func roleName(r identity.Role) string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return string(r)
}
