package gateway

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	kratos "github.com/ory/kratos-client-go"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// Sign-in pages. Kratos runs the flows; the gateway only renders them: a
// page fetches its flow from Kratos (forwarding the browser's Kratos
// cookies, which carry the CSRF token the flow is bound to) and shows the
// flow's form in Chinese, posting straight to Kratos through the gateway
// (KratosPathPrefix). Kratos answers such a post with a redirect: back to
// the page with the same flow and its messages, or onwards.
//
// Kratos must be configured for it (hack/kratos.sh does for tests and
// `make dev`): serve.public.base_url <origin>/.ory/kratos/, the flows'
// ui_url <origin>/auth/login|recovery|settings|error, the allowed return
// URLs <origin>/, default_browser_return_url <origin>/console (relative
// return_to values are resolved against it) and the page after logout
// <origin>/auth/login.
//
// The operator's first-login hand-over (the Secrets of recovery-<town>)
// carries a one-time code and the recovery link Kratos made for it,
// <origin>/auth/recovery?flow=<id>: the official opens the link, enters the
// code, is signed in and sent to /auth/settings to set a password, then to
// /console.

// Paths of the sign-in pages; the console sends a browser without a
// session to LoginPath?return_to=<its path>.
const (
	LoginPath    = "/auth/login"
	RecoveryPath = "/auth/recovery"
	SettingsPath = "/auth/settings"
	LogoutPath   = "/auth/logout"
	ErrorPath    = "/auth/error"
	// ConsolePath is where a signed-in user lands by default.
	ConsolePath = "/console"
)

// sessionCookieNames are Kratos' session cookies (kratos.yml's
// session.cookie.name and Kratos' default).
var sessionCookieNames = identity.DefaultCookieNames

// kratosTimeout bounds one call to Kratos from a page.
const kratosTimeout = 10 * time.Second

// authPages renders Kratos' browser flows.
type authPages struct {
	g   *Gateway
	api *kratos.APIClient
}

// authRoutes registers the sign-in pages (/auth/*) and Kratos' public API
// on the same origin (KratosPathPrefix), on the staff hosts only.
func (g *Gateway) authRoutes(srv *httpapi.Server) {
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: strings.TrimRight(g.kratos.String(), "/")}}
	cfg.HTTPClient = &http.Client{Timeout: kratosTimeout, Transport: telemetry.HTTPTransport(nil, "kratos")}
	cfg.UserAgent = "wuxiao-gateway"
	a := &authPages{g: g, api: kratos.NewAPIClient(cfg)}

	srv.Handle(KratosPathPrefix, httpapi.Public(g.authStaffHost(g.kratosProxy())))
	srv.Handle("GET "+LoginPath, httpapi.Public(g.authStaffHost(http.HandlerFunc(a.login))))
	srv.Handle("GET "+RecoveryPath, httpapi.Public(g.authStaffHost(http.HandlerFunc(a.recovery))))
	srv.Handle("GET "+SettingsPath, httpapi.Public(g.authStaffHost(http.HandlerFunc(a.settings))))
	// Signing out is a POST with the session's form token: a link on another
	// site must not be able to sign a cadre out. GET asks for confirmation.
	srv.Handle("GET "+LogoutPath, httpapi.Public(g.authStaffHost(http.HandlerFunc(a.logoutPage))))
	srv.Handle("POST "+LogoutPath, httpapi.Public(g.authStaffHost(http.HandlerFunc(a.logout))))
	srv.Handle("GET "+ErrorPath, httpapi.Public(g.authStaffHost(http.HandlerFunc(a.flowError))))
}

// authStaffHost answers 404 on hosts that are not staff hosts.
func (g *Gateway) authStaffHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(g.cfg.StaffHosts, r.Host) {
			httpapi.WriteProblem(w, r, httpapi.NotFound("Nothing is served at "+r.URL.Path+" on this host."))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Where a browser starts a new flow (Kratos creates it, sets its CSRF
// cookie and redirects to the flow's page with ?flow=<id>).
func browserFlowURL(flow string, returnTo string) string {
	u := KratosPathPrefix + "self-service/" + flow + "/browser"
	if returnTo != "" {
		u += "?" + url.Values{"return_to": {returnTo}}.Encode()
	}
	return u
}

// localPath returns raw if it is a path on this origin ("/x", not "//x"
// or "/\x"), else "".
func localPath(raw string) string {
	if raw == "" || raw[0] != '/' || strings.HasPrefix(raw, "//") || strings.HasPrefix(raw, "/\\") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return raw
}

// sameOriginPath turns a return_to Kratos kept for a flow (absolute, on
// this gateway's origin, or relative) into a local path; "" when it points
// elsewhere.
func sameOriginPath(raw string, r *http.Request) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.Host != "" && !strings.EqualFold(u.Host, r.Host) {
		return ""
	}
	p := u.EscapedPath()
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return localPath(p)
}

// flowStatus is the HTTP status of a failed Kratos call (0: no answer).
func flowStatus(resp *http.Response, err error) int {
	if err == nil {
		return http.StatusOK
	}
	if resp != nil {
		return resp.StatusCode
	}
	return 0
}

// flowRestart reports whether a failed flow fetch is best answered with a
// new flow: the flow expired (410), is unknown (404 or a malformed id,
// 400) or belongs to another browser or identity (403).
func flowRestart(status int) bool {
	switch status {
	case http.StatusGone, http.StatusNotFound, http.StatusBadRequest, http.StatusForbidden:
		return true
	}
	return false
}

// restartURL is where Kratos says an expired flow restarts (its
// error's details.redirect_to, which keeps the flow's return_to), through
// the gateway; fallback otherwise.
func restartURL(err error, fallback string) string {
	var oe *kratos.GenericOpenAPIError
	if !errors.As(err, &oe) {
		return fallback
	}
	var body struct {
		Error struct {
			Details struct {
				RedirectTo string `json:"redirect_to"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(oe.Body(), &body) != nil {
		return fallback
	}
	to := throughGateway(body.Error.Details.RedirectTo)
	if !strings.HasPrefix(to, KratosPathPrefix+"self-service/") {
		return fallback
	}
	return to
}

func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// kratosUnavailable answers a page whose flow Kratos did not give.
func (a *authPages) kratosUnavailable(w http.ResponseWriter, r *http.Request, what string, status int, err error) {
	httpapi.Logger(r.Context()).Warn("gateway: fetching a Kratos flow failed", "flow", what, "status", status, "err", err)
	w.Header().Set("Retry-After", "5")
	a.g.renderAuthError(w, r, http.StatusBadGateway, authErrorView{
		Title:  "登录服务暂时不可用",
		Detail: "登录服务暂时没有响应，请稍后再试。",
	})
}

func (a *authPages) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), kratosTimeout)
}

// noCSRFCookie reports whether the browser sent no Kratos CSRF cookie:
// a flow then cannot be shown however often it is restarted (cookies
// blocked), so the page says so instead of redirecting in a loop.
func noCSRFCookie(r *http.Request) bool {
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, "csrf_token") {
			return false
		}
	}
	return true
}

var errCookiesBlocked = authErrorView{
	Title:  "无法登录：浏览器未保存 Cookie",
	Detail: "登录需要浏览器保存本网站的 Cookie。请在浏览器设置中允许 Cookie（不要使用“无痕/隐私模式”的严格拦截），然后重新打开登录页面。",
}

// login shows Kratos' login flow ?flow=<id>, or starts one (return_to: a
// local path, default the console).
func (a *authPages) login(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("flow")
	returnTo := localPath(q.Get("return_to"))
	if returnTo == "" {
		returnTo = ConsolePath
	}
	if id == "" {
		seeOther(w, r, browserFlowURL("login", returnTo))
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	f, resp, err := a.api.FrontendAPI.GetLoginFlow(ctx).Id(id).Cookie(kratosCookies(r)).Execute()
	if st := flowStatus(resp, err); err != nil {
		switch {
		case st == http.StatusForbidden && noCSRFCookie(r):
			a.g.renderAuthError(w, r, http.StatusForbidden, errCookiesBlocked)
		case flowRestart(st):
			seeOther(w, r, restartURL(err, browserFlowURL("login", returnTo)))
		default:
			a.kratosUnavailable(w, r, "login", st, err)
		}
		return
	}
	v := authView{
		Intro: "请用您的登录名和密码登录。",
		Links: []authLink{
			{Href: RecoveryPath, Text: "忘记密码？通过邮箱找回"},
		},
		Notes: []string{
			"首次登录：请打开镇（街道）信息员发给您的链接，输入一次性验证码，再设置密码。",
			"链接或验证码失效时，请联系镇（街道）信息员重新获取。",
		},
	}
	if f.GetRefresh() {
		v.Intro = "为了您的账号安全，请再次输入密码，确认是您本人操作。"
	}
	v.Messages = translateAll(f.Ui.Messages)
	v.Form = buildForm(f.Ui, "login", "", []string{"default", "password"})
	a.g.render(w, http.StatusOK, page{Template: "auth_flow", Title: "登录", Data: v})
}

// recovery shows Kratos' recovery flow ?flow=<id> (the link of a
// first-login hand-over, or one the official started), or starts one.
func (a *authPages) recovery(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("flow")
	if id == "" {
		seeOther(w, r, browserFlowURL("recovery", ""))
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	f, resp, err := a.api.FrontendAPI.GetRecoveryFlow(ctx).Id(id).Cookie(kratosCookies(r)).Execute()
	if st := flowStatus(resp, err); err != nil {
		switch {
		case st == http.StatusForbidden && noCSRFCookie(r):
			a.g.renderAuthError(w, r, http.StatusForbidden, errCookiesBlocked)
		case st == http.StatusGone:
			// An expired hand-over cannot be restarted by the official:
			// the code belongs to the expired flow. Say so.
			a.g.renderAuthError(w, r, http.StatusOK, authErrorView{
				Title:  "链接已过期",
				Detail: "这个登录链接已经过期。请联系镇（街道）信息员重新获取链接和一次性验证码。",
			})
		case flowRestart(st):
			seeOther(w, r, browserFlowURL("recovery", ""))
		default:
			a.kratosUnavailable(w, r, "recovery", st, err)
		}
		return
	}
	v := authView{Links: []authLink{{Href: LoginPath, Text: "已有密码？返回登录"}}}
	state, _ := f.State.(string)
	if state == "choose_method" {
		v.Intro = "忘记密码：请输入您登记的邮箱，我们会把验证码发到这个邮箱。"
		v.Notes = []string{"没有邮箱或收不到邮件？请联系镇（街道）信息员，为您生成一次性验证码和登录链接。"}
	} else {
		v.Intro = "请输入镇（街道）信息员交给您（或发到您邮箱）的一次性验证码。验证通过后，请设置您自己的登录密码。"
	}
	v.Messages = translateAll(f.Ui.Messages)
	v.Form = buildForm(f.Ui, "recovery", state, []string{"default", "code", "link"})
	a.g.render(w, http.StatusOK, page{Template: "auth_flow", Title: "首次登录 / 找回密码", Data: v})
}

// settings shows Kratos' settings flow (set or change the password), or
// starts one; without a session Kratos sends the browser to sign in.
func (a *authPages) settings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("flow")
	if id == "" {
		seeOther(w, r, browserFlowURL("settings", localPath(q.Get("return_to"))))
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	f, resp, err := a.api.FrontendAPI.GetSettingsFlow(ctx).Id(id).Cookie(kratosCookies(r)).Execute()
	if st := flowStatus(resp, err); err != nil {
		switch {
		case st == http.StatusUnauthorized:
			seeOther(w, r, LoginPath+"?"+url.Values{"return_to": {SettingsPath}}.Encode())
		case st == http.StatusForbidden && noCSRFCookie(r):
			a.g.renderAuthError(w, r, http.StatusForbidden, errCookiesBlocked)
		case flowRestart(st):
			seeOther(w, r, restartURL(err, browserFlowURL("settings", "")))
		default:
			a.kratosUnavailable(w, r, "settings", st, err)
		}
		return
	}
	next := ConsolePath
	if f.ReturnTo != nil {
		if p := sameOriginPath(*f.ReturnTo, r); p != "" {
			next = p
		}
	}
	v := authView{
		Intro:   "请设置您的登录密码（至少 8 位）。以后用登录名和这个密码登录。",
		Account: accountOf(f.Identity),
	}
	state, _ := f.State.(string)
	switch {
	case state == "success":
		// Kratos was not told where to go after a password change
		// (settings.after.password.default_browser_return_url): offer it.
		v.Done = "密码已保存。"
		v.Next = &authLink{Href: next, Text: "进入工作台"}
	case recovered(f.Ui.Messages):
		// First sign-in: no way round setting a password here.
	default:
		v.Links = []authLink{{Href: next, Text: "返回工作台"}}
	}
	v.Messages = translateAll(f.Ui.Messages)
	v.Form = buildForm(f.Ui, "settings", state, []string{"default", "password"})
	a.g.render(w, http.StatusOK, page{Template: "auth_flow", Title: "设置密码", Data: v})
}

// recovered reports whether the settings flow follows a recovery (Kratos'
// message 1060001): the person has no password yet, or forgot it.
func recovered(ms []kratos.UiText) bool {
	for _, m := range ms {
		if m.Id == 1060001 {
			return true
		}
	}
	return false
}

// logoutPage asks a signed-in browser to confirm signing out (a bookmark
// or an old link to /auth/logout); without a session it shows the login page.
func (a *authPages) logoutPage(w http.ResponseWriter, r *http.Request) {
	cookie := sessionCookie(r)
	if cookie == "" {
		seeOther(w, r, LoginPath)
		return
	}
	a.g.render(w, http.StatusOK, page{Template: "auth_logout", Title: "退出登录", Data: struct{ CSRF string }{csrfToken(cookie)}})
}

// logout signs the browser out: Kratos makes a logout URL for the
// session, which clears the cookie and sends the browser to the login page.
// The form must come from this host and carry the session's token.
func (a *authPages) logout(w http.ResponseWriter, r *http.Request) {
	cookie := sessionCookie(r)
	if cookie == "" {
		seeOther(w, r, LoginPath)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !sameOrigin(r) || r.ParseForm() != nil || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(csrfToken(cookie))) {
		// Ask again on our own page: the person may really want to leave.
		a.g.render(w, http.StatusForbidden, page{Template: "auth_logout", Title: "退出登录", Data: struct{ CSRF string }{csrfToken(cookie)},
			Flash: "退出请求不是从本平台页面发出的，未执行，您仍处于登录状态。如确要退出，请点击下面的按钮。"})
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	f, resp, err := a.api.FrontendAPI.CreateBrowserLogoutFlow(ctx).Cookie(kratosCookies(r)).Execute()
	if st := flowStatus(resp, err); err != nil {
		if st == http.StatusUnauthorized || st == http.StatusBadRequest || st == http.StatusForbidden {
			seeOther(w, r, LoginPath) // not signed in (any more)
			return
		}
		a.kratosUnavailable(w, r, "logout", st, err)
		return
	}
	seeOther(w, r, throughGateway(f.LogoutUrl))
}

// flowError shows a Kratos error ?id=<id> in Chinese.
func (a *authPages) flowError(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	v := authErrorView{Title: "出错了", Detail: "登录过程中出现了问题，请重新登录。"}
	if id != "" {
		ctx, cancel := a.ctx(r)
		defer cancel()
		fe, resp, err := a.api.FrontendAPI.GetFlowError(ctx).Id(id).Execute()
		switch st := flowStatus(resp, err); {
		case err == nil:
			v = describeFlowError(fe.Error)
		case st == http.StatusNotFound || st == http.StatusBadRequest:
			// An old or mistyped link: the generic text.
		default:
			a.kratosUnavailable(w, r, "error", st, err)
			return
		}
	}
	a.g.renderAuthError(w, r, http.StatusOK, v)
}

// throughGateway rewrites a URL Kratos made from its base URL (a form
// action, a logout URL) into a path under KratosPathPrefix on the
// gateway's own origin: the page's Content-Security-Policy allows forms to
// post only there, and the cookies belong there even when Kratos'
// base_url names another host.
func throughGateway(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	i := strings.Index(u.Path, "/self-service/")
	if i < 0 {
		return raw
	}
	out := KratosPathPrefix + u.Path[i+1:]
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

// authView is the data of web/auth_flow.html.
type authView struct {
	Intro    string        // what to do on this page
	Done     string        // a success line (role=status)
	Account  *authAccount  // whose settings these are
	Messages []authMessage // the flow's messages
	Form     *authForm
	Notes    []string   // hints under the form
	Links    []authLink // other pages
	Next     *authLink  // the way on once the page's work is done (a button)
}

type authAccount struct{ Name, Login string }

type authLink struct{ Href, Text string }

// authMessage is one of Kratos' messages in Chinese; Kind is error, info
// or success (its CSS class).
type authMessage struct{ Kind, Text string }

type authForm struct {
	Action, Method string
	Hidden         []authField
	Fields         []authField
	Buttons        []authField
}

type authField struct {
	ID, Name, Type, Value string
	Label, Hint           string
	Autocomplete, Mode    string
	Pattern               string
	MaxLength             int64
	Required              bool
	Messages              []authMessage
	HasError              bool
	DescribedBy           string
	ButtonClass           string
}

func accountOf(id kratos.Identity) *authAccount {
	traits, ok := id.Traits.(map[string]any)
	if !ok {
		return nil
	}
	acc := &authAccount{}
	acc.Name, _ = traits["name"].(string)
	acc.Login, _ = traits["email"].(string)
	if acc.Name == "" && acc.Login == "" {
		return nil
	}
	return acc
}

// buildForm turns the flow's UI nodes of the given groups into a form;
// other groups (profile traits in settings, methods this district does
// not use) are left out.
func buildForm(ui kratos.UiContainer, flow, state string, groups []string) *authForm {
	f := &authForm{Action: throughGateway(ui.Action), Method: strings.ToLower(ui.Method)}
	if f.Method == "" {
		f.Method = "post"
	}
	for _, n := range ui.Nodes {
		if !contains(groups, n.Group) {
			continue
		}
		in := n.Attributes.UiNodeInputAttributes
		if in == nil {
			continue // text, image, script and anchor nodes: not used by the password and code methods
		}
		fd := authField{Name: in.Name, Type: in.Type, Value: inputValue(in.Value)}
		switch in.Type {
		case "hidden":
			f.Hidden = append(f.Hidden, fd)
			continue
		case "submit", "button":
			fd.Label = buttonLabel(flow, state, n.Group, in.Name)
			if in.Name == "email" && flow == "recovery" {
				fd.ButtonClass = "secondary" // resend the code
			}
			f.Buttons = append(f.Buttons, fd)
			continue
		}
		fd.ID = "f-" + strings.NewReplacer(".", "-", "_", "-").Replace(in.Name)
		fd.Label, fd.Hint, fd.Autocomplete, fd.Mode = fieldText(flow, in.Name)
		if fd.Label == "" && in.Label != nil {
			fd.Label = in.Label.Text
		}
		if fd.Label == "" {
			fd.Label = in.Name
		}
		if in.Type == "password" {
			fd.Value = "" // never echo a password
		}
		if in.Pattern != nil {
			fd.Pattern = *in.Pattern
		}
		if in.Maxlength != nil {
			fd.MaxLength = *in.Maxlength
		}
		fd.Required = in.Required != nil && *in.Required
		fd.Messages = translateAll(n.Messages)
		for _, m := range fd.Messages {
			if m.Kind == "error" {
				fd.HasError = true
			}
		}
		var desc []string
		if fd.Hint != "" {
			desc = append(desc, fd.ID+"-hint")
		}
		if len(fd.Messages) > 0 {
			desc = append(desc, fd.ID+"-msg")
		}
		fd.DescribedBy = strings.Join(desc, " ")
		f.Fields = append(f.Fields, fd)
	}
	return f
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func inputValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// fieldText is the Chinese label, hint, autocomplete token and input mode
// of an input of a flow.
func fieldText(flow, name string) (label, hint, autocomplete, mode string) {
	switch name {
	case "identifier":
		return "登录名（邮箱或手机号登录名）", "镇（街道）信息员开通账号时告知您的登录名。", "username", ""
	case "password":
		if flow == "settings" {
			return "新密码", "至少 8 位，请勿使用生日、手机号等容易被猜到的密码，也不要告诉他人。", "new-password", ""
		}
		return "密码", "", "current-password", ""
	case "code":
		return "一次性验证码", "6 位数字，只能使用一次。", "one-time-code", "numeric"
	case "email":
		return "邮箱", "", "email", "email"
	}
	return "", "", "", ""
}

// buttonLabel is the Chinese text of a submit button of a flow in state.
func buttonLabel(flow, state, group, name string) string {
	switch {
	case flow == "login":
		return "登录"
	case flow == "settings" && group == "password":
		return "保存密码"
	case flow == "recovery" && name == "email":
		return "重新发送验证码" // next to the code field, once a code was sent
	case flow == "recovery" && state == "choose_method":
		return "发送验证码"
	case flow == "recovery":
		return "验证"
	}
	return "提交"
}

func translateAll(ms []kratos.UiText) []authMessage {
	out := make([]authMessage, 0, len(ms))
	for _, m := range ms {
		kind := m.Type
		if kind != "error" && kind != "success" {
			kind = "info"
		}
		out = append(out, authMessage{Kind: kind, Text: translate(m)})
	}
	return out
}

// fieldNames are the inputs' names as messages mention them.
var fieldNames = map[string]string{
	"identifier": "登录名", "password": "密码", "code": "验证码", "email": "邮箱",
	"traits.email": "邮箱", "traits.name": "姓名", "traits.phone": "手机号",
}

// translate is a Kratos message in Chinese; messages not known here keep
// Kratos' English text (their meaning then still reaches the user).
func translate(m kratos.UiText) string {
	num := func(k string) string {
		switch v := m.Context[k].(type) {
		case float64:
			return fmt.Sprintf("%d", int64(v))
		case nil:
			return ""
		default:
			return fmt.Sprint(v)
		}
	}
	switch m.Id {
	case 1010003:
		return "为了您的账号安全，请再次输入密码，确认是您本人操作。"
	case 1010004:
		return "请完成第二步验证。"
	case 1050001:
		return "已保存。"
	case 1060001:
		return "验证通过，您已登录。请现在设置您的登录密码。"
	case 1060002:
		return "如果这个邮箱已登记，找回链接已发到该邮箱。"
	case 1060003:
		return "如果这个邮箱已登记，验证码已发到该邮箱，请查收后在下面输入。没有收到？请核对邮箱地址，或联系镇（街道）信息员。"
	case 4000001:
		return "输入有误：" + m.Text
	case 4000002:
		if n, ok := fieldNames[num("property")]; ok {
			return "请填写" + n + "。"
		}
		return "请填写此项。"
	case 4000003:
		return "至少需要 " + num("min_length") + " 个字符。"
	case 4000004:
		return "格式不正确。"
	case 4000005:
		return "这个密码不能使用，请换一个。"
	case 4000006:
		return "登录名或密码不正确，请检查后重试。"
	case 4000007:
		return "该账号已存在。"
	case 4000010:
		return "该邮箱尚未验证。"
	case 4000017:
		return "太长了，最多 " + num("max_length") + " 个字符。"
	case 4000031:
		return "密码与登录名太相似，请换一个。"
	case 4000032:
		return "密码至少需要 " + num("min_length") + " 位（现在是 " + num("actual_length") + " 位）。"
	case 4000033:
		return "密码太长，最多 " + num("max_length") + " 位。"
	case 4000034:
		return "这个密码曾在公开泄露的密码库中出现，请换一个。"
	case 4000035, 4000037:
		return "该账号不存在，或还没有设置密码。首次登录请用镇（街道）信息员给您的链接和一次性验证码。"
	case 4010001:
		return "登录页面已过期，请重新登录。"
	case 4010002, 4010004, 4010005:
		return "不支持这种方式，请使用登录名和密码。"
	case 4010007:
		return "您已经登录过了，请重新操作。"
	case 4050001:
		return "页面已过期，请重新设置。"
	case 4060001:
		return "这个验证码已经用过了，无需重复提交。"
	case 4060002, 4060003:
		return "找回密码的过程出了问题，请重新开始。"
	case 4060004:
		return "找回链接无效或已被使用，请联系镇（街道）信息员重新获取。"
	case 4060005:
		return "页面已过期，请重新开始；首次登录请联系镇（街道）信息员重新获取链接和验证码。"
	case 4060006:
		return "验证码不正确或已被使用，请核对后重试。"
	case 5000001:
		return "系统出错，请稍后再试。"
	}
	return m.Text
}

// authErrorView is the data of web/auth_error.html.
type authErrorView struct {
	Title, Detail string
	Code          string // Kratos' error id, for town IT staff
}

// flowErrorText are Kratos' error ids in Chinese.
var flowErrorText = map[string][2]string{
	"security_csrf_violation":               {"请重新登录", "页面已失效（安全校验未通过），可能是打开了旧页面或浏览器没有保存 Cookie。请重新登录。"},
	"security_identity_mismatch":            {"请重新登录", "这个页面属于另一个账号。请退出后用自己的账号重新登录。"},
	"self_service_flow_expired":             {"页面已过期", "页面打开太久已过期，请重新登录。"},
	"self_service_flow_return_to_forbidden": {"跳转地址不被允许", "登录后要去的地址不在本平台内。请从工作台重新登录。"},
	"session_already_available":             {"您已登录", "您已经登录，可以直接进入工作台。"},
	"session_inactive":                      {"请重新登录", "登录已失效，请重新登录。"},
	"session_aal2_required":                 {"需要进一步验证", "请完成第二步验证后再试。"},
	"browser_location_change_required":      {"请重新登录", "请重新登录。"},
	"self_service_flow_disabled":            {"功能未开放", "本平台不开放自行注册：账号由镇（街道）信息员开通。"},
}

func describeFlowError(e map[string]any) authErrorView {
	id, _ := e["id"].(string)
	if t, ok := flowErrorText[id]; ok {
		return authErrorView{Title: t[0], Detail: t[1], Code: id}
	}
	code := 0
	if c, ok := e["code"].(float64); ok {
		code = int(c)
	}
	v := authErrorView{Title: "出错了", Detail: "登录过程中出现了问题，请重新登录。", Code: id}
	if code >= 500 {
		v.Detail = "登录服务出现故障，请稍后再试；如果一直不行，请联系镇（街道）信息员。"
	}
	if v.Code == "" && code != 0 {
		v.Code = fmt.Sprintf("HTTP %d", code)
	}
	return v
}

// renderAuthError renders web/auth_error.html.
func (g *Gateway) renderAuthError(w http.ResponseWriter, r *http.Request, status int, v authErrorView) {
	g.render(w, status, page{Template: "auth_error", Title: v.Title, Data: v})
}
