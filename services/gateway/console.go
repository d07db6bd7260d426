package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// The staff console (/console): server-rendered pages, usable without
// JavaScript, for village cadres, town staff and district staff.
//
// Authentication: every console route resolves the Kratos session cookie
// through Gateway.auth (identity.Authenticator.Optional). Without a valid
// session the browser is sent, 303, to /auth/login?return_to=<the page>
// (return_to is always a path on this origin beginning with /console).
// Authorisation is the town services' own: the console calls their APIs
// with the user's session cookie and shows what they answer; it hides
// forms a user cannot use, but never decides in their place.
//
// CSRF: every POST form carries a token that is HMAC-SHA256 of the
// user's Kratos session cookie (domain-separated key, see csrfToken), and
// a POST whose token does not match the request's own session cookie is
// refused (403). An attacker's page cannot read the cookie (HttpOnly) and
// so cannot compute the token; the token works on every gateway replica
// and across restarts without shared state, and dies with the session. In
// addition a POST whose Origin header (or, without one, Sec-Fetch-Site)
// names another site is refused before anything else. Kratos' cookies are
// SameSite=Lax on top of that; the token does not rely on it.

// consoleTownCookie remembers which town a district account looks at (a
// display preference, not a grant: the services decide what it may read).
const consoleTownCookie = "wuxiao_console_town"

// consoleRoutes registers the staff console (/console).
func (g *Gateway) consoleRoutes(srv *httpapi.Server) {
	h := func(pattern string, f consoleHandler) {
		srv.Handle(pattern, httpapi.Public(g.console(f)))
	}
	h("GET /console", g.tasksPage)
	h("GET /console/{$}", g.tasksPage)
	h("GET /console/town", g.chooseTown)
	h("GET /console/start", g.startListPage)
	h("GET /console/start/{item}", g.startItemPage)
	h("POST /console/start/{item}", g.startProcess)
	g.applicationConsoleRoutes(h) // 代办 (console_applications.go)
	h("GET /console/items/{item}/flowchart.svg", g.itemFlowchart)
	h("GET /console/processes", g.processesPage)
	h("GET /console/processes/{id}", g.processPage)
	h("GET /console/processes/{id}/flowchart.svg", g.processFlowchart)
	h("GET /console/processes/{id}/evidence/{file}", g.evidenceDownload)
	h("POST /console/processes/{id}/complete", g.completeStep)
	h("POST /console/processes/{id}/comment", g.commentProcess)
	h("POST /console/processes/{id}/withdraw", g.withdrawProcess)
	// A file upload: the route's body limit is the workflow's own (one
	// file of 10 MiB and the form's fields); the body is streamed through.
	srv.Handle("POST /console/processes/{id}/evidence",
		httpapi.WithBodyLimit(consoleUploadLimit, httpapi.Public(g.console(g.uploadEvidence))))
	h("GET /console/village", g.villagePage)
	h("GET /console/notices/{number}", g.noticePage)
	g.noticeConsoleRoutes(h) // sign-off and reply (console_notices.go)
	g.inboxConsoleRoutes(h)  // 消息 (console_inbox.go)
	// The complaint inbox and statistics (console_complaints.go).
	h("GET /console/complaints", g.complaintsPage)
	h("GET /console/complaints/statistics", g.complaintStatsPage)
	h("GET /console/complaints/{id}", g.complaintPage)
	h("POST /console/complaints/{id}/actions", g.actComplaint)
	h("POST /console/complaints/{id}/notes", g.noteComplaint)
	h("GET /console/complaints/{id}/attachments/{n}", g.complaintAttachment)
	g.consoleInspectionRoutes(srv) // tours, orders, files, grades, overview, supervision (console_inspection*.go)
}

// consoleUploadLimit is the evidence upload route's body limit.
const consoleUploadLimit = 10<<20 + 64<<10

// consoleReq is one console request of a signed-in staff member.
type consoleReq struct {
	g      *Gateway
	w      http.ResponseWriter
	r      *http.Request
	p      identity.Principal
	town   Town
	towns  []Town // for district roles: the towns they may switch between
	cookie string // the Kratos session cookie(s), forwarded to the services
	csrf   string
}

type consoleHandler func(c *consoleReq)

// svc is a call to one of the user's town's services as the user.
func (c *consoleReq) svc(service string) townCall {
	return townCall{g: c.g, town: c.town.Name, cookie: c.cookie, service: service}
}

// consoleRoles may use the console: village officials, town staff who
// handle or oversee processes, liaison cadres (their villages' processes,
// read only) and district staff (read only). Town IT manages accounts and
// villagers use the public portal.
func consoleRole(r identity.Role) bool {
	return r.IsVillageRole() || r.IsDistrictRole() || r.IsLiaisonCadre() ||
		r == identity.RoleTownOfficial || r == identity.RoleTownFinance || r == identity.RoleTownDiscipline
}

// readOnlyRole: the village's supervisors watch the processes; they record
// only the review steps the power list gives their role. Liaison cadres
// (联村干部) follow their villages' processes and record nothing.
func readOnlyRole(r identity.Role) bool {
	return r == identity.RoleSupervisionChair || r == identity.RoleLiaisonOfficer || r.IsDistrictRole() || r.IsLiaisonCadre()
}

// loginRedirect is where a browser without a session goes.
func loginRedirect(r *http.Request) string {
	ret := "/console"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		ret = r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			ret += "?" + r.URL.RawQuery
		}
	} else if id := r.PathValue("id"); id != "" && validID(id) {
		ret = "/console/processes/" + id
		if strings.HasPrefix(r.URL.Path, "/console/complaints/") {
			ret = "/console/complaints/" + id
		}
	}
	return "/auth/login?return_to=" + url.QueryEscape(ret)
}

// console wraps a console page: session required (else the sign-in page),
// a console role required (else a page saying so), the town resolved, and
// POSTs checked for CSRF.
func (g *Gateway) console(f consoleHandler) http.Handler {
	return g.auth.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(g.cfg.StaffHosts, r.Host) {
			http.NotFound(w, r)
			return
		}
		p, ok := identity.FromContext(r.Context())
		if !ok {
			http.Redirect(w, r, loginRedirect(r), http.StatusSeeOther) //nolint:gosec // a fixed local path; the request's own path rides query-escaped in return_to
			return
		}
		c := &consoleReq{g: g, w: w, r: r, p: p, cookie: sessionCookie(r)}
		c.csrf = csrfToken(c.cookie)
		if !consoleRole(p.Role) {
			c.fail(http.StatusForbidden, "此账号不能使用工作台：工作台供村干部、镇（街道）和区级工作人员使用。村民请扫村务二维码查看公开信息。")
			return
		}
		if !c.resolveTown() {
			return
		}
		if r.Method == http.MethodPost && !c.checkOrigin() {
			c.fail(http.StatusForbidden, "请求来源不明，已拒绝。请在工作台页面内提交。")
			return
		}
		f(c)
	}))
}

// resolveTown finds the town whose services answer this user: their own
// for village and town roles, a chosen (or the first) one for district
// roles.
func (c *consoleReq) resolveTown() bool {
	if c.p.Role.IsDistrictRole() {
		// A district official limited to a 片组 switches between the
		// group's towns only (InTown: the gateway's own group map).
		c.towns = slices.DeleteFunc(c.g.backends.Towns(), func(t Town) bool { return !c.p.InTown(t.Name) })
		if len(c.towns) == 0 {
			msg := "本区尚无镇（街道）上线。"
			if c.p.Group != "" {
				msg = "您所在片组（" + c.p.Group + "）的镇（街道）尚未接入本平台，或片组设置有误，请联系区平台管理员。"
			}
			c.fail(http.StatusServiceUnavailable, msg)
			return false
		}
		c.town = c.towns[0]
		if ck, err := c.r.Cookie(consoleTownCookie); err == nil {
			for _, t := range c.towns {
				if t.Name == ck.Value {
					c.town = t
				}
			}
		}
		return true
	}
	t, err := c.g.backends.Town(c.p.Town)
	if err != nil {
		c.fail(http.StatusServiceUnavailable, "您所在的镇（街道）"+c.p.Town+"尚未接入本平台，请联系镇（街道）信息员。")
		return false
	}
	c.town = t
	return true
}

// csrfKey separates the console's tokens from any other use of the cookie.
var csrfKey = []byte("wuxiao console csrf v1")

// csrfToken is the form token of a session: HMAC-SHA256 of the session
// cookie. Without the cookie (HttpOnly) nobody can compute it.
func csrfToken(sessionCookie string) string {
	m := hmac.New(sha256.New, csrfKey)
	m.Write([]byte(sessionCookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfOK reports whether a submitted token belongs to this session.
func (c *consoleReq) csrfOK(token string) bool {
	return c.cookie != "" && token != "" && hmac.Equal([]byte(token), []byte(c.csrf))
}

// checkOrigin refuses cross-site POSTs that browsers label as such.
func (c *consoleReq) checkOrigin() bool { return sameOrigin(c.r) }

// sameOrigin reports whether a POST comes from a page of this host, as far
// as the browser says (Origin, else Sec-Fetch-Site; clients that send
// neither are not browsers and are left to the CSRF token).
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// form parses a urlencoded POST and checks its CSRF token; on failure it
// has answered.
func (c *consoleReq) form() bool {
	if err := c.r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.fail(http.StatusRequestEntityTooLarge, "提交的内容太长。")
			return false
		}
		c.fail(http.StatusBadRequest, "无法读取提交的表单。")
		return false
	}
	if !c.csrfOK(c.r.PostForm.Get("csrf")) {
		c.fail(http.StatusForbidden, "页面已过期或登录已变更，请返回上一页刷新后重新提交。")
		return false
	}
	return true
}

// page renders a console page.
func (c *consoleReq) page(status int, tmpl, title, nav, flash string, data any) {
	p := c.p
	c.g.render(c.w, status, page{Template: tmpl, Title: title, User: &p, CSRF: c.csrf, Nav: nav, Flash: flash,
		Unread: c.unreadCount(), Data: consoleData{C: c, D: data}})
}

// consoleData is what console templates get: the request's context (C)
// and the page's own data (D).
type consoleData struct {
	C *consoleReq
	D any
}

// Accessors for templates.
func (c *consoleReq) CSRF() string                  { return c.csrf }
func (c *consoleReq) Role() identity.Role           { return c.p.Role }
func (c *consoleReq) Town() Town                    { return c.town }
func (c *consoleReq) Towns() []Town                 { return c.towns }
func (c *consoleReq) VillageRole() bool             { return c.p.Role.IsVillageRole() }
func (c *consoleReq) TownRole() bool                { return c.p.Role.IsTownRole() }
func (c *consoleReq) DistrictRole() bool            { return c.p.Role.IsDistrictRole() }
func (c *consoleReq) ReadOnly() bool                { return readOnlyRole(c.p.Role) }
func (c *consoleReq) Principal() identity.Principal { return c.p }

// fail renders an error page.
func (c *consoleReq) fail(status int, msg string) {
	p := c.p
	var u *identity.Principal
	if p.Role != "" {
		u = &p
	}
	c.g.render(c.w, status, page{Template: "console_error", Title: "无法完成", User: u, Data: consoleData{C: c, D: msg}})
}

// failAPI renders a service's refusal or failure.
func (c *consoleReq) failAPI(err error) {
	// The service no longer accepts the session (revoked since the
	// gateway's cache resolved it): sign in again.
	var e *apiError
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		http.Redirect(c.w, c.r, loginRedirect(c.r), http.StatusSeeOther)
		return
	}
	status, msg := explain(err)
	c.fail(status, msg)
}

// chooseTown (district roles) remembers the town to look at.
func (g *Gateway) chooseTown(c *consoleReq) {
	name := c.r.URL.Query().Get("town")
	if !c.p.Role.IsDistrictRole() || !slices.ContainsFunc(c.towns, func(t Town) bool { return t.Name == name }) {
		http.Redirect(c.w, c.r, "/console", http.StatusSeeOther)
		return
	}
	// Secure whenever the page came over TLS; make dev-local serves plain HTTP.
	// The cookie names a town the user may see anyway, no credential.
	http.SetCookie(c.w, &http.Cookie{Name: consoleTownCookie, Value: name, Path: "/console", HttpOnly: true, //nolint:gosec // see above
		SameSite: http.SameSiteLaxMode, Secure: c.r.TLS != nil})
	http.Redirect(c.w, c.r, "/console", http.StatusSeeOther)
}
