//go:build e2e

package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// span is what the tests look at of an exported span.
type span struct {
	TraceID, SpanID, Parent string
	Name, Service           string
}

// otlpReceiver is a minimal OTLP/HTTP traces endpoint (protobuf, optionally
// gzip): the District's telemetry.otlpEndpoint points at it, so the pods'
// exporters deliver here.
type otlpReceiver struct {
	srv   *http.Server
	mu    sync.Mutex
	spans []span
}

func listenOTLP(addr string) (*otlpReceiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &otlpReceiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.traces)
	r.srv = &http.Server{Handler: mux}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *otlpReceiver) Close() { _ = r.srv.Close() }

func (r *otlpReceiver) traces(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	data, err := io.ReadAll(io.LimitReader(body, 32<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []span
	for _, rs := range msg.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, span{TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					Parent: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Service: service})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// trace returns the spans of one trace.
func (r *otlpReceiver) trace(id string) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []span
	for _, s := range r.spans {
		if s.TraceID == id {
			out = append(out, s)
		}
	}
	return out
}

// tracesWith returns the ids of traces that have spans of every service.
func (r *otlpReceiver) tracesWith(services ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]map[string]bool{}
	for _, s := range r.spans {
		if seen[s.TraceID] == nil {
			seen[s.TraceID] = map[string]bool{}
		}
		seen[s.TraceID][s.Service] = true
	}
	var out []string
	for id, svcs := range seen {
		all := true
		for _, want := range services {
			all = all && svcs[want]
		}
		if all {
			out = append(out, id)
		}
	}
	return out
}
