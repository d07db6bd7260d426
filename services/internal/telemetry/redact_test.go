package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// values lists everything a span says: its name, status, and every
// attribute of the span, its events and its links as key=value.
func values(s tracetest.SpanStub) []string {
	out := []string{s.Name, s.Status.Description}
	kvs := func(list []attribute.KeyValue) {
		for _, kv := range list {
			out = append(out, string(kv.Key)+"="+kv.Value.String())
		}
	}
	kvs(s.Attributes)
	for _, ev := range s.Events {
		out = append(out, ev.Name)
		kvs(ev.Attributes)
	}
	for _, l := range s.Links {
		kvs(l.Attributes)
	}
	return out
}

func attr(s tracetest.SpanStub, k attribute.Key) (string, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			return kv.Value.String(), true
		}
	}
	return "", false
}

// A real otelhttp server and client under a provider that exports both
// raw (to prove the instrumentation records the reporter) and through
// RedactExporter: the redacted copy has none of the reporter's traces.
func TestRedactExporter(t *testing.T) {
	const (
		code    = "TRK4HQ7ZB"
		forward = "203.0.113.88"
		agent   = "Mozilla/5.0 CunminBrowser/9.1"
	)
	raw, redacted := tracetest.NewInMemoryExporter(), tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(raw), sdktrace.WithSyncer(RedactExporter(redacted)))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /r/track/{code}", func(w http.ResponseWriter, r *http.Request) {
		// As httpapi does: the route is an attribute of the server span.
		span := trace.SpanFromContext(r.Context())
		span.SetAttributes(attribute.String("http.route", "/r/track/{code}"))
		// An event with the caller's address (older instrumentation).
		span.AddEvent("peer", trace.WithAttributes(attribute.String("net.peer.ip", forward), attribute.Int("size", 1)))
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /unrouted/", func(w http.ResponseWriter, r *http.Request) { // no http.route set
		_, _ = io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(otelhttp.NewHandler(mux, "server", otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{})))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}))}

	for _, path := range []string{"/r/track/" + code + "?lang=zh", "/unrouted/" + code} {
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", forward)
		req.Header.Set("User-Agent", agent)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	peer := "127.0.0.1" // httptest's listener: the peer address
	secrets := []string{code, forward, "CunminBrowser", "lang=zh"}
	rawAll := ""
	for _, s := range raw.GetSpans() {
		rawAll += strings.Join(values(s), "\n")
	}
	for _, s := range append(secrets, peer) {
		if !strings.Contains(rawAll, s) {
			t.Fatalf("precondition: the raw spans do not carry %q; the test proves nothing:\n%s", s, rawAll)
		}
	}

	spans := redacted.GetSpans()
	if len(spans) != 4 { // two servers, two clients
		t.Fatalf("%d redacted spans, want 4", len(spans))
	}
	for _, s := range spans {
		for _, v := range values(s) {
			for _, secret := range secrets {
				if strings.Contains(v, secret) {
					t.Errorf("%s span %q: %q carries %q", s.SpanKind, s.Name, v, secret)
				}
			}
			for _, k := range []string{"client.", "network.peer.", "user_agent.", "net.peer.", "http.client_ip=", "url.query="} {
				if strings.HasPrefix(v, k) {
					t.Errorf("%s span %q has %s", s.SpanKind, s.Name, v)
				}
			}
		}
		route, routed := attr(s, "http.route")
		p, hasPath := attr(s, "url.path")
		full, hasFull := attr(s, "url.full")
		switch {
		case s.SpanKind == trace.SpanKindServer && routed:
			if p != route {
				t.Errorf("routed server span: url.path %q, want the route %q", p, route)
			}
			if len(s.Events) != 1 || len(s.Events[0].Attributes) != 1 || s.Events[0].Attributes[0].Key != "size" {
				t.Errorf("event attributes %v, want only size", s.Events)
			}
		case hasPath || hasFull:
			t.Errorf("%s span %q without a route keeps url.path %q / url.full %q", s.SpanKind, s.Name, p, full)
		}
		if _, ok := attr(s, "server.address"); !ok {
			t.Errorf("%s span %q lost server.address, which is not the caller's", s.SpanKind, s.Name)
		}
	}
}

// Spans with nothing to redact are passed on as they are.
func TestRedactKeepsCleanSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(RedactExporter(exp)))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	_, span := tp.Tracer("test").Start(context.Background(), "complaint resolve",
		trace.WithAttributes(attribute.String("wuxiao.complaint.id", "c1"), attribute.String("db.query.text", "SELECT 1")))
	span.AddEvent("rating.changed", trace.WithAttributes(attribute.String("grade.after", "C")))
	span.End()
	got := exp.GetSpans()
	if len(got) != 1 || len(got[0].Attributes) != 2 || len(got[0].Events) != 1 || len(got[0].Events[0].Attributes) != 1 {
		t.Fatalf("clean span changed: %+v", got)
	}
}

func TestRedacted(t *testing.T) {
	for k, want := range map[attribute.Key]bool{
		"client.address": true, "client.port": true, "network.peer.address": true, "network.peer.port": true,
		"user_agent.original": true, "http.client_ip": true, "net.sock.peer.addr": true, "net.peer.ip": true,
		"url.path": true, "url.full": true, "http.target": true, "url.query": true,
		"http.route": false, "server.address": false, "network.protocol.version": false, "wuxiao.complaint.id": false,
	} {
		if got := Redacted(k); got != want {
			t.Errorf("Redacted(%s) = %v, want %v", k, got, want)
		}
	}
}

// The cost of export-time redaction per span: a server span as otelhttp
// records it, and a span with nothing to redact.
func BenchmarkRedactSpan(b *testing.B) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tracer := tp.Tracer("bench")
	_, server := tracer.Start(context.Background(), "GET /r/track/{code}", trace.WithAttributes(
		attribute.String("server.address", "complaint"), attribute.String("http.request.method", "GET"),
		attribute.String("url.scheme", "http"), attribute.String("network.peer.address", "10.1.2.3"),
		attribute.Int("network.peer.port", 40123), attribute.String("user_agent.original", "Mozilla/5.0"),
		attribute.String("client.address", "203.0.113.9"), attribute.String("url.path", "/r/track/TS-AAAA-BBBB"),
		attribute.String("network.protocol.version", "1.1"), attribute.String("http.route", "/r/track/{code}"),
		attribute.Int("http.response.status_code", 200), attribute.String("wuxiao.request_id", "abc")))
	server.End()
	_, clean := tracer.Start(context.Background(), "complaint accept", trace.WithAttributes(
		attribute.String("wuxiao.complaint.id", "c1"), attribute.String("wuxiao.village", "v1")))
	clean.End()
	for _, sp := range rec.Ended() {
		b.Run(sp.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = redactSpan(sp).Attributes()
			}
		})
	}
}
