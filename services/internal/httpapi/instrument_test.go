package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// TestInstrumentationMatchesOtelhttp: the server's own instrumentation
// (instrument.go) records what otelhttp's handler recorded before it, for
// the same requests: the same metrics (names, scope, attribute sets,
// counts and sums of sizes) and spans of the same name, kind, parent,
// links, status and attributes, less the caller's addresses and user
// agent (which telemetry.RedactExporter drops) and plus the route and
// request id the server adds.
func TestInstrumentationMatchesOtelhttp(t *testing.T) {
	routes := map[string]http.HandlerFunc{
		"GET /v/{village}": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, strings.Repeat("页", 1000))
		},
		"POST /v1/things": func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(b)
		},
		"PUT /v1/things/{id}": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
		"GET /v1/boom":        func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusBadGateway) },
	}
	private := map[string]bool{"PUT /v1/things/{id}": true}
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	requests := []struct {
		method, target, host, body string
		header                     []string
	}{
		{method: "GET", target: "/v/330213100201?year=2026"},
		{method: "GET", target: "/v/330213100201", header: []string{"traceparent", traceparent}},
		{method: "HEAD", target: "/v/330213100201", host: "portal.example:8443"},
		{method: "POST", target: "/v1/things", body: `{"name":"x"}`},
		{method: "PUT", target: "/v1/things/7", header: []string{"traceparent", traceparent}},
		{method: "GET", target: "/v1/boom", host: "[::1]:9000"},
		{method: "GET", target: "/nothing/here", header: []string{"traceparent", traceparent}},
		{method: "DELETE", target: "/v1/things"},
	}

	type recorded struct {
		metrics metricdata.ResourceMetrics
		spans   tracetest.SpanStubs
	}
	run := func(t *testing.T, handler func(tel *telemetry.Telemetry) http.Handler) recorded {
		spans := tracetest.NewInMemoryExporter()
		reader := sdkmetric.NewManualReader()
		tel := &telemetry.Telemetry{
			TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)),
			MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
			Propagator:     propagation.TraceContext{},
			Registry:       prometheus.NewRegistry(),
		}
		h := handler(tel)
		for _, q := range requests {
			var body io.Reader
			if q.body != "" {
				body = strings.NewReader(q.body)
			}
			r := httptest.NewRequest(q.method, q.target, body)
			if q.host != "" {
				r.Host = q.host
			}
			for i := 0; i+1 < len(q.header); i += 2 {
				r.Header.Set(q.header[i], q.header[i+1])
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
		var rec recorded
		if err := reader.Collect(context.Background(), &rec.metrics); err != nil {
			t.Fatal(err)
		}
		rec.spans = spans.GetSpans()
		return rec
	}

	var srv *Server
	ours := run(t, func(tel *telemetry.Telemetry) http.Handler {
		srv = New(config.Base{Service: "disclosure"}, slog.New(slog.DiscardHandler), tel).WithAuthenticator(func(h http.Handler) http.Handler { return h })
		for p, h := range routes {
			if private[p] {
				srv.Handle(p, h)
			} else {
				srv.Handle(p, Public(h))
			}
		}
		return srv.Handler()
	})
	theirs := run(t, func(tel *telemetry.Telemetry) http.Handler {
		mux := http.NewServeMux()
		for p, h := range routes {
			mux.Handle(p, h)
		}
		return otelhttp.NewHandler(mux, "http.server", otelhttp.WithServerName("disclosure"),
			otelhttp.WithTracerProvider(tel.TracerProvider), otelhttp.WithMeterProvider(tel.MeterProvider),
			otelhttp.WithPropagators(tel.Propagator),
			otelhttp.WithPublicEndpointFn(func(r *http.Request) bool {
				_, p := mux.Handler(r)
				return !private[p]
			}))
	})

	if got, want := metricSummary(t, ours.metrics), metricSummary(t, theirs.metrics); !slices.Equal(got, want) {
		t.Errorf("metrics differ\nours:     %s\notelhttp: %s", strings.Join(got, "\n          "), strings.Join(want, "\n          "))
	}
	if len(ours.spans) != len(theirs.spans) {
		t.Fatalf("%d spans, otelhttp %d", len(ours.spans), len(theirs.spans))
	}
	for i, o := range ours.spans {
		th := theirs.spans[i]
		if o.Name != th.Name || o.SpanKind != th.SpanKind || o.Parent.IsValid() != th.Parent.IsValid() ||
			o.Parent.TraceID() != th.Parent.TraceID() || len(o.Links) != len(th.Links) || o.Status != th.Status ||
			o.InstrumentationScope != th.InstrumentationScope {
			t.Errorf("span %d: ours %q kind %v parent %v links %d status %v scope %v; otelhttp %q kind %v parent %v links %d status %v scope %v",
				i, o.Name, o.SpanKind, o.Parent.TraceID(), len(o.Links), o.Status, o.InstrumentationScope,
				th.Name, th.SpanKind, th.Parent.TraceID(), len(th.Links), th.Status, th.InstrumentationScope)
		}
		got, want := spanAttrs(o.Attributes), spanAttrs(th.Attributes)
		for k, v := range want {
			if telemetry.Redacted(attribute.Key(k)) && k != "url.path" {
				continue // dropped at export: not recorded at all
			}
			if k == "http.response.body.size" && !strings.Contains(o.Name, " ") {
				continue // 404 and 405: the server's problem bodies, not the mux's text
			}
			if got[k] != v {
				t.Errorf("span %d (%s): %s = %q, otelhttp %q", i, o.Name, k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok && k != "http.route" && k != "wuxiao.request_id" {
				t.Errorf("span %d (%s): %s = %q, not in otelhttp's", i, o.Name, k, got[k])
			}
		}
	}
}

// metricSummary lists every data point: metric, scope, attributes, count
// and sum (durations: count only).
func metricSummary(t *testing.T, rm metricdata.ResourceMetrics) []string {
	t.Helper()
	var out []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					sum := fmt.Sprint(p.Sum)
					if !p.Attributes.HasValue("http.route") {
						sum = "-" // 404 and 405: the server's problem bodies, not the mux's text
					}
					out = append(out, fmt.Sprintf("%s %s %s [%s] n=%d sum=%s", m.Name, m.Unit, sm.Scope.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Count, sum))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s %s %s [%s] n=%d bounds=%v", m.Name, m.Unit, sm.Scope.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Count, p.Bounds))
				}
			default:
				t.Errorf("metric %s: unexpected %T", m.Name, m.Data)
			}
		}
	}
	slices.Sort(out)
	return out
}

func spanAttrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}
