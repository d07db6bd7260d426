package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// config is the configuration the chart ships for SREs.
var config = filepath.Join("..", "..", "charts", "wuxiao-operator", "monitoring", "otel-collector.yaml")

// TestConfigValidates is `otelcol validate` on the shipped configuration:
// every component known, every setting valid, the pipeline complete; the
// backend's endpoint is required.
func TestConfigValidates(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint, wantErr string
	}{
		{"backend set", "http://tempo.monitoring:4318", ""},
		{"backend over TLS", "https://otlp.example.cn", ""},
		{"no backend", "", "endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TRACING_BACKEND_ENDPOINT", tc.endpoint)
			col, err := otelcol.NewCollector(settings("file:" + config))
			if err != nil {
				t.Fatal(err)
			}
			err = col.DryRun(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("invalid: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one about %s", err, tc.wantErr)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// backend is an OTLP/HTTP traces endpoint recording the spans it gets.
type backend struct {
	mu    sync.Mutex
	spans map[string]string // span id → "service/name", of every trace
	trace map[string]string // span id → trace id
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	req := ptraceotlp.NewExportRequest()
	if err == nil {
		err = req.UnmarshalProto(raw)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	rss := req.Traces().ResourceSpans()
	for i := range rss.Len() {
		svc, _ := rss.At(i).Resource().Attributes().Get("service.name")
		for j := range rss.At(i).ScopeSpans().Len() {
			ss := rss.At(i).ScopeSpans().At(j).Spans()
			for k := range ss.Len() {
				s := ss.At(k)
				b.spans[s.SpanID().String()] = svc.AsString() + "/" + s.Name()
				b.trace[s.SpanID().String()] = s.TraceID().String()
			}
		}
	}
	b.mu.Unlock()
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = io.Copy(w, bytes.NewReader(resp))
}

// TestConfigForwardsTraces runs the shipped configuration (listen
// addresses moved to free local ports) between the OTLP/HTTP exporter the
// services and the operator use and a backend: a trace of two services
// arrives whole, compressed, through memory_limiter and batch.
func TestConfigForwardsTraces(t *testing.T) {
	b := &backend{spans: map[string]string{}, trace: map[string]string{}}
	srv := httptest.NewServer(b)
	defer srv.Close()
	t.Setenv("TRACING_BACKEND_ENDPOINT", srv.URL)
	httpAddr := freeAddr(t)
	col, err := otelcol.NewCollector(settings("file:"+config,
		"yaml:receivers::otlp::protocols::http::endpoint: "+httpAddr,
		"yaml:receivers::otlp::protocols::grpc::endpoint: "+freeAddr(t),
		"yaml:extensions::zpages::endpoint: "+freeAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	defer func() {
		col.Shutdown()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
	}()
	for col.GetState() != otelcol.StateRunning {
		select {
		case err := <-done:
			t.Fatalf("collector stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}

	// Two services of one trace, as a complaint intake and its consumer.
	spanIDs := map[string]string{}
	var traceID string
	parent := context.Background()
	for _, svc := range []string{"wuxiao-complaint", "wuxiao-inspection"} {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL("http://"+httpAddr+"/v1/traces"))
		if err != nil {
			t.Fatal(err)
		}
		res := resource.NewSchemaless(attribute.String("service.name", svc))
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		sctx, span := tp.Tracer("test").Start(parent, "work of "+svc)
		span.End()
		if err := tp.Shutdown(ctx); err != nil { // flushes: the collector accepted the spans
			t.Fatal(err)
		}
		spanIDs[span.SpanContext().SpanID().String()] = svc + "/work of " + svc
		traceID = span.SpanContext().TraceID().String()
		parent = sctx
	}
	// The collector batches for up to 5 s; its sending queue retries.
	deadline := time.Now().Add(time.Minute)
	for {
		b.mu.Lock()
		missing := []string{}
		for id, want := range spanIDs {
			if b.spans[id] != want || b.trace[id] != traceID {
				missing = append(missing, fmt.Sprintf("%s (%s)", id, want))
			}
		}
		b.mu.Unlock()
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backend did not get %v of trace %s", missing, traceID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
