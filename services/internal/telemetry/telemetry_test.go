package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

func setup(t *testing.T, opts Options) *Telemetry {
	t.Helper()
	tel, err := Setup(context.Background(), opts)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

func resourceValue(attrs []attribute.KeyValue, k attribute.Key) string {
	for _, kv := range attrs {
		if kv.Key == k {
			return kv.Value.String()
		}
	}
	return ""
}

func TestSpansCarryResourceAttributes(t *testing.T) {
	// Environment values are merged, but explicit options win.
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "wuxiao.town=from-env,k8s.namespace.name=wuxiao-town-xikou")
	exp := tracetest.NewInMemoryExporter()
	tel := setup(t, Options{ServiceName: "wuxiao-workflow", Town: "xikou", District: "fenghua", SamplingRatio: 1, SpanExporter: exp})

	_, span := otel.Tracer("test").Start(context.Background(), "work")
	span.End()
	if err := tel.TracerProvider.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "work" {
		t.Fatalf("exported spans = %v, want one named work", spans)
	}
	attrs := spans[0].Resource.Attributes()
	for k, want := range map[attribute.Key]string{
		"service.name":       "wuxiao-workflow",
		TownKey:              "xikou",
		DistrictKey:          "fenghua",
		"k8s.namespace.name": "wuxiao-town-xikou",
	} {
		if got := resourceValue(attrs, k); got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
	if tel.Town != "xikou" || tel.District != "fenghua" {
		t.Errorf("Town, District = %q, %q", tel.Town, tel.District)
	}
}

func TestTownFromEnvironment(t *testing.T) {
	// The operator sets OTEL_RESOURCE_ATTRIBUTES; a service that passes no
	// town still labels its metrics with it.
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "wuxiao.town=dayan,wuxiao.district=fenghua")
	tel := setup(t, Options{ServiceName: "wuxiao-complaint", SamplingRatio: 1})
	if tel.Town != "dayan" || tel.District != "fenghua" {
		t.Errorf("Town, District = %q, %q", tel.Town, tel.District)
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics status %d", rec.Code)
	}
	return rec.Body.String()
}

func TestMetricsCarryTownLabel(t *testing.T) {
	tel := setup(t, Options{ServiceName: "wuxiao-workflow", Town: "xikou", District: "fenghua", SamplingRatio: 1})
	counter, err := tel.Meter("test").Int64Counter("wuxiao.test.things")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 3, metric.WithAttributes(attribute.String("http.route", "/v1/things")))

	out := scrape(t, tel.MetricsHandler())
	for _, want := range []string{
		`wuxiao_test_things_total{http_route="/v1/things",otel_scope_name="test",otel_scope_schema_url="",otel_scope_version="",wuxiao_district="fenghua",wuxiao_town="xikou"} 3`,
		// Runtime metrics are labelled too.
		`go_goroutines{wuxiao_district="fenghua",wuxiao_town="xikou"}`,
		`target_info{`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s\n%s", want, grepLines(out, "wuxiao_test|go_goroutines|target_info"))
		}
	}
}

func grepLines(s, alternatives string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		for w := range strings.SplitSeq(alternatives, "|") {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

func TestSampling(t *testing.T) {
	sampledParent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	unsampledParent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{2}, SpanID: trace.SpanID{2}, Remote: true,
	})
	tests := []struct {
		name   string
		ratio  float64
		parent trace.SpanContext
		want   bool
	}{
		{"all new traces", 1, trace.SpanContext{}, true},
		{"no new traces", 0, trace.SpanContext{}, false},
		{"sampled parent wins over ratio 0", 0, sampledParent, true},
		{"unsampled parent wins over ratio 1", 1, unsampledParent, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := setup(t, Options{ServiceName: "s", Town: "t", SamplingRatio: tt.ratio})
			ctx := trace.ContextWithRemoteSpanContext(context.Background(), tt.parent)
			_, span := tel.Tracer("test").Start(ctx, "op")
			defer span.End()
			if got := span.SpanContext().IsSampled(); got != tt.want {
				t.Errorf("sampled = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPropagatorIsW3C(t *testing.T) {
	setup(t, Options{ServiceName: "s", Town: "t", SamplingRatio: 1})
	fields := otel.GetTextMapPropagator().Fields()
	want := map[string]bool{"traceparent": true, "tracestate": true, "baggage": true}
	if len(fields) != len(want) {
		t.Fatalf("propagator fields = %v", fields)
	}
	for _, f := range fields {
		if !want[f] {
			t.Errorf("unexpected propagator field %q", f)
		}
	}
	carrier := propagation.MapCarrier{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	sc := trace.SpanContextFromContext(otel.GetTextMapPropagator().Extract(context.Background(), carrier))
	if sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || !sc.IsSampled() {
		t.Errorf("extracted %v", sc)
	}
}

// collector is a fake OTLP/HTTP receiver.
type collector struct {
	mu    sync.Mutex
	paths []string
	reqs  []*coltracepb.ExportTraceServiceRequest
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.paths = append(c.paths, r.URL.Path)
	c.reqs = append(c.reqs, &req)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func TestOTLPExport(t *testing.T) {
	tests := []struct {
		name     string
		suffix   string // appended to the collector's base URL
		wantPath string
	}{
		{"base URL", "", "/v1/traces"},
		{"base URL with slash", "/", "/v1/traces"},
		{"behind a path prefix", "/otlp", "/otlp/v1/traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{}
			srv := httptest.NewServer(c)
			defer srv.Close()
			tel, err := Setup(context.Background(), Options{
				ServiceName: "wuxiao-inspection", Town: "xikou", District: "fenghua",
				OTLPEndpoint: srv.URL + tt.suffix, SamplingRatio: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, span := tel.Tracer("test").Start(context.Background(), "tour")
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := tel.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.reqs) != 1 || c.paths[0] != tt.wantPath {
				t.Fatalf("collector got %d requests at %v, want 1 at %s", len(c.reqs), c.paths, tt.wantPath)
			}
			rs := c.reqs[0].GetResourceSpans()
			if len(rs) != 1 || len(rs[0].GetScopeSpans()) != 1 || rs[0].GetScopeSpans()[0].GetSpans()[0].GetName() != "tour" {
				t.Fatalf("unexpected payload %v", c.reqs[0])
			}
			got := map[string]string{}
			for _, kv := range rs[0].GetResource().GetAttributes() {
				got[kv.GetKey()] = kv.GetValue().GetStringValue()
			}
			if got["service.name"] != "wuxiao-inspection" || got["wuxiao.town"] != "xikou" || got["wuxiao.district"] != "fenghua" {
				t.Errorf("resource attributes %v", got)
			}
		})
	}
}

func TestSetupRejects(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"ratio above 1", Options{SamplingRatio: 1.5}, "sampling ratio 1.5 is not between 0 and 1"},
		{"negative ratio", Options{SamplingRatio: -0.1}, "sampling ratio -0.1 is not between 0 and 1"},
		{"endpoint without scheme", Options{OTLPEndpoint: "collector:4318"}, `OTLP endpoint "collector:4318" is not an http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Setup(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Setup() error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPgxTracing(t *testing.T) {
	url := testinfra.Postgres(t)
	exp := tracetest.NewInMemoryExporter()
	tel := setup(t, Options{ServiceName: "wuxiao-workflow", Town: "xikou", SamplingRatio: 1, SpanExporter: exp})

	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tel.PgxTracer()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := tel.RecordPoolStats(pool); err != nil {
		t.Fatal(err)
	}

	ctx, parent := tel.Tracer("test").Start(ctx, "handler")
	var n int
	if err := pool.QueryRow(ctx, "SELECT $1::int + 1", 73137331).Scan(&n); err != nil || n != 73137332 {
		t.Fatalf("query: %d, %v", n, err)
	}
	parent.End()
	if err := tel.TracerProvider.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}

	var query *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if resourceValue(s.Attributes, "db.query.text") == "SELECT $1::int + 1" {
			query = &s
		}
	}
	if query == nil {
		t.Fatalf("no query span among %d spans", len(exp.GetSpans()))
	}
	if query.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("query span is not a child of the handler span")
	}
	for _, kv := range query.Attributes {
		if strings.Contains(kv.Value.String(), "73137331") && kv.Key != "db.query.text" {
			t.Errorf("query parameter recorded in %s", kv.Key)
		}
	}
	out := scrape(t, tel.MetricsHandler())
	if !strings.Contains(out, "pgxpool_") || !strings.Contains(grepLines(out, "pgxpool_"), `wuxiao_town="xikou"`) {
		t.Errorf("pool metrics missing or unlabelled:\n%s", grepLines(out, "pgxpool_"))
	}
}
