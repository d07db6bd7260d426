//go:build otelcol

// Package otelcol_test proves the collector configuration the chart ships
// for SREs (charts/wuxiao-operator/monitoring/otel-collector.yaml) with a
// real core collector: the one hack/otelcol.sh builds with the OpenTelemetry
// Collector Builder from builder-config.yaml beside this file. The build
// tag keeps it out of `go test ./...`: a cold collector build takes many
// minutes. Run it with `make test-otelcol`.
package otelcol_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// config is the configuration the chart ships.
var config = filepath.Join("..", "..", "charts", "wuxiao-operator", "monitoring", "otel-collector.yaml")

var (
	buildOnce sync.Once
	otelcol   string
	buildErr  error
)

// collector is the path of the collector hack/otelcol.sh builds (or finds
// in its cache); its progress goes to the test's output.
func collector(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		cmd := exec.Command("bash", filepath.Join("..", "otelcol.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		otelcol, buildErr = strings.TrimSpace(string(out)), err
		if err != nil {
			buildErr = fmt.Errorf("hack/otelcol.sh: %w", err)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return otelcol
}

// env is this process's environment without the configuration's variables,
// plus extra.
func env(extra ...string) []string {
	var e []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRACING_BACKEND_") {
			e = append(e, kv)
		}
	}
	return append(e, extra...)
}

// TestConfigValidates is `otelcol validate` on the shipped configuration:
// every component known, every setting valid, the pipeline complete; the
// backend's endpoint is required.
func TestConfigValidates(t *testing.T) {
	bin := collector(t)
	for _, tc := range []struct {
		name    string
		env     []string
		wantErr string
	}{
		{"backend set", []string{"TRACING_BACKEND_ENDPOINT=http://tempo.monitoring:4318"}, ""},
		{"backend over TLS, self-signed", []string{"TRACING_BACKEND_ENDPOINT=https://otlp.example.cn", "TRACING_BACKEND_INSECURE_SKIP_VERIFY=true"}, ""},
		{"backend empty", []string{"TRACING_BACKEND_ENDPOINT="}, "endpoint"},
		{"backend unset", nil, "endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "validate", "--config=file:"+config)
			cmd.Env = env(tc.env...)
			out, err := cmd.CombinedOutput()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("invalid (%v): %s", err, out)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("valid, want an error about %s: %s", tc.wantErr, out)
			case tc.wantErr != "" && !strings.Contains(string(out), tc.wantErr):
				t.Fatalf("error %s, want one about %s", out, tc.wantErr)
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

// backend is an OTLP/HTTP traces endpoint (protobuf, gzip or not) recording
// the spans it gets.
type backend struct {
	mu       sync.Mutex
	spans    map[string]string // span id → "service/name"
	trace    map[string]string // span id → trace id
	encoding map[string]bool   // Content-Encoding of the requests
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
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(raw, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.encoding[r.Header.Get("Content-Encoding")] = true
	for _, rs := range req.GetResourceSpans() {
		var svc string
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				svc = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				id := fmt.Sprintf("%x", s.GetSpanId())
				b.spans[id] = svc + "/" + s.GetName()
				b.trace[id] = fmt.Sprintf("%x", s.GetTraceId())
			}
		}
	}
	b.mu.Unlock()
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = io.Copy(w, bytes.NewReader(resp))
}

// syncBuffer is the collector's output, written by its process while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConfigForwardsTraces runs the collector with the shipped
// configuration (listen addresses moved to free local ports by --config
// yaml: overrides, as an SRE would with their own) between the OTLP/HTTP
// exporter the services and the operator use and a backend: a trace of two
// services arrives whole, gzip-compressed, through memory_limiter and batch,
// and the collector stops cleanly on SIGTERM (flushing its batch).
func TestConfigForwardsTraces(t *testing.T) {
	bin := collector(t)
	b := &backend{spans: map[string]string{}, trace: map[string]string{}, encoding: map[string]bool{}}
	srv := httptest.NewServer(b)
	defer srv.Close()

	httpAddr := freeAddr(t)
	metricsHost, metricsPort, _ := net.SplitHostPort(freeAddr(t))
	cmd := exec.Command(bin,
		"--config=file:"+config,
		"--config=yaml:receivers::otlp::protocols::http::endpoint: "+httpAddr,
		"--config=yaml:receivers::otlp::protocols::grpc::endpoint: "+freeAddr(t),
		"--config=yaml:extensions::zpages::endpoint: "+freeAddr(t),
		// The collector's own metrics (Prometheus on :8888 by default).
		"--config=yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: '"+metricsHost+"', port: "+metricsPort+"}}}}]",
	)
	cmd.Env = env("TRACING_BACKEND_ENDPOINT=" + srv.URL)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			t.Logf("collector killed: %v", <-exited)
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", out.String())
		}
	}()

	// Ready when the OTLP/HTTP receiver accepts connections.
	for {
		c, err := net.Dial("tcp", httpAddr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("collector exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}

	// Two services of one trace, as a complaint intake and its consumer.
	ctx := context.Background()
	want := map[string]string{} // span id → "service/name"
	var traceID string
	parent := ctx
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
		want[span.SpanContext().SpanID().String()] = svc + "/work of " + svc
		traceID = span.SpanContext().TraceID().String()
		parent = sctx
	}

	// SIGTERM: the collector shuts down its pipeline, flushing the batch
	// processor and draining the sending queue to the backend first.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	stopped = true
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	if err != nil {
		t.Errorf("collector exited with %v on SIGTERM", err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for id, w := range want {
		if b.spans[id] != w || b.trace[id] != traceID {
			t.Errorf("span %s: backend got %q of trace %q, want %q of trace %s", id, b.spans[id], b.trace[id], w, traceID)
		}
	}
	if !b.encoding["gzip"] || len(b.encoding) != 1 {
		t.Errorf("request encodings %v, want only gzip", b.encoding)
	}
}
