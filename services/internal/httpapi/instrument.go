package httpapi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// instrumentation records what otelhttp's server handler records (the
// same instrumentation scope, span names, span attributes and the three
// http.server.* histograms with the same attributes and buckets), without
// its per-request costs, which on a cached portal page were most of the
// server's own work (profile in hack/bench/README.md): span attributes
// are built only for a span that records, the metric attribute sets are
// built once per route, method and status rather than sorted and hashed
// on every request, the status and size come from outer's recorder rather
// than a second wrapper, and the route is matched once for the public
// endpoint decision and the router together.
//
// Left out on purpose: the caller's addresses and user agent, which
// telemetry.RedactExporter would remove from every exported span anyway.
type instrumentation struct {
	tracer      trace.Tracer
	propagator  propagation.TextMapPropagator
	reqSize     metric.Int64Histogram
	respSize    metric.Int64Histogram
	duration    metric.Float64Histogram
	serverName  string
	serverAddr  attribute.KeyValue
	metricSets  sync.Map // metricKey → []metric.RecordOption
	metricCount atomic.Int32
}

// maxMetricSets bounds the cached attribute sets; past it (a client
// varying the Host header's port, say) a request builds its set itself.
const maxMetricSets = 4096

func newInstrumentation(serverName string, tel *telemetry.Telemetry) *instrumentation {
	tp, mp, prop := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	if tel != nil {
		tp, mp, prop = tel.TracerProvider, tel.MeterProvider, tel.Propagator
	}
	meter := mp.Meter(otelhttp.ScopeName, metric.WithInstrumentationVersion(otelhttp.Version))
	in := &instrumentation{
		tracer:     tp.Tracer(otelhttp.ScopeName, trace.WithInstrumentationVersion(otelhttp.Version)),
		propagator: prop,
		serverName: serverName,
		serverAddr: semconv.ServerAddress(serverName),
	}
	// As otelhttp: a failed instrument is reported and replaced by a no-op.
	reqSize, err := httpconv.NewServerRequestBodySize(meter)
	handleOtelErr(err)
	respSize, err := httpconv.NewServerResponseBodySize(meter)
	handleOtelErr(err)
	duration, err := httpconv.NewServerRequestDuration(meter, metric.WithExplicitBucketBoundaries(
		0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	handleOtelErr(err)
	in.reqSize, in.respSize, in.duration = reqSize.Inst(), respSize.Inst(), duration.Inst()
	return in
}

func handleOtelErr(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

var (
	serverKind   = trace.WithSpanKind(trace.SpanKindServer)
	privateStart = []trace.SpanStartOption{serverKind}
	publicStart  = []trace.SpanStartOption{serverKind, trace.WithNewRoot()}
)

// serveInstrumented serves r (whose context is ctx, outer's) inside its
// server span and records the request metrics. Public routes and unrouted
// paths start a trace of their own, linked to the caller's (see
// reqState.match).
func (s *Server) serveInstrumented(ctx context.Context, w http.ResponseWriter, r *http.Request, st *reqState, next http.Handler) {
	in := s.inst
	start := time.Now()
	ctx = in.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	st.match(s, r)
	opts := privateStart
	if !st.private {
		opts = publicStart
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsRemote() {
			opts = []trace.SpanStartOption{serverKind, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: sc})}
		}
	}
	ctx, span := in.tracer.Start(ctx, spanMethod(r.Method), opts...)
	defer span.End()
	recording := span.IsRecording()
	if recording {
		span.SetAttributes(in.requestAttrs(r)...)
	}
	rc := r.WithContext(ctx)
	// The counting body goes on the handler's copy only: net/http looks
	// at the original request's body when the handler answers before
	// reading it, and drains a body it does not know (up to 256 KiB) before
	// it sends the answer, so a refusal would wait for an upload that may
	// never come (TestReportPageRefusesBeforeReading).
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		rc.Body = body
	}
	next.ServeHTTP(w, rc)

	status, written := st.rec.status, st.rec.bytes
	if status == 0 {
		status = http.StatusOK
	}
	var read int64
	if body != nil {
		read = body.n
	}
	route := httpRoute(rc.Pattern)
	span.SetStatus(spanStatus(status))
	if recording {
		if route != "" {
			span.SetName(spanMethod(r.Method) + " " + route)
		}
		attrs := make([]attribute.KeyValue, 0, 3)
		if read > 0 {
			attrs = append(attrs, semconv.HTTPRequestBodySize(int(read)))
		}
		if written > 0 {
			attrs = append(attrs, semconv.HTTPResponseBodySize(int(written)))
		}
		span.SetAttributes(append(attrs, semconv.HTTPResponseStatusCode(status))...)
	}
	set := in.metricOptions(r, status, route)
	in.reqSize.Record(ctx, read, set...)
	in.respSize.Record(ctx, written, set...)
	in.duration.Record(ctx, float64(time.Since(start))/float64(time.Second), set...)
}

// requestAttrs are otelhttp's request attributes of a server span, less
// the caller's addresses and user agent (see instrumentation).
func (in *instrumentation) requestAttrs(r *http.Request) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 8)
	method, original := methodAttrs(r.Method)
	attrs = append(attrs, in.serverAddr, method, scheme(r))
	if p := requiredPort(r); p > 0 {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	if original.Valid() {
		attrs = append(attrs, original)
	}
	if r.URL != nil && r.URL.Path != "" {
		attrs = append(attrs, semconv.URLPath(r.URL.Path))
	}
	name, version := netProtocol(r.Proto)
	if name != "" && name != "http" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	return attrs
}

// metricKey is what a request's metric attributes depend on.
type metricKey struct {
	method, proto, route string
	https                bool
	port, status         int
}

// metricOptions are the record options carrying the request's metric
// attributes (otelhttp's: method, scheme, server address and port,
// protocol, status, route), built once per distinct set.
func (in *instrumentation) metricOptions(r *http.Request, status int, route string) []metric.RecordOption {
	k := metricKey{method: r.Method, proto: r.Proto, route: route, https: r.TLS != nil, port: requiredPort(r), status: status}
	if v, ok := in.metricSets.Load(k); ok {
		return v.([]metric.RecordOption)
	}
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(standardMethod(r.Method)), scheme(r), in.serverAddr,
	}
	if k.port > 0 {
		attrs = append(attrs, semconv.ServerPort(k.port))
	}
	name, version := netProtocol(r.Proto)
	if name != "" {
		attrs = append(attrs, semconv.NetworkProtocolName(name))
	}
	if version != "" {
		attrs = append(attrs, semconv.NetworkProtocolVersion(version))
	}
	if status > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	if in.metricCount.Load() < maxMetricSets {
		if _, loaded := in.metricSets.LoadOrStore(k, opts); !loaded {
			in.metricCount.Add(1)
		}
	}
	return opts
}

// countingBody counts the request body's bytes read by the handler.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// The helpers below follow otelhttp's internal/semconv (v0.72.0).

var methodKVs = map[string]attribute.KeyValue{
	http.MethodConnect: semconv.HTTPRequestMethodConnect,
	http.MethodDelete:  semconv.HTTPRequestMethodDelete,
	http.MethodGet:     semconv.HTTPRequestMethodGet,
	http.MethodHead:    semconv.HTTPRequestMethodHead,
	http.MethodOptions: semconv.HTTPRequestMethodOptions,
	http.MethodPatch:   semconv.HTTPRequestMethodPatch,
	http.MethodPost:    semconv.HTTPRequestMethodPost,
	http.MethodPut:     semconv.HTTPRequestMethodPut,
	http.MethodTrace:   semconv.HTTPRequestMethodTrace,
}

// spanMethod is the method as a span name starts: a standard method in
// upper case, anything else "HTTP".
func spanMethod(m string) string {
	if _, ok := methodKVs[m]; ok {
		return m
	}
	if u := strings.ToUpper(m); methodKVs[u].Valid() {
		return u
	}
	return "HTTP"
}

func standardMethod(m string) string {
	if s := spanMethod(m); s != "HTTP" {
		return s
	}
	return "_OTHER"
}

func methodAttrs(m string) (method, original attribute.KeyValue) {
	if m == "" {
		return semconv.HTTPRequestMethodOther, attribute.KeyValue{}
	}
	if kv, ok := methodKVs[m]; ok {
		return kv, attribute.KeyValue{}
	}
	original = semconv.HTTPRequestMethodOriginal(m)
	if kv, ok := methodKVs[strings.ToUpper(m)]; ok {
		return kv, original
	}
	return semconv.HTTPRequestMethodOther, original
}

var (
	schemeHTTP  = semconv.URLScheme("http")
	schemeHTTPS = semconv.URLScheme("https")
)

func scheme(r *http.Request) attribute.KeyValue {
	if r.TLS != nil {
		return schemeHTTPS
	}
	return schemeHTTP
}

// requiredPort is the Host header's port unless it is the scheme's
// default (otelhttp's server.port, the server name having none); -1 for
// none.
func requiredPort(r *http.Request) int {
	p := hostPort(r.Host)
	if p <= 0 || (r.TLS != nil && p == 443) || (r.TLS == nil && p == 80) {
		return -1
	}
	return p
}

// hostPort is otelhttp's SplitHostPort's port.
func hostPort(hostport string) int {
	if strings.HasPrefix(hostport, "[") {
		end := strings.LastIndexByte(hostport, ']')
		if end < 0 || strings.LastIndexByte(hostport[end:], ':') < 0 {
			return -1
		}
	} else if !strings.Contains(hostport, ":") {
		return -1
	}
	_, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		return -1
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return -1
	}
	return int(p)
}

func netProtocol(proto string) (name, version string) {
	if proto == "HTTP/1.1" { // nearly every request: no allocation
		return "http", "1.1"
	}
	name, version, _ = strings.Cut(proto, "/")
	switch name {
	case "HTTP":
		name = "http"
	case "QUIC":
		name = "quic"
	case "SPDY":
		name = "spdy"
	default:
		name = strings.ToLower(name)
	}
	return name, version
}

func httpRoute(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// spanStatus is otelhttp's: 5xx and invalid codes are errors, 4xx not.
func spanStatus(code int) (codes.Code, string) {
	if code < 100 || code >= 600 {
		return codes.Error, fmt.Sprintf("Invalid HTTP status code %d", code)
	}
	if code >= 500 {
		return codes.Error, ""
	}
	return codes.Unset, ""
}
