package events

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// A remote parent whose trace context must travel in the headers.
var parentSC = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
	SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	TraceFlags: trace.FlagsSampled,
	Remote:     true,
})

func TestCodecRoundTripThroughKafka(t *testing.T) {
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 1)
	ev := testEvent(villages[0], 7)
	ev.DataSchema = "https://wuxiao.cn/schemas/workflow/test.happened.v1.json"
	ev.Time = time.Date(2020, 7, 1, 8, 30, 0, 123456789, time.FixedZone("CST", 8*3600))

	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parentSC)
	msg, err := Encode(ctx, topic, ev)
	if err != nil {
		t.Fatal(err)
	}
	w := testWriter(t, brokers)
	wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(wctx, msg); err != nil {
		t.Fatal(err)
	}
	got := readTopic(t, brokers, topic)
	if len(got) != 1 {
		t.Fatalf("%d messages on the topic, want 1", len(got))
	}
	m := got[0]

	wantHeaders := map[string]string{
		"ce_specversion": "1.0",
		"ce_id":          ev.ID,
		"ce_source":      "/towns/xikou/workflow",
		"ce_type":        testType,
		"ce_time":        "2020-07-01T00:30:00.123456789Z",
		"ce_subject":     "processes/7",
		"ce_dataschema":  ev.DataSchema,
		"ce_town":        "xikou",
		"ce_village":     villages[0],
		"content-type":   "application/json",
		"traceparent":    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	for k, v := range wantHeaders {
		if h := header(m, k); h != v {
			t.Errorf("header %s = %q, want %q", k, h, v)
		}
	}
	if len(m.Headers) != len(wantHeaders) {
		t.Errorf("%d headers, want %d: %v", len(m.Headers), len(wantHeaders), m.Headers)
	}
	if string(m.Key) != villages[0] {
		t.Errorf("key %q, want the village code", m.Key)
	}

	dec, err := Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !dec.Time.Equal(ev.Time) {
		t.Errorf("time %v, want %v", dec.Time, ev.Time)
	}
	dec.Time, ev.Time = time.Time{}, time.Time{}
	if a, b := mustJSON(dec), mustJSON(ev); a != b {
		t.Errorf("decoded\n%s\nwant\n%s", a, b)
	}
	if sc := trace.SpanContextFromContext(Extract(context.Background(), m)); sc.TraceID() != parentSC.TraceID() || sc.SpanID() != parentSC.SpanID() {
		t.Errorf("extracted span context %v, want %v", sc, parentSC)
	}

	// A town-wide event is keyed by its town and has no ce_village.
	town := testEvent("", 1)
	tm, err := Encode(context.Background(), topic, town)
	if err != nil {
		t.Fatal(err)
	}
	if string(tm.Key) != "xikou" || header(tm, HeaderVillage) != "" || header(tm, "traceparent") != "" {
		t.Errorf("town event: key %q, village %q, traceparent %q", tm.Key, header(tm, HeaderVillage), header(tm, "traceparent"))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestEncodeRejectsInvalidEvents(t *testing.T) {
	ev := testEvent(villages[0], 1)
	ev.Type = "workflow.happened"
	if _, err := Encode(context.Background(), "t", ev); err == nil || !strings.Contains(err.Error(), "is not of the form") {
		t.Errorf("invalid type: %v", err)
	}
	ev = testEvent(villages[0], 1)
	ev.Data = json.RawMessage(`"` + strings.Repeat("x", MaxDataBytes) + `"`)
	if _, err := Encode(context.Background(), "t", ev); err == nil || !strings.Contains(err.Error(), "bytes, more than") {
		t.Errorf("oversized data: %v", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	good, err := Encode(context.Background(), "wuxiao.xikou.workflow", testEvent(villages[0], 1))
	if err != nil {
		t.Fatal(err)
	}
	good.Partition, good.Offset = 2, 41
	if _, err := Decode(good); err != nil {
		t.Fatalf("the unmodified message: %v", err)
	}
	set := func(k, v string) func(*kafka.Message) {
		return func(m *kafka.Message) { eventsv1.HeaderCarrier{Headers: &m.Headers}.Set(k, v) }
	}
	drop := func(k string) func(*kafka.Message) {
		return func(m *kafka.Message) {
			hs := m.Headers[:0:0]
			for _, h := range m.Headers {
				if h.Key != k {
					hs = append(hs, h)
				}
			}
			m.Headers = hs
		}
	}
	cases := []struct {
		name   string
		mutate func(*kafka.Message)
		want   string
	}{
		{"structured mode or plain JSON", func(m *kafka.Message) { m.Headers = nil }, "no ce_specversion header"},
		{"other spec version", set(HeaderSpecVersion, "0.3"), `ce_specversion is "0.3"`},
		{"no id", drop(HeaderID), "has no id"},
		{"no source", drop(HeaderSource), "has no source"},
		{"foreign type", set(HeaderType, "com.example.created"), "is not of the form"},
		{"no time", drop(HeaderTime), "has no time"},
		{"unparsable time", set(HeaderTime, "yesterday"), "not an RFC 3339 time"},
		{"no town", drop(HeaderTown), "has no town"},
		{"bad village", set(HeaderVillage, "3302"), "12-digit"},
		{"xml content", set(HeaderContentType, "application/xml"), "content-type is"},
		{"invalid JSON", func(m *kafka.Message) { m.Value = []byte(`{"n":`) }, "not valid JSON"},
		{"empty value", func(m *kafka.Message) { m.Value = nil }, "not valid JSON"},
		{"key of another village", func(m *kafka.Message) { m.Key = []byte(villages[1]) }, "is not the event's village"},
		{"duplicated id", func(m *kafka.Message) {
			m.Headers = append(m.Headers, kafka.Header{Key: HeaderID, Value: []byte("other")})
		}, "ce_id appears more than once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := good
			m.Headers = append([]kafka.Header(nil), good.Headers...)
			tc.mutate(&m)
			_, err := Decode(m)
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("got %v, want a *MalformedError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "wuxiao.xikou.workflow/2@41") {
				t.Errorf("error %q does not say %q at wuxiao.xikou.workflow/2@41", err, tc.want)
			}
		})
	}
	// Parameters of the media type are fine.
	m := good
	m.Headers = append([]kafka.Header(nil), good.Headers...)
	set(HeaderContentType, "application/json; charset=utf-8")(&m)
	if _, err := Decode(m); err != nil {
		t.Errorf("content-type with charset: %v", err)
	}
}
