package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		StartTimeUnixNano: 1e18 + 1e6, EndTimeUnixNano: 1e18 + 2e6, Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"}}
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
	if code, _ := get("/api/spans"); code != http.StatusBadRequest {
		t.Errorf("/api/spans without trace: status %d, want 400", code)
	}
	if _, list := get("/traces"); !strings.Contains(list, strings.Repeat("01", 16)) || !strings.Contains(list, "disclosure,workflow / wuxiao-workflow POST /v1/instances") {
		t.Errorf("/traces:\n%s", list)
	}
	if _, tree := get("/traces/" + strings.Repeat("01", 16)); !strings.Contains(tree, "  disclosure: process workflow.step") || !strings.Contains(tree, "ERROR: boom") {
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
}
