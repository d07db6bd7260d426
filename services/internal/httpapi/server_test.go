package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// syncBuffer collects log output written from server goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines parses every log line as JSON, failing the test on one that is not.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

type fixture struct {
	srv   *Server
	logs  *syncBuffer
	spans *tracetest.InMemoryExporter
	tel   *telemetry.Telemetry
}

type thing struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	Inner *struct {
		Level int `json:"level"`
	} `json:"inner"`
}

// requireToken is a stand-in for identity's Authenticator.Require.
func requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ok" {
			WriteProblem(w, r, Unauthenticated("a session is required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{
		ServiceName: "wuxiao-workflow", Town: "xikou", District: "fenghua", SamplingRatio: 1, SpanExporter: spans,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	base := config.Base{Service: "workflow", Town: "xikou", MaxBodyBytes: 64, ShutdownTimeout: 5 * time.Second}
	s := New(base, logger, tel).WithAuthenticator(requireToken)
	s.SetDrainDelay(0)

	s.Handle("POST /v1/things", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v thing
		if !DecodeJSON(w, r, &v) {
			return
		}
		_ = WriteJSON(w, http.StatusCreated, v)
	})))
	s.Handle("GET /v1/things/{id}", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = WriteJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})))
	s.HandleFunc("PUT /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	s.Handle("GET /v1/panic", Public(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret-internal-detail")
	})))
	return &fixture{srv: s, logs: logs, spans: spans, tel: tel}
}

func (f *fixture) do(t *testing.T, method, path, contentType, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func decodeProblemBody(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body: %v\n%s", err, rec.Body)
	}
	return p
}

func TestProblemResponses(t *testing.T) {
	const js = "application/json"
	tests := []struct {
		name         string
		method, path string
		contentType  string
		body         string
		header       []string
		status       int
		typ          string
		detail       string         // substring of detail
		ext          map[string]any // extension members expected
	}{
		{name: "malformed JSON", method: "POST", path: "/v1/things", contentType: js, body: `{"name" "x"}`,
			status: 400, typ: TypeMalformedJSON, detail: "invalid character '\"' after object key at offset 9",
			ext: map[string]any{"offset": float64(9)}},
		{name: "truncated JSON", method: "POST", path: "/v1/things", contentType: js, body: `{"name":`,
			status: 400, typ: TypeMalformedJSON, detail: "ends in the middle of a JSON value"},
		{name: "unknown field", method: "POST", path: "/v1/things", contentType: js, body: `{"nmae":"x"}`,
			status: 400, typ: TypeUnknownField, detail: `"nmae" is not a field`, ext: map[string]any{"field": "nmae"}},
		{name: "wrong field type", method: "POST", path: "/v1/things", contentType: js, body: `{"count":"three"}`,
			status: 400, typ: TypeInvalidFieldType, detail: "count: expected an integer, got JSON string",
			ext: map[string]any{"field": "count"}},
		{name: "wrong nested field type", method: "POST", path: "/v1/things", contentType: js, body: `{"inner":{"level":[]}}`,
			status: 400, typ: TypeInvalidFieldType, detail: "inner.level: expected an integer, got JSON array",
			ext: map[string]any{"field": "inner.level"}},
		{name: "trailing data", method: "POST", path: "/v1/things", contentType: js, body: `{"name":"a"} {"name":"b"}`,
			status: 400, typ: TypeMalformedJSON, detail: "unexpected data after the JSON value"},
		{name: "empty body", method: "POST", path: "/v1/things", contentType: js,
			status: 400, typ: TypeBadRequest, detail: "body is empty"},
		{name: "wrong content type", method: "POST", path: "/v1/things", contentType: "text/plain", body: `{}`,
			status: 415, typ: TypeUnsupportedMediaType, detail: `not "text/plain"`},
		{name: "missing content type", method: "POST", path: "/v1/things", body: `{}`,
			status: 415, typ: TypeUnsupportedMediaType, detail: "must be application/json"},
		{name: "oversized body", method: "POST", path: "/v1/things", contentType: js,
			body:   `{"name":"` + strings.Repeat("x", 100) + `"}`,
			status: 413, typ: TypeBodyTooLarge, detail: "limit of 64 bytes", ext: map[string]any{"limit_bytes": float64(64)}},
		{name: "oversized trailing data", method: "POST", path: "/v1/things", contentType: js,
			body:   `{"name":"x"}` + strings.Repeat(" ", 100),
			status: 413, typ: TypeBodyTooLarge},
		{name: "unknown route", method: "GET", path: "/v1/nothing",
			status: 404, typ: TypeNotFound, detail: "Nothing is served at /v1/nothing."},
		{name: "wrong method", method: "DELETE", path: "/v1/things",
			status: 405, typ: TypeMethodNotAllowed, detail: "DELETE is not allowed here; use POST",
			ext: map[string]any{"allowed": []any{"POST"}}},
		{name: "panic", method: "GET", path: "/v1/panic",
			status: 500, typ: TypeInternal, detail: "quote the request_id"},
		{name: "authenticated route without credentials", method: "PUT", path: "/v1/things/7",
			status: 401, typ: TypeUnauthenticated, detail: "a session is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rec := f.do(t, tt.method, tt.path, tt.contentType, tt.body, tt.header...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			p := decodeProblemBody(t, rec)
			if p.Type != tt.typ || p.Status != tt.status || p.Title == "" {
				t.Errorf("problem %+v, want type %s status %d", p, tt.typ, tt.status)
			}
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q lacks %q", p.Detail, tt.detail)
			}
			if p.Instance != tt.path {
				t.Errorf("instance %q, want %q", p.Instance, tt.path)
			}
			if id := rec.Header().Get(RequestIDHeader); id == "" || p.Extensions["request_id"] != id {
				t.Errorf("request_id member %v, header %q", p.Extensions["request_id"], id)
			}
			for k, want := range tt.ext {
				got, _ := json.Marshal(p.Extensions[k])
				w, _ := json.Marshal(want)
				if string(got) != string(w) {
					t.Errorf("extension %s = %s, want %s", k, got, w)
				}
			}
			if strings.Contains(rec.Body.String(), "secret-internal-detail") || strings.Contains(rec.Body.String(), "goroutine") {
				t.Errorf("response leaks internals: %s", rec.Body)
			}
		})
	}
}

func TestMethodNotAllowedHeader(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, "POST", "/v1/things/1", "", "")
	if rec.Code != 405 {
		t.Fatalf("status %d", rec.Code)
	}
	if allow := rec.Header().Get("Allow"); allow != "GET, HEAD, PUT" {
		t.Errorf("Allow = %q", allow)
	}
	if p := decodeProblemBody(t, rec); p.Detail != "POST is not allowed here; use GET, HEAD, PUT" {
		t.Errorf("detail %q", p.Detail)
	}
}

func TestPanicIsLoggedWithStack(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, "GET", "/v1/panic", "", "")
	var panicLine, accessLine map[string]any
	for _, l := range f.logs.lines(t) {
		switch l["msg"] {
		case "panic serving request":
			panicLine = l
		case "request":
			accessLine = l
		}
	}
	if panicLine == nil || panicLine["panic"] != "secret-internal-detail" || panicLine["route"] != "GET /v1/panic" ||
		!strings.Contains(panicLine["stack"].(string), "goroutine") {
		t.Errorf("panic log line: %v", panicLine)
	}
	if panicLine["request_id"] != rec.Header().Get(RequestIDHeader) {
		t.Errorf("panic log request_id %v", panicLine["request_id"])
	}
	if accessLine == nil || accessLine["status"] != float64(500) || accessLine["level"] != "ERROR" {
		t.Errorf("access log line: %v", accessLine)
	}
}

func TestDecodeJSONAccepts(t *testing.T) {
	tests := []struct{ name, contentType, body string }{
		{"charset parameter", "application/json; charset=utf-8", `{"name":"a","count":2}`},
		{"json suffix", "application/merge-patch+json", `{"name":"a","count":2}`},
		{"trailing whitespace", "application/json", "{\"name\":\"a\",\"count\":2}\n\t "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rec := f.do(t, "POST", "/v1/things", tt.contentType, tt.body)
			if rec.Code != http.StatusCreated || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, content type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			var got thing
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Name != "a" || got.Count != 2 {
				t.Errorf("echo %+v, %v", got, err)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name, in string
		keep     bool
	}{
		{"caller's id is kept", "req-123.abc:7", true},
		{"missing id is generated", "", false},
		{"id with spaces is replaced", "a b", false},
		{"overlong id is replaced", strings.Repeat("x", 129), false},
		{"non-ASCII id is replaced", "ид", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rec := f.do(t, "GET", "/v1/things/1", "", "", RequestIDHeader, tt.in)
			got := rec.Header().Get(RequestIDHeader)
			if tt.keep && got != tt.in {
				t.Errorf("id %q, want %q", got, tt.in)
			}
			if !tt.keep && !hex32.MatchString(got) {
				t.Errorf("id %q is not a generated id", got)
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	f := newFixture(t)
	// The id stands for a reporter's tracking code: the log names the route.
	rec := f.do(t, "GET", "/v1/things/TRK7Q2XPLM?token=secret", "", "", "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	f.do(t, "GET", "/healthz", "", "") // debug level: not in an info log
	if err := f.tel.TracerProvider.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := f.spans.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	lines := f.logs.lines(t)
	var access []map[string]any
	for _, l := range lines {
		if l["msg"] == "request" {
			access = append(access, l)
		}
	}
	if len(access) != 1 {
		t.Fatalf("want one access log line, got %d:\n%s", len(access), f.logs)
	}
	l := access[0]
	want := map[string]any{
		"level": "INFO", "method": "GET", "route": "GET /v1/things/{id}", "path": "/v1/things/{id}",
		"status": float64(200), "bytes": float64(len(rec.Body.Bytes())),
		// A public route: the server's own trace, not the caller's.
		"request_id": rec.Header().Get(RequestIDHeader), "trace_id": spans[0].SpanContext.TraceID().String(),
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %v, want %v", k, l[k], v)
		}
	}
	if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("duration_ms = %v", l["duration_ms"])
	}
	if strings.Contains(f.logs.String(), "secret") || strings.Contains(f.logs.String(), "192.0.2.1") ||
		strings.Contains(f.logs.String(), "TRK7Q2XPLM") {
		t.Errorf("log leaks the query string, the client address or the path:\n%s", f.logs)
	}
}

func TestSpans(t *testing.T) {
	f := newFixture(t)
	// An authenticated route continues the caller's trace (public ones
	// do not: see TestPublicRoutesStartTheirOwnTrace).
	rec := f.do(t, "PUT", "/v1/things/42", "", "", "Authorization", "Bearer ok",
		"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	f.do(t, "GET", "/readyz", "", "")
	if err := f.tel.TracerProvider.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := f.spans.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("want exactly one span (probes are not traced), got %d", len(spans))
	}
	s := spans[0]
	if s.Name != "PUT /v1/things/{id}" || s.SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" ||
		s.Parent.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("span %q in trace %s, parent %s", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID())
	}
	attrs := map[attribute.Key]string{}
	for _, kv := range s.Attributes {
		attrs[kv.Key] = kv.Value.String()
	}
	if attrs["http.route"] != "/v1/things/{id}" || attrs["http.response.status_code"] != "204" ||
		attrs["wuxiao.request_id"] != rec.Header().Get(RequestIDHeader) {
		t.Errorf("span attributes %v", attrs)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"1", "2"} {
		f.do(t, "GET", "/v1/things/"+id, "", "")
	}
	f.do(t, "GET", "/v1/unknown/path", "", "")
	if rec := f.do(t, "GET", "/metrics", "", ""); rec.Code != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: status %d, want 404", rec.Code)
	}
	rec := httptest.NewRecorder()
	f.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics status %d", rec.Code)
	}
	var count string
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "http_server_request_duration_seconds_count{") && strings.Contains(line, `http_route="/v1/things/{id}"`) {
			count = line
		}
		if strings.Contains(line, "/v1/unknown") || strings.Contains(line, `http_route="/healthz"`) {
			t.Errorf("unrouted or probe path became a label: %s", line)
		}
	}
	for _, want := range []string{`wuxiao_town="xikou"`, `http_request_method="GET"`, `http_response_status_code="200"`} {
		if !strings.Contains(count, want) {
			t.Errorf("request-duration histogram lacks %s: %q", want, count)
		}
	}
	if !strings.HasSuffix(count, "} 2") {
		t.Errorf("want 2 requests counted: %q", count)
	}
	if !strings.Contains(rec.Body.String(), "# TYPE http_server_request_duration_seconds histogram") {
		t.Errorf("no request-duration histogram in /metrics")
	}
}

func TestAuthenticatorHook(t *testing.T) {
	f := newFixture(t)
	if rec := f.do(t, "PUT", "/v1/things/1", "", "", "Authorization", "Bearer ok"); rec.Code != http.StatusNoContent {
		t.Errorf("authenticated request: status %d", rec.Code)
	}
	if rec := f.do(t, "PUT", "/v1/things/1", "", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("unauthenticated request: status %d", rec.Code)
	}
	if rec := f.do(t, "GET", "/v1/things/1", "", ""); rec.Code != http.StatusOK {
		t.Errorf("public route: status %d", rec.Code)
	}

	mustPanic := func(name, want string, fn func()) {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(v.(string), want) {
					t.Errorf("panic %v, want one mentioning %q", v, want)
				}
			}()
			fn()
		})
	}
	mustPanic("private route without authenticator", "no authenticator is set", func() {
		New(config.Base{}, nil, nil).HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {})
	})
	mustPanic("authenticator after private routes", "after authenticated routes", func() {
		f.srv.WithAuthenticator(requireToken)
	})
}

func TestReadyz(t *testing.T) {
	f := newFixture(t)
	f.srv.SetReadinessTimeout(50 * time.Millisecond)
	var dbErr atomic.Pointer[error]
	var slow atomic.Bool
	f.srv.AddReadinessCheck("postgres", func(context.Context) error {
		if p := dbErr.Load(); p != nil {
			return *p
		}
		return nil
	})
	f.srv.AddReadinessCheck("kafka", func(ctx context.Context) error {
		if slow.Load() {
			<-ctx.Done() // a check that hangs until the probe gives up
			return ctx.Err()
		}
		return nil
	})

	rec := f.do(t, "GET", "/readyz", "", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"postgres":"ok"`) {
		t.Fatalf("ready: %d %s", rec.Code, rec.Body)
	}

	refused := errors.New("dial tcp 10.0.0.5:5432: connection refused")
	dbErr.Store(&refused)
	slow.Store(true)
	rec = f.do(t, "GET", "/readyz", "", "")
	if rec.Code != 503 {
		t.Fatalf("failing check: status %d", rec.Code)
	}
	p := decodeProblemBody(t, rec)
	if p.Type != TypeNotReady || p.Detail != "Failing checks: kafka, postgres" {
		t.Errorf("problem %+v", p)
	}
	if got, _ := json.Marshal(p.Extensions["checks"]); string(got) != `{"kafka":"timeout","postgres":"failing"}` {
		t.Errorf("checks %s", got)
	}
	if strings.Contains(rec.Body.String(), "10.0.0.5") {
		t.Errorf("/readyz leaks a check's error: %s", rec.Body)
	}
	if !strings.Contains(f.logs.String(), "connection refused") {
		t.Errorf("the failing check's error is not logged:\n%s", f.logs)
	}
	// Liveness does not depend on the dependencies.
	if rec := f.do(t, "GET", "/healthz", "", ""); rec.Code != 200 {
		t.Errorf("/healthz %d while a dependency fails", rec.Code)
	}

	dbErr.Store(nil)
	slow.Store(false)
	if rec := f.do(t, "GET", "/readyz", "", ""); rec.Code != 200 {
		t.Errorf("recovered: %d %s", rec.Code, rec.Body)
	}
}

// TestGracefulShutdown runs a real listener: cancelling the context flips
// /readyz and /healthz to 503 at once, a slow request in flight still
// completes, and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	f := newFixture(t)
	entered, release := make(chan struct{}), make(chan struct{})
	f.srv.Handle("GET /v1/slow", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("before shutdown: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	type result struct {
		status int
		body   string
		err    error
	}
	slowDone := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/v1/slow")
		if err != nil {
			slowDone <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		slowDone <- result{resp.StatusCode, string(b), err}
	}()
	<-entered

	cancel()
	<-f.srv.shutdownStarted
	for _, path := range []string{"/readyz", "/healthz"} {
		rec := f.do(t, "GET", path, "", "")
		if rec.Code != 503 || decodeProblemBody(t, rec).Type != TypeShuttingDown {
			t.Errorf("%s during shutdown: %d %s", path, rec.Code, rec.Body)
		}
	}

	close(release)
	res := <-slowDone
	if res.err != nil || res.status != 200 || res.body != "finished" {
		t.Errorf("in-flight request: %+v", res)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Errorf("still accepting connections after shutdown")
	}
}

func TestShutdownTimeout(t *testing.T) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	s := New(config.Base{ShutdownTimeout: 50 * time.Millisecond}, logger, nil)
	s.SetDrainDelay(0)
	entered := make(chan struct{})
	s.Handle("GET /stuck", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // released only when the server closes the connection
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String() + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	err = <-served
	if err == nil || !strings.Contains(err.Error(), "did not finish within 50ms") {
		t.Errorf("Serve() = %v, want a shutdown timeout error", err)
	}
}

func TestRunReportsListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := New(config.Base{HTTPAddr: ln.Addr().String()}, slog.New(slog.NewJSONHandler(io.Discard, nil)), nil)
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listening on "+ln.Addr().String()) {
		t.Errorf("Run() = %v", err)
	}
}

func TestWriteItems(t *testing.T) {
	for _, tc := range []struct {
		name string
		list []string
		want string
	}{
		{"nil is an empty list", nil, `{"items":[]}`},
		{"empty", []string{}, `{"items":[]}`},
		{"values", []string{"a", "b"}, `{"items":["a","b"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := WriteItems(rec, tc.list); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(rec.Body.String()); rec.Code != http.StatusOK || got != tc.want || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%d %s %q, want 200 %s", rec.Code, rec.Header().Get("Content-Type"), got, tc.want)
			}
		})
	}
}

func TestRoutesListsPatternsAndPublicness(t *testing.T) {
	srv := New(config.Base{}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(requireToken)
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	srv.Handle("POST /v1/things/{id}", nop)
	srv.Handle("GET /v1/public/things", Public(nop))
	srv.HandleFunc("DELETE /v1/things/{id}", func(http.ResponseWriter, *http.Request) {})

	want := []RouteInfo{
		{Pattern: "DELETE /v1/things/{id}", Public: false},
		{Pattern: "GET /healthz", Public: true},
		{Pattern: "GET /readyz", Public: true},
		{Pattern: "GET /v1/public/things", Public: true},
		{Pattern: "POST /v1/things/{id}", Public: false},
	}
	got := srv.Routes()
	if len(got) != len(want) {
		t.Fatalf("Routes() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Routes()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	// What Routes calls private is what the server authenticates.
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, r := range got {
		method, path, _ := strings.Cut(r.Pattern, " ")
		path = strings.ReplaceAll(path, "{id}", "1")
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if unauth := res.StatusCode == http.StatusUnauthorized; unauth == r.Public {
			t.Errorf("%s without credentials: status %d, but Public is %v", r.Pattern, res.StatusCode, r.Public)
		}
	}
}
