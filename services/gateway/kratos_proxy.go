package gateway

import (
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// kratosPublicPaths are the parts of Kratos' public API a browser needs:
// the self-service flows, the session check, identity schemas and Ory's
// well-known scripts. Everything else on the public port (health
// endpoints, the redirects it answers for admin paths, which name the
// admin URL) stays inside the cluster.
var kratosPublicPaths = []string{"self-service/", "sessions/whoami", "schemas", ".well-known/ory/"}

// kratosProxy serves Kratos' public API on the gateway's origin at
// KratosPathPrefix: the prefix is stripped and the rest is sent to
// Config.KratosPublicURL. Kratos then sets its session and CSRF cookies for
// the gateway's origin, and the form actions it renders (from its
// serve.public.base_url, which must be <gateway origin>/.ory/kratos/) post
// back through the gateway.
func (g *Gateway) kratosProxy() http.Handler {
	base := g.kratos // ends in "/"
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			rest := strings.TrimPrefix(pr.In.URL.Path, strings.TrimSuffix(KratosPathPrefix, "/"))
			pr.SetURL(base)
			pr.Out.URL.Path = strings.TrimSuffix(base.Path, "/") + rest
			pr.Out.URL.RawPath = ""
			pr.SetXForwarded()
			// The caller as the gateway's trusted proxies make it out
			// (Kratos records it on the session), not the last hop.
			pr.Out.Header.Set("X-Forwarded-For", httpapi.ClientIP(pr.In))
			// Only Kratos' own cookies leave the gateway.
			pr.Out.Header.Del("Cookie")
			if c := kratosCookies(pr.In); c != "" {
				pr.Out.Header.Set("Cookie", c)
			}
		},
		// Each proxied call is a client span of the gateway's request.
		Transport: telemetry.HTTPTransport(&http.Transport{
			Proxy:                 nil, // never an environment proxy between the gateway and Kratos
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		}, "kratos"),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			httpapi.Logger(r.Context()).Warn("gateway: Kratos did not answer", "err", err)
			w.Header().Set("Retry-After", "5")
			g.renderAuthError(w, r, http.StatusBadGateway, authErrorView{
				Title:  "登录服务暂时不可用",
				Detail: "登录服务暂时没有响应，请稍后再试。",
			})
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, KratosPathPrefix)
		allowed := false
		for _, p := range kratosPublicPaths {
			if strings.HasPrefix(rest, p) {
				allowed = true
				break
			}
		}
		if !allowed || strings.Contains(rest, "..") {
			httpapi.WriteProblem(w, r, httpapi.NotFound("Nothing is served at "+r.URL.Path+"."))
			return
		}
		rp.ServeHTTP(w, r)
	})
}

// kratosCookies is the part of r's Cookie header that Kratos set: its
// session cookie and its CSRF cookie (csrf_token_<hash of its base URL>).
func kratosCookies(r *http.Request) string {
	var parts []string
	for _, c := range r.Cookies() {
		if isKratosCookie(c.Name) {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return strings.Join(parts, "; ")
}

func isKratosCookie(name string) bool {
	if strings.HasPrefix(name, "csrf_token") {
		return true
	}
	for _, n := range sessionCookieNames {
		if name == n {
			return true
		}
	}
	return false
}
