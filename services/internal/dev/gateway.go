package main

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// The services `make dev-local` runs, in start order, with the port offset each
// listens on (the gateway takes the base port).
var devServices = []struct {
	Name   string
	Offset int
}{
	{"workflow", 1}, {"disclosure", 2}, {"complaint", 3}, {"inspection", 4},
}

// routeOf picks the service behind the public gateway for a request path.
// It mirrors what a town's ingress does in a cluster: villagers' pages and
// public APIs on one host (the QR code's), the staff APIs under a prefix
// per service. ok is false for paths no service serves.
func routeOf(path string) (service, rest string, ok bool) {
	// Staff and service-specific paths: /<service>/... with the prefix cut.
	for _, s := range devServices {
		if p := "/" + s.Name; path == p || strings.HasPrefix(path, p+"/") {
			rest = strings.TrimPrefix(path, p)
			if rest == "" {
				rest = "/"
			}
			return s.Name, rest, true
		}
	}
	switch {
	// 码上举报: the report page and the complaint service's public APIs.
	case strings.HasPrefix(path, "/r/"), strings.HasPrefix(path, "/open311/"),
		strings.HasPrefix(path, "/v1/public/complaints/"),
		strings.HasPrefix(path, "/v1/public/villages/") && strings.HasSuffix(path, "/complaints"):
		return "complaint", path, true
	// 一码当先: the village portal and disclosure's public APIs.
	case strings.HasPrefix(path, "/v/"), strings.HasPrefix(path, "/v1/public/"):
		return "disclosure", path, true
	}
	return "", "", false
}

// gateway proxies to the services listening on backends (name → base URL).
func gateway(backends map[string]*url.URL) http.Handler {
	proxies := map[string]*httputil.ReverseProxy{}
	for name, u := range backends {
		proxies[name] = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.SetXForwarded()
		}}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, rest, ok := routeOf(r.URL.Path)
		if !ok {
			if r.URL.Path == "/" {
				http.Redirect(w, r, "/v/"+devVillage, http.StatusFound)
				return
			}
			http.NotFound(w, r)
			return
		}
		r.URL.Path, r.URL.RawPath = rest, ""
		proxies[name].ServeHTTP(w, r)
	})
}
