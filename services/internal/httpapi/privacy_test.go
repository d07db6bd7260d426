package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func flushed(t *testing.T, f *fixture) tracetest.SpanStubs {
	t.Helper()
	if err := f.tel.TracerProvider.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f.spans.GetSpans()
}

// Public routes (and unrouted paths) are reachable from the Internet: their
// server span starts a trace of its own, linked to what the client sent, so
// no client picks the trace id or turns recording off. Authenticated
// callers keep their trace.
func TestPublicRoutesStartTheirOwnTrace(t *testing.T) {
	const (
		clientTrace = "0af7651916cd43dd8448eb211c80319c"
		clientSpan  = "b7ad6b7169203331"
	)
	tests := []struct {
		name         string
		method, path string
		header       []string
		exported     bool // a span is exported at all
		continued    bool // it is a child of the client's span
	}{
		{name: "public route, sampled", method: "GET", path: "/v1/things/1",
			header: []string{"traceparent", "00-" + clientTrace + "-" + clientSpan + "-01"}, exported: true},
		{name: "public route, client says do not sample", method: "GET", path: "/v1/things/1",
			header: []string{"traceparent", "00-" + clientTrace + "-" + clientSpan + "-00"}, exported: true},
		{name: "unrouted path", method: "GET", path: "/v1/nothing/here",
			header: []string{"traceparent", "00-" + clientTrace + "-" + clientSpan + "-01"}, exported: true},
		{name: "authenticated route", method: "PUT", path: "/v1/things/1",
			header:   []string{"Authorization", "Bearer ok", "traceparent", "00-" + clientTrace + "-" + clientSpan + "-01"},
			exported: true, continued: true},
		{name: "authenticated route, caller says do not sample", method: "PUT", path: "/v1/things/1",
			header: []string{"Authorization", "Bearer ok", "traceparent", "00-" + clientTrace + "-" + clientSpan + "-00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.do(t, tt.method, tt.path, "", "", tt.header...)
			spans := flushed(t, f)
			if !tt.exported {
				if len(spans) != 0 {
					t.Fatalf("%d spans exported, want none", len(spans))
				}
				return
			}
			if len(spans) != 1 {
				t.Fatalf("%d spans exported, want 1", len(spans))
			}
			s := spans[0]
			inClientTrace := s.SpanContext.TraceID().String() == clientTrace
			if tt.continued {
				if !inClientTrace || s.Parent.SpanID().String() != clientSpan || len(s.Links) != 0 {
					t.Errorf("trace %s parent %s links %v, want a child of the caller's span", s.SpanContext.TraceID(), s.Parent.SpanID(), s.Links)
				}
				return
			}
			if inClientTrace || s.Parent.IsValid() {
				t.Errorf("span in trace %s with parent %s, want a new root", s.SpanContext.TraceID(), s.Parent.SpanID())
			}
			if len(s.Links) != 1 || s.Links[0].SpanContext.TraceID().String() != clientTrace ||
				s.Links[0].SpanContext.SpanID().String() != clientSpan {
				t.Errorf("links %v, want one to the client's span", s.Links)
			}
		})
	}
}

// What identifies a reporter (the address, the browser, the tracking code
// in the path) is in neither the exported span nor the access log.
func TestSpansAndLogsOmitTheReporter(t *testing.T) {
	const (
		code     = "TRK9ZZ4QW"
		forward  = "203.0.113.77"
		peer     = "198.51.100.23"
		peerPort = "40123"
		agent    = "Mozilla/5.0 (Linux; Android 14) CunminBrowser/7.7"
	)
	f := newFixture(t)
	f.srv.Handle("GET /r/track/{code}", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = WriteJSON(w, http.StatusOK, map[string]string{"status": "受理中"})
	})))
	f.srv.Handle("POST /v1/public/complaints/{code}/feedback", Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, NotFound("no such complaint"))
	})))
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/r/track/"+code+"?from=qr", nil),
		httptest.NewRequest("POST", "/v1/public/complaints/"+code+"/feedback", strings.NewReader(`{}`)),
		httptest.NewRequest("GET", "/r/track/"+code+"/extra", nil), // unrouted
	} {
		req.RemoteAddr = peer + ":" + peerPort
		req.Header.Set("X-Forwarded-For", forward+", 10.0.0.1")
		req.Header.Set("User-Agent", agent)
		req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		f.srv.Handler().ServeHTTP(httptest.NewRecorder(), req)
	}
	spans := flushed(t, f)
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	secrets := []string{code, forward, peer, peerPort, "CunminBrowser"}
	routes := map[string]bool{}
	for _, s := range spans {
		var seen []string
		seen = append(seen, s.Name, s.Status.Description)
		for _, kv := range s.Attributes {
			seen = append(seen, string(kv.Key)+"="+kv.Value.String())
			if kv.Key == "url.path" {
				routes[kv.Value.String()] = true
			}
		}
		for _, ev := range s.Events {
			seen = append(seen, ev.Name)
			for _, kv := range ev.Attributes {
				seen = append(seen, string(kv.Key)+"="+kv.Value.String())
			}
		}
		for _, l := range s.Links {
			for _, kv := range l.Attributes {
				seen = append(seen, string(kv.Key)+"="+kv.Value.String())
			}
		}
		for _, v := range seen {
			for _, secret := range secrets {
				if strings.Contains(v, secret) {
					t.Errorf("span %q carries %q in %q", s.Name, secret, v)
				}
			}
			for _, key := range []string{"client.address=", "network.peer.address=", "user_agent.original=", "url.query="} {
				if strings.HasPrefix(v, key) {
					t.Errorf("span %q has %s", s.Name, v)
				}
			}
		}
	}
	// The routed requests keep their route as the path.
	if !routes["/r/track/{code}"] || !routes["/v1/public/complaints/{code}/feedback"] || len(routes) != 2 {
		t.Errorf("url.path values %v, want the two routes only", routes)
	}
	for _, secret := range secrets {
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("the log carries %q:\n%s", secret, f.logs)
		}
	}
	var paths []string
	for _, l := range f.logs.lines(t) {
		if l["msg"] == "request" {
			paths = append(paths, l["path"].(string))
		}
	}
	if want := "/r/track/{code} /v1/public/complaints/{code}/feedback /r/…"; strings.Join(paths, " ") != want {
		t.Errorf("logged paths %q, want %q", strings.Join(paths, " "), want)
	}
}

func TestLoggedPath(t *testing.T) {
	tests := []struct{ route, path, want string }{
		{"GET /r/track/{code}", "/r/track/ABC123", "/r/track/{code}"},
		{"GET /", "/", "/"},
		{"", "/", "/"},
		{"", "/favicon.ico", "/favicon.ico"},
		{"", "/v1/nothing/ABC123", "/v1/…"},
		{"", "/" + strings.Repeat("x", 40), "/" + strings.Repeat("x", 32) + "/…"},
		{"", "/" + strings.Repeat("举", 11), "/" + strings.Repeat("举", 10) + "/…"}, // cut on a rune boundary
	}
	for _, tt := range tests {
		if got := loggedPath(tt.route, tt.path); got != tt.want {
			t.Errorf("loggedPath(%q, %q) = %q, want %q", tt.route, tt.path, got, tt.want)
		}
	}
}
