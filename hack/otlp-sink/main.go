// Command otlp-sink is the local district's trace collector: a minimal
// OTLP/HTTP traces endpoint (protobuf, optionally gzip) that the District's
// telemetry.otlpEndpoint points at. hack/district.sh runs it on the pod
// gateway (198.18.0.1:24318), where pods can reach it and so can this
// machine. Every span is appended as one JSON line to -out and kept in
// memory for:
//
//	GET /traces                 recent traces, newest first (text: start, duration, spans, services, root)
//	GET /traces/<trace id>      one trace's spans, indented under their parents, with their
//	                            events and links (text)
//	GET /api/spans?trace=<id>   one trace's spans as JSON (what hack/e2e reads): ids, name,
//	                            service, kind, times, error, attributes, events (name, time,
//	                            attributes) and links (trace and span id, attributes)
//	GET /api/spans?linked=<id>  the spans, of any trace, with a link to trace <id>: a public
//	                            route's server span starts a trace of its own linked to the
//	                            client's traceparent, so a client finds its request's trace
//	                            this way (both parameters: the spans of trace that link to linked)
//	GET /healthz
//
// Nothing is sampled or dropped on the way in; only the in-memory copy is
// bounded (-keep spans, oldest first out). The JSON lines file keeps all.
package main

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// Span is what the sink keeps of an exported span.
type Span struct {
	TraceID    string         `json:"traceId"`
	SpanID     string         `json:"spanId"`
	Parent     string         `json:"parentSpanId,omitempty"`
	Name       string         `json:"name"`
	Service    string         `json:"service"`
	Kind       string         `json:"kind,omitempty"`
	Start      time.Time      `json:"start"`
	End        time.Time      `json:"end"`
	Error      string         `json:"error,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	Events     []Event        `json:"events,omitempty"`
	Links      []Link         `json:"links,omitempty"`
}

// Event is a span event (e.g. inspection's "rating.changed").
type Event struct {
	Name       string         `json:"name"`
	Time       time.Time      `json:"time"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Link is a span link (e.g. a complaint transition's link to its request).
type Link struct {
	TraceID    string         `json:"traceId"`
	SpanID     string         `json:"spanId"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// attributes turns OTLP key-values into JSON values: strings, booleans,
// int64s, float64s, arrays and maps as such, bytes as hex.
func attributes(kvs []*commonpb.KeyValue) map[string]any {
	if len(kvs) == 0 {
		return nil
	}
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		out[kv.GetKey()] = value(kv.GetValue())
	}
	return out
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		arr := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			arr = append(arr, value(e))
		}
		return arr
	case *commonpb.AnyValue_KvlistValue:
		return attributes(x.KvlistValue.GetValues())
	}
	return nil
}

type sink struct {
	mu    sync.Mutex
	spans []Span // oldest first, at most keep
	keep  int
	out   *bufio.Writer
	file  *os.File
}

func main() {
	log.SetFlags(log.LstdFlags)
	log.SetPrefix("otlp-sink: ")
	listen := flag.String("listen", "198.18.0.1:24318", "address of the OTLP/HTTP endpoint and the pages")
	outFile := flag.String("out", "spans.jsonl", "file the spans are appended to, one JSON object per line")
	keep := flag.Int("keep", 200000, "spans kept in memory for the pages")
	flag.Parse()

	f, err := os.OpenFile(*outFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	s := &sink{keep: *keep, out: bufio.NewWriter(f), file: f}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = srv.Close()
	}()
	// Buffered writes reach the file at least every second.
	go func() {
		for range time.Tick(time.Second) {
			s.flush()
		}
	}()
	log.Printf("listening on %s, appending spans to %s", ln.Addr(), *outFile)
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
	s.flush()
	_ = f.Close()
}

func (s *sink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.out.Flush(); err != nil {
		log.Printf("writing spans: %v", err)
	}
}

func (s *sink) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", s.receive)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /api/spans", func(w http.ResponseWriter, r *http.Request) {
		id, linked := strings.ToLower(r.URL.Query().Get("trace")), strings.ToLower(r.URL.Query().Get("linked"))
		if id == "" && linked == "" {
			http.Error(w, "query parameter trace or linked is required", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.find(id, linked))
	})
	mux.HandleFunc("GET /traces", s.list)
	mux.HandleFunc("GET /traces/{id}", s.show)
	return mux
}

func (s *sink) receive(w http.ResponseWriter, req *http.Request) {
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
	got := decode(&msg)
	s.mu.Lock()
	enc := json.NewEncoder(s.out)
	for _, sp := range got {
		if err := enc.Encode(sp); err != nil {
			log.Printf("writing spans: %v", err)
			break
		}
	}
	s.spans = append(s.spans, got...)
	if n := len(s.spans) - s.keep; n > 0 {
		s.spans = slices.Delete(s.spans, 0, n)
	}
	s.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func decode(msg *coltracepb.ExportTraceServiceRequest) []Span {
	var got []Span
	for _, rs := range msg.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				e := ""
				if sp.GetStatus().GetCode() == 2 { // STATUS_CODE_ERROR
					e = cmp.Or(sp.GetStatus().GetMessage(), "error")
				}
				var events []Event
				for _, ev := range sp.GetEvents() {
					events = append(events, Event{Name: ev.GetName(), Time: time.Unix(0, int64(ev.GetTimeUnixNano())).UTC(),
						Attributes: attributes(ev.GetAttributes())})
				}
				var links []Link
				for _, l := range sp.GetLinks() {
					links = append(links, Link{TraceID: hex.EncodeToString(l.GetTraceId()), SpanID: hex.EncodeToString(l.GetSpanId()),
						Attributes: attributes(l.GetAttributes())})
				}
				got = append(got, Span{
					TraceID: hex.EncodeToString(sp.GetTraceId()), SpanID: hex.EncodeToString(sp.GetSpanId()),
					Parent: hex.EncodeToString(sp.GetParentSpanId()), Name: sp.GetName(), Service: service,
					Kind:  strings.ToLower(strings.TrimPrefix(sp.GetKind().String(), "SPAN_KIND_")),
					Start: time.Unix(0, int64(sp.GetStartTimeUnixNano())).UTC(), End: time.Unix(0, int64(sp.GetEndTimeUnixNano())).UTC(),
					Error: e, Attributes: attributes(sp.GetAttributes()), Events: events, Links: links,
				})
			}
		}
	}
	return got
}

// trace returns the spans of one trace, in start order.
func (s *sink) trace(id string) []Span { return s.find(id, "") }

// find returns the spans of trace id ("": any) that have a link to trace
// linked ("": linked or not), in start order.
func (s *sink) find(id, linked string) []Span {
	s.mu.Lock()
	var out []Span
	for _, sp := range s.spans {
		if (id == "" || sp.TraceID == id) &&
			(linked == "" || slices.ContainsFunc(sp.Links, func(l Link) bool { return l.TraceID == linked })) {
			out = append(out, sp)
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out
}

// pairs renders attributes as " k=v k=v", sorted by key.
func pairs(attrs map[string]any) string {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, attrs[k])
	}
	return b.String()
}

type summary struct {
	id         string
	start, end time.Time
	spans      int
	services   map[string]bool
	root       string
	errors     int
}

func (s *sink) list(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if _, err := fmt.Sscan(r.URL.Query().Get("limit"), &limit); err != nil || limit <= 0 {
		limit = 50
	}
	s.mu.Lock()
	byID := map[string]*summary{}
	for _, sp := range s.spans {
		t := byID[sp.TraceID]
		if t == nil {
			t = &summary{id: sp.TraceID, start: sp.Start, end: sp.End, services: map[string]bool{}}
			byID[sp.TraceID] = t
		}
		t.spans++
		t.services[sp.Service] = true
		if sp.Start.Before(t.start) {
			t.start = sp.Start
		}
		if sp.End.After(t.end) {
			t.end = sp.End
		}
		if sp.Parent == "" {
			t.root = sp.Service + " " + sp.Name
		}
		if sp.Error != "" {
			t.errors++
		}
	}
	total := len(s.spans)
	s.mu.Unlock()
	all := make([]*summary, 0, len(byID))
	for _, t := range byID {
		all = append(all, t)
	}
	slices.SortFunc(all, func(a, b *summary) int { return b.start.Compare(a.start) })
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%d traces, %d spans in memory; newest %d first. One trace: /traces/<id>\n\n", len(all), total, min(limit, len(all)))
	fmt.Fprintf(w, "%-32s  %-12s  %9s  %5s  %6s  %s\n", "trace", "start (UTC)", "duration", "spans", "errors", "services / root span")
	for _, t := range all[:min(limit, len(all))] {
		svcs := make([]string, 0, len(t.services))
		for k := range t.services {
			svcs = append(svcs, strings.TrimPrefix(k, "wuxiao-"))
		}
		slices.Sort(svcs)
		fmt.Fprintf(w, "%-32s  %-12s  %9s  %5d  %6d  %s / %s\n", t.id, t.start.Format("15:04:05.000"),
			t.end.Sub(t.start).Round(time.Millisecond), t.spans, t.errors, strings.Join(svcs, ","), cmp.Or(t.root, "(root not received)"))
	}
}

func (s *sink) show(w http.ResponseWriter, r *http.Request) {
	spans := s.trace(r.PathValue("id"))
	if len(spans) == 0 {
		http.Error(w, "no spans of that trace in memory", http.StatusNotFound)
		return
	}
	children := map[string][]Span{}
	ids := map[string]bool{}
	for _, sp := range spans {
		ids[sp.SpanID] = true
	}
	var roots []Span
	for _, sp := range spans {
		if sp.Parent == "" || !ids[sp.Parent] {
			roots = append(roots, sp)
		} else {
			children[sp.Parent] = append(children[sp.Parent], sp)
		}
	}
	t0 := spans[0].Start
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// The tree is plain text (Content-Type above), so the span data written
	// into it is never interpreted as HTML.
	fmt.Fprintf(w, "trace %s: %d spans (offset from the first span's start, duration)\n\n", spans[0].TraceID, len(spans)) //nolint:gosec // G705: text/plain
	var walk func(sp Span, depth int)
	walk = func(sp Span, depth int) {
		e := ""
		if sp.Error != "" {
			e = "  ERROR: " + sp.Error
		}
		indent := strings.Repeat("  ", depth)
		fmt.Fprintf(w, "%8s %8s  %s%s: %s (%s)%s\n", sp.Start.Sub(t0).Round(time.Millisecond), sp.End.Sub(sp.Start).Round(time.Millisecond), //nolint:gosec // G705: text/plain
			indent, strings.TrimPrefix(sp.Service, "wuxiao-"), sp.Name, sp.Kind, e)
		for _, ev := range sp.Events {
			fmt.Fprintf(w, "%8s %8s  %s  · %s%s\n", ev.Time.Sub(t0).Round(time.Millisecond), "", indent, ev.Name, pairs(ev.Attributes)) //nolint:gosec // G705: text/plain
		}
		for _, l := range sp.Links {
			fmt.Fprintf(w, "%8s %8s  %s  → link %s/%s%s\n", "", "", indent, l.TraceID, l.SpanID, pairs(l.Attributes))
		}
		for _, c := range children[sp.SpanID] {
			walk(c, depth+1)
		}
	}
	for _, sp := range roots {
		walk(sp, 0)
	}
}
