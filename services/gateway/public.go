package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// ProxyMaxBodyBytes is the largest request body the gateway passes on to a
// town: a villager's application with its materials (6 × 5 MiB and the
// form) is the largest. Each town service enforces its own limits. Only
// the proxied routes take this much; the gateway's own pages keep the
// server's limit.
const ProxyMaxBodyBytes = 32 << 20

// retryAfter is what a client is told to wait when a town has no ready pod
// (a restarting pod is usually back within seconds).
const retryAfter = "10"

// kind is how a route answers errors: an HTML page in Chinese (the
// villagers' pages), a problem document (the public JSON APIs), or
// Open311's error list.
type kind int

const (
	kindPage kind = iota
	kindAPI
	kindOpen311
)

// target is where a request goes, handed from the handler to the proxy's
// Rewrite and ErrorHandler through the request context.
type target struct {
	url     *url.URL
	kind    kind
	town    string
	service string
	// cacheKey, when set, keeps a public answer in the page cache.
	cacheKey string
}

type targetKey struct{}

// publicProxy sends the villagers' requests to their towns' pods.
type publicProxy struct {
	g       *Gateway
	proxy   *httputil.ReverseProxy
	client  *http.Client // fanned-out requests
	next    atomic.Uint64
	cache   *pageCache
	metrics gatewayMetrics
}

// publicRoutes registers the villagers' routes: portals, report pages,
// follow-ups and Open311, each sent to its town's pods.
func (g *Gateway) publicRoutes(srv *httpapi.Server) {
	p := newPublicProxy(g)
	route := func(pattern string, k kind, h func(http.ResponseWriter, *http.Request, kind)) {
		// Report uploads pass through (the complaint service applies its
		// own limit); the gateway's own pages keep the server's limit.
		srv.Handle(pattern, httpapi.WithBodyLimit(ProxyMaxBodyBytes, httpapi.Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hostAllowed(g.cfg.PublicHosts, r.Host) {
				p.fail(w, r, k, errWrongHost)
				return
			}
			h(w, r, k)
		}))))
	}
	village := func(service string) func(http.ResponseWriter, *http.Request, kind) {
		return func(w http.ResponseWriter, r *http.Request, k kind) {
			p.byVillage(w, r, k, service, r.PathValue("village"))
		}
	}
	// The portal's pages and public data, kept for a second when the
	// town marks them public (public_cache.go).
	portal := func(w http.ResponseWriter, r *http.Request, k kind) {
		if cacheableRequest(r) && p.cache.get(w, r) {
			return
		}
		p.byVillage(w, r, k, ServiceDisclosure, r.PathValue("village"))
	}

	// 一码当先: the village portal, and disclosure's public APIs.
	route("GET /v/{village}", kindPage, portal)
	route("GET /v/{village}/{rest...}", kindPage, portal)
	route("POST /v/{village}/{rest...}", kindPage, village(ServiceDisclosure))
	route("GET /v1/public/villages/{village}/{rest...}", kindAPI, portal)
	route("POST /v1/public/villages/{village}/{rest...}", kindAPI, village(ServiceDisclosure))
	// 流程到哪了: a process's tracking number starts with its village's code.
	route("GET /v1/public/track/{number}", kindAPI, p.byProcessNumber)
	route("GET /v1/public/track/{number}/flowchart.svg", kindAPI, p.byProcessNumber)

	// 码上举报: the report page and the complaint API of a village.
	route("GET /r/{village}", kindPage, village(ServiceComplaint))
	route("POST /r/{village}", kindPage, village(ServiceComplaint))
	route("POST /v1/public/villages/{village}/complaints", kindAPI, village(ServiceComplaint))
	// 一跑: villagers' applications (the pages and the API) and their
	// supplements, served by the workflow service.
	route("GET /a/{village}", kindPage, village(ServiceWorkflow))
	route("GET /a/{village}/{rest...}", kindPage, village(ServiceWorkflow))
	route("POST /a/{village}/{rest...}", kindPage, village(ServiceWorkflow))
	route("POST /v1/public/villages/{village}/applications", kindAPI, village(ServiceWorkflow))
	route("POST /v1/public/applications/{number}/supplement", kindAPI, p.byProcessNumber)
	// A reporter's follow-up: the town is in the tracking code.
	route("GET /r/track", kindPage, p.anyTownRoute(ServiceComplaint)) // the same form in every town
	route("GET /r/track/{code}", kindPage, p.byTrackingCode)
	route("POST /r/track/{code}", kindPage, p.byTrackingCode)
	route("GET /v1/public/complaints/{code}", kindAPI, p.byTrackingCode)
	route("POST /v1/public/complaints/{code}/feedback", kindAPI, p.byTrackingCode)

	// Open311 GeoReport v2: jurisdiction_id names the town.
	route("GET /open311/v2/services.json", kindOpen311, p.open311Services)
	route("GET /open311/v2/services/{file}", kindOpen311, p.open311Services)
	route("POST /open311/v2/requests.json", kindOpen311, p.open311Create)
	route("GET /open311/v2/requests.json", kindOpen311, p.open311Query)
	route("GET /open311/v2/requests/{file}", kindOpen311, p.open311Get)
}

func newPublicProxy(g *Gateway) *publicProxy {
	// Pods are addressed directly: no HTTP proxy from the environment.
	base := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256, // a village meeting scanning the QR code at once
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		ExpectContinueTimeout: time.Second,
	}
	p := &publicProxy{g: g, cache: newPageCache(), metrics: newGatewayMetrics(),
		client: &http.Client{Transport: base,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targetOf(pr.In).url)
			pr.SetXForwarded()
			setForwarded(pr.Out, pr.In)
		},
		Transport:    base,
		ErrorHandler: p.proxyError,
		ModifyResponse: func(resp *http.Response) error {
			// The gateway's request id is the one the client sees (the
			// town logged the same, see setForwarded).
			resp.Header.Del(httpapi.RequestIDHeader)
			if t := targetOf(resp.Request); t != nil && t.cacheKey != "" {
				return p.cache.store(t.cacheKey, resp)
			}
			return nil
		},
		BufferPool: &bufferPool{},
	}
	return p
}

// bufferPool reuses the proxy's copy buffers (32 KiB each) across requests.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

func targetOf(r *http.Request) *target {
	t, _ := r.Context().Value(targetKey{}).(*target)
	return t
}

// forward proxies r to a ready pod of the town's service.
func (p *publicProxy) forward(w http.ResponseWriter, r *http.Request, k kind, town, service string) {
	u, err := p.g.backends.ServiceURL(town, service)
	if err != nil {
		if errors.Is(err, ErrNoBackend) { // a known town (not ErrUnknownTown)
			p.metrics.upstreamFailed(r.Context(), town, service, upstreamNoReadyPod)
		}
		p.fail(w, r, k, err)
		return
	}
	t := &target{url: u, kind: k, town: town, service: service}
	if service == ServiceDisclosure && r.Method == http.MethodGet && cacheableRequest(r) {
		t.cacheKey = cacheKey(r)
	}
	p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, t)))
}

func (p *publicProxy) byVillage(w http.ResponseWriter, r *http.Request, k kind, service, village string) {
	t, err := p.g.backends.TownOfVillage(village)
	if err != nil {
		p.fail(w, r, k, err)
		return
	}
	p.forward(w, r, k, t.Name, service)
}

func (p *publicProxy) byProcessNumber(w http.ResponseWriter, r *http.Request, k kind) {
	village, _, _ := strings.Cut(r.PathValue("number"), "-")
	p.byVillage(w, r, k, ServiceWorkflow, village)
}

// anyTown returns a town with a ready pod of service, a different one each
// time, for pages every town serves alike.
func (p *publicProxy) anyTown(service string) (string, error) {
	towns := p.g.backends.Towns()
	start := p.next.Add(1)
	for i := range towns {
		t := towns[(start+uint64(i))%uint64(len(towns))]
		if _, err := p.g.backends.ServiceURL(t.Name, service); err == nil {
			return t.Name, nil
		}
	}
	return "", fmt.Errorf("%w: no town has a ready %s pod", ErrNoBackend, service)
}

func (p *publicProxy) anyTownRoute(service string) func(http.ResponseWriter, *http.Request, kind) {
	return func(w http.ResponseWriter, r *http.Request, k kind) { p.toAnyTown(w, r, k, service) }
}

func (p *publicProxy) toAnyTown(w http.ResponseWriter, r *http.Request, k kind, service string) {
	town, err := p.anyTown(service)
	if err != nil {
		p.fail(w, r, k, err)
		return
	}
	p.forward(w, r, k, town, service)
}

// byTrackingCode sends a follow-up to the town its code names, or, for a
// code issued before codes named their town, asks every town.
func (p *publicProxy) byTrackingCode(w http.ResponseWriter, r *http.Request, k kind) {
	p.trackingCode(w, r, k, r.PathValue("code"))
}

func (p *publicProxy) trackingCode(w http.ResponseWriter, r *http.Request, k kind, code string) {
	towns, fanOut := trackingTowns(p.g.backends, code)
	switch {
	case fanOut:
		p.serveFannedOut(w, r, k, towns)
	case len(towns) == 1:
		p.forward(w, r, k, towns[0].Name, ServiceComplaint)
	default:
		// Not a code of this district: one town says so, in its own words.
		p.toAnyTown(w, r, k, ServiceComplaint)
	}
}

// byJurisdiction forwards to the town jurisdiction_id names; false when
// the request has none.
func (p *publicProxy) byJurisdiction(w http.ResponseWriter, r *http.Request, j string) bool {
	if j == "" {
		return false
	}
	if _, err := p.g.backends.Town(j); err != nil {
		p.fail(w, r, kindOpen311, fmt.Errorf("%w: jurisdiction_id %q", err, j))
		return true
	}
	p.forward(w, r, kindOpen311, j, ServiceComplaint)
	return true
}

// open311Services: every town offers the same services.
func (p *publicProxy) open311Services(w http.ResponseWriter, r *http.Request, k kind) {
	if !p.byJurisdiction(w, r, r.URL.Query().Get("jurisdiction_id")) {
		p.toAnyTown(w, r, k, ServiceComplaint)
	}
}

// open311MaxBody bounds an Open311 request read to find its town (the
// complaint service's JSON limit, MAX_BODY_BYTES, is 1 MiB by default).
const open311MaxBody = 1 << 20

// open311Create sends a new request to the town jurisdiction_id names, or,
// without one, to the town of its village (attribute[village] or
// address_id), read from the query, the form or the JSON body.
func (p *publicProxy) open311Create(w http.ResponseWriter, r *http.Request, k kind) {
	body, err := io.ReadAll(io.LimitReader(r.Body, open311MaxBody+1))
	if err != nil {
		p.fail(w, r, k, err)
		return
	}
	if len(body) > open311MaxBody {
		p.fail(w, r, k, errBodyTooLarge)
		return
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	f := open311Fields(r, body)
	if p.byJurisdiction(w, r, f.Get("jurisdiction_id")) {
		return
	}
	village := f.Get("attribute[village]")
	if village == "" {
		village = f.Get("address_id")
	}
	if village == "" {
		p.toAnyTown(w, r, k, ServiceComplaint) // which refuses it, naming the field
		return
	}
	p.byVillage(w, r, k, ServiceComplaint, village)
}

// open311Fields reads an Open311 request's parameters as the complaint
// service does: the query, and a form or JSON body (JSON objects nest the
// attributes: {"attribute": {"village": "…"}}).
func open311Fields(r *http.Request, body []byte) url.Values {
	v := url.Values{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			for k, x := range m {
				switch x := x.(type) {
				case string:
					v.Set(k, x)
				case map[string]any:
					for ak, ax := range x {
						if s, ok := ax.(string); ok {
							v.Set(k+"["+ak+"]", s)
						}
					}
				}
			}
		}
	case "application/x-www-form-urlencoded":
		if f, err := url.ParseQuery(string(body)); err == nil {
			v = f
		}
	}
	for k, x := range r.URL.Query() {
		if !v.Has(k) {
			v[k] = x
		}
	}
	return v
}

// open311Get: requests/<tracking code>.json.
func (p *publicProxy) open311Get(w http.ResponseWriter, r *http.Request, k kind) {
	if p.byJurisdiction(w, r, r.URL.Query().Get("jurisdiction_id")) {
		return
	}
	p.trackingCode(w, r, k, strings.TrimSuffix(r.PathValue("file"), ".json"))
}

// open311Query: requests.json?service_request_id=a,b,… goes to the one town
// the codes name, or to every town concerned, the lists joined.
func (p *publicProxy) open311Query(w http.ResponseWriter, r *http.Request, k kind) {
	q := r.URL.Query()
	if p.byJurisdiction(w, r, q.Get("jurisdiction_id")) {
		return
	}
	raw := q.Get("service_request_id")
	if raw == "" {
		p.toAnyTown(w, r, k, ServiceComplaint) // which says the ids are required
		return
	}
	ids := strings.Split(raw, ",")
	var towns []Town
	seen := map[string]bool{}
	for _, id := range ids {
		ts, _ := trackingTowns(p.g.backends, id)
		for _, t := range ts {
			if !seen[t.Name] {
				seen[t.Name] = true
				towns = append(towns, t)
			}
		}
	}
	switch len(towns) {
	case 0:
		p.toAnyTown(w, r, k, ServiceComplaint) // none of the codes can exist: an empty list
	case 1:
		p.forward(w, r, k, towns[0].Name, ServiceComplaint)
	default:
		p.open311Merge(w, r, towns, ids)
	}
}

// setForwarded tells the town who asked and how: the client's address as
// the gateway determined it (X-Forwarded-For from a trusted proxy only,
// see httpapi.ClientIP), the scheme and host the client used, and the Host
// header itself (a village's QR code names the public host, not a pod).
func setForwarded(out, in *http.Request) {
	client := httpapi.ClientIP(in)
	proto, host := "http", in.Host
	if in.TLS != nil {
		proto = "https"
	}
	if peer, _, err := net.SplitHostPort(in.RemoteAddr); err == nil && peer != client {
		// A trusted proxy (the ingress) forwarded this request: believe
		// what it says of the client's scheme and host too.
		if p := in.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			proto = p
		}
		if h := in.Header.Get("X-Forwarded-Host"); h != "" {
			host = h
		}
	}
	if id := httpapi.RequestID(in.Context()); id != "" {
		out.Header.Set(httpapi.RequestIDHeader, id)
	}
	out.Header.Set("X-Forwarded-For", client)
	out.Header.Set("X-Forwarded-Proto", proto)
	out.Header.Set("X-Forwarded-Host", host)
	out.Header.Del("Forwarded")
	out.Host = in.Host
	// The town's span continues the gateway's trace (the gateway's own
	// server span: a public route starts a new trace, see httpapi.Public).
	// The server span is enough; a client span per request would double
	// the spans of every page view.
	out.Header.Del("Traceparent")
	out.Header.Del("Tracestate")
	otel.GetTextMapPropagator().Inject(in.Context(), propagation.HeaderCarrier(out.Header))
}

// hopByHop are the headers a proxy must not forward (RFC 9110 7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHopByHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for name := range strings.SplitSeq(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// errWrongHost: a public page asked for on a host that serves staff only.
var errWrongHost = errors.New("not served on this host")

// errBadGateway: the town's pod did not answer.
var errBadGateway = errors.New("the town's service did not answer")

// proxyError answers a request whose pod failed: 502 (413 when the body
// was over the limit). The error names the pod, never the path.
func (p *publicProxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	t := targetOf(r)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		p.fail(w, r, t.kind, errBodyTooLarge)
		return
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	p.metrics.upstreamFailed(r.Context(), t.town, t.service, upstreamUnreachable)
	p.g.log.Warn("gateway: a town's pod failed", "town", t.town, "service", t.service,
		"pod", t.url.Host, "route", httpapi.Route(r.Context()), "error", err.Error())
	p.fail(w, r, t.kind, errBadGateway)
}

// fail answers a request the gateway could not pass on.
func (p *publicProxy) fail(w http.ResponseWriter, r *http.Request, k kind, err error) {
	status, title, msg := http.StatusBadGateway, "Bad Gateway", "该镇的服务暂时无法连接，请稍后再试。"
	switch {
	case errors.Is(err, errWrongHost):
		status, title, msg = http.StatusNotFound, "Not Found", "此网址不提供这个页面。"
	case errors.Is(err, ErrUnknownTown):
		status, title, msg = http.StatusNotFound, "Not Found", "本区没有这个村（社区）或镇（街道），请核对二维码或网址。"
	case errors.Is(err, ErrNoBackend):
		status, title, msg = http.StatusServiceUnavailable, "Service Unavailable", "该镇的服务正在启动或维护，请稍后再试。"
		w.Header().Set("Retry-After", retryAfter)
	case errors.Is(err, errTownsDown):
		msg = "部分镇（街道）的服务暂时无法连接，无法确认这个查询码，请稍后再试。"
	case errors.Is(err, errBodyTooLarge):
		status, title, msg = http.StatusRequestEntityTooLarge, "Content Too Large", "提交的内容过大。"
	}
	switch k {
	case kindPage:
		tmpl := "unavailable"
		if status == http.StatusNotFound {
			tmpl = "notfound"
		}
		p.g.render(w, status, page{Template: tmpl, Title: pageTitles[status], Data: msg})
	case kindOpen311:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode([]map[string]any{{"code": status, "description": msg}})
	default:
		httpapi.WriteStatusProblem(w, r, status, title, msg)
	}
}

var pageTitles = map[int]string{
	http.StatusNotFound:              "没有找到这个页面",
	http.StatusServiceUnavailable:    "服务暂时不可用",
	http.StatusBadGateway:            "服务暂时无法连接",
	http.StatusRequestEntityTooLarge: "提交的内容过大",
}
