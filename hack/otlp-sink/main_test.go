package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func export(service string, spans ...*tracepb.Span) []byte {
	msg := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
			Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: service}},
		}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}}
	b, _ := proto.Marshal(msg)
	return b
}

func id(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}
func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func num(n int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
}

func TestSink(t *testing.T) {
	out := filepath.Join(t.TempDir(), "spans.jsonl")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{keep: 3, out: bufio.NewWriter(f), file: f}
	srv := httptest.NewServer(s.routes())
	defer srv.Close()

	post := func(body []byte, gz bool) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/traces", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if gz {
			var buf bytes.Buffer
			w := gzip.NewWriter(&buf)
			_, _ = w.Write(body)
			_ = w.Close()
			req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1/traces", &buf)
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	root := &tracepb.Span{TraceId: id(1, 16), SpanId: id(1, 8), Name: "POST /v1/instances", StartTimeUnixNano: 1e18, EndTimeUnixNano: 1e18 + 5e6}
	child := &tracepb.Span{TraceId: id(1, 16), SpanId: id(2, 8), ParentSpanId: id(1, 8), Name: "process workflow.step",
		StartTimeUnixNano: 1e18 + 1e6, EndTimeUnixNano: 1e18 + 2e6, Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"},
		Attributes: []*commonpb.KeyValue{kv("messaging.destination.name", str("wuxiao.xikou.complaint")), kv("messaging.kafka.offset", num(42)),
			kv("ok", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}),
			kv("list", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{str("a"), num(2)}}}})},
		Events: []*tracepb.Span_Event{{Name: "rating.changed", TimeUnixNano: 1e18 + 15e5, Attributes: []*commonpb.KeyValue{
			kv("grade.before", str("B")), kv("grade.after", str("C")), kv("points.after", num(75)), kv("notice.number", str("溪纪预〔2026〕1号"))}}},
		Links: []*tracepb.Span_Link{{TraceId: id(9, 16), SpanId: id(9, 8), Attributes: []*commonpb.KeyValue{kv("wuxiao.link", str("request"))}}}}
	if code := post(export("wuxiao-workflow", root), false); code != http.StatusOK {
		t.Fatalf("export: status %d", code)
	}
	if code := post(export("wuxiao-disclosure", child), true); code != http.StatusOK {
		t.Fatalf("gzip export: status %d", code)
	}
	if code := post([]byte("not protobuf"), false); code != http.StatusBadRequest {
		t.Errorf("garbage: status %d, want 400", code)
	}

	code, body := get("/api/spans?trace=" + strings.Repeat("01", 16))
	var spans []Span
	if code != http.StatusOK || json.Unmarshal([]byte(body), &spans) != nil || len(spans) != 2 {
		t.Fatalf("/api/spans: %d %s", code, body)
	}
	if spans[1].Service != "wuxiao-disclosure" || spans[1].Parent != strings.Repeat("01", 8) || spans[1].Error != "boom" {
		t.Errorf("child span = %+v", spans[1])
	}
	// Attributes, events and links survive, with their JSON types.
	c := spans[1]
	if c.Attributes["messaging.destination.name"] != "wuxiao.xikou.complaint" || c.Attributes["messaging.kafka.offset"] != float64(42) ||
		c.Attributes["ok"] != true || fmt.Sprint(c.Attributes["list"]) != "[a 2]" {
		t.Errorf("attributes = %#v", c.Attributes)
	}
	if len(c.Events) != 1 || c.Events[0].Name != "rating.changed" || c.Events[0].Attributes["grade.after"] != "C" ||
		c.Events[0].Attributes["points.after"] != float64(75) || !c.Events[0].Time.Equal(c.Start.Add(500*time.Microsecond)) {
		t.Errorf("events = %#v", c.Events)
	}
	if len(c.Links) != 1 || c.Links[0].TraceID != strings.Repeat("09", 16) || c.Links[0].SpanID != strings.Repeat("09", 8) ||
		c.Links[0].Attributes["wuxiao.link"] != "request" {
		t.Errorf("links = %#v", c.Links)
	}
	if spans[0].Attributes != nil || spans[0].Events != nil || spans[0].Links != nil || strings.Contains(body, `"events":null`) {
		t.Errorf("a span without attributes, events or links: %+v in %s", spans[0], body)
	}
	if code, _ := get("/api/spans"); code != http.StatusBadRequest {
		t.Errorf("/api/spans without trace: status %d, want 400", code)
	}
	if _, list := get("/traces"); !strings.Contains(list, strings.Repeat("01", 16)) || !strings.Contains(list, "disclosure,workflow / wuxiao-workflow POST /v1/instances") {
		t.Errorf("/traces:\n%s", list)
	}
	if _, tree := get("/traces/" + strings.Repeat("01", 16)); !strings.Contains(tree, "  disclosure: process workflow.step") || !strings.Contains(tree, "ERROR: boom") ||
		!strings.Contains(tree, "· rating.changed grade.after=C grade.before=B notice.number=溪纪预〔2026〕1号 points.after=75") ||
		!strings.Contains(tree, "→ link "+strings.Repeat("09", 16)+"/"+strings.Repeat("09", 8)+" wuxiao.link=request") {
		t.Errorf("/traces/<id>:\n%s", tree)
	}

	// Memory keeps the newest -keep spans; the file keeps every one.
	for i := byte(3); i < 6; i++ {
		post(export("wuxiao-complaint", &tracepb.Span{TraceId: id(i, 16), SpanId: id(i, 8), Name: "x"}), false)
	}
	if _, body := get("/api/spans?trace=" + strings.Repeat("01", 16)); strings.TrimSpace(body) != "null" {
		t.Errorf("oldest spans still in memory: %s", body)
	}
	s.flush()
	data, _ := os.ReadFile(out)
	if n := strings.Count(string(data), "\n"); n != 5 {
		t.Errorf("file has %d lines, want 5", n)
	}
	// The JSON lines keep events and attributes too.
	lines := strings.Split(string(data), "\n")
	var line Span
	if err := json.Unmarshal([]byte(lines[1]), &line); err != nil || len(line.Events) != 1 || line.Events[0].Attributes["notice.number"] != "溪纪预〔2026〕1号" ||
		line.Attributes["messaging.destination.name"] != "wuxiao.xikou.complaint" || len(line.Links) != 1 {
		t.Errorf("second JSON line %s: %v", lines[1], err)
	}
}

// A public route's server span is a new root linked to the client's
// traceparent: the client finds its request's trace by that link.
func TestLinked(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "spans.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{keep: 100, out: bufio.NewWriter(f), file: f}
	srv := httptest.NewServer(s.routes())
	defer srv.Close()

	client := id(0xc1, 16)
	link := func(trace []byte, label string) []*tracepb.Span_Link {
		l := &tracepb.Span_Link{TraceId: trace, SpanId: id(0xc2, 8)}
		if label != "" {
			l.Attributes = []*commonpb.KeyValue{kv("wuxiao.link", str(label))}
		}
		return []*tracepb.Span_Link{l}
	}
	intake := &tracepb.Span{TraceId: id(0xa, 16), SpanId: id(1, 8), Name: "POST /r/{village}", StartTimeUnixNano: 1e18 + 1e6, Links: link(client, "")}
	accept := &tracepb.Span{TraceId: id(0xa, 16), SpanId: id(2, 8), ParentSpanId: id(1, 8), Name: "complaint accept",
		StartTimeUnixNano: 1e18 + 2e6, Links: link(id(0x5, 16), "request")}
	other := &tracepb.Span{TraceId: id(0xb, 16), SpanId: id(3, 8), Name: "GET /r/track/{code}", StartTimeUnixNano: 1e18, Links: link(client, "")}
	unlinked := &tracepb.Span{TraceId: id(0xc1, 16), SpanId: id(4, 8), Name: "in the client's trace itself", StartTimeUnixNano: 1e18}
	body := export("wuxiao-complaint", intake, accept, other, unlinked)
	resp, err := http.Post(srv.URL+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	hex := func(b []byte) string { return fmt.Sprintf("%x", b) }
	tests := []struct {
		query string
		code  int
		names []string
	}{
		{"linked=" + hex(client), 200, []string{"GET /r/track/{code}", "POST /r/{village}"}},
		{"linked=" + strings.ToUpper(hex(client)), 200, []string{"GET /r/track/{code}", "POST /r/{village}"}},
		{"linked=" + hex(client) + "&trace=" + hex(id(0xa, 16)), 200, []string{"POST /r/{village}"}},
		{"linked=" + hex(id(0x5, 16)), 200, []string{"complaint accept"}},
		{"linked=" + hex(id(0x7, 16)), 200, nil},
		{"linked=", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/api/spans?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if tt.code != 200 {
				return
			}
			var spans []Span
			if err := json.NewDecoder(resp.Body).Decode(&spans); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, sp := range spans {
				names = append(names, sp.Name)
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.names) {
				t.Errorf("spans %v, want %v", names, tt.names)
			}
		})
	}
}
