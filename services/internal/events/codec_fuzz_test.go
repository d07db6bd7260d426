package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// FuzzCodecRoundTrip: every event Encode accepts, Decode reads back equal,
// under the key of its village (else town).
func FuzzCodecRoundTrip(f *testing.F) {
	f.Add("e1", "/towns/xikou/workflow", "cn.wuxiao.workflow.warning.raised.v1", "330283100201", int64(1772409600), int64(123456789), "xikou", "330283100201", []byte(`{"a":1}`))
	f.Add("e2", "/towns/xikou/complaint", "cn.wuxiao.complaint.filed.v2", "", int64(0), int64(0), "xikou", "", []byte(`"x"`))
	f.Add("é", "s", "cn.wuxiao.x.y-z.v0", "\x00", int64(-62135596800), int64(999999999), "t\x00", "12345678901", []byte(`null`))
	f.Add("id", "src", "cn.wuxiao.tenant.village.registered.v1", "s", int64(253402300799), int64(1), "town", "123456789012", []byte(`[1, 2 ,3]`))
	// Year 10000: Encode wrote a ce_time Decode (RFC 3339, four-digit
	// years) refused, so the event was dead-lettered as malformed.
	f.Add("id", "src", "cn.wuxiao.tenant.village.registered.v1", "", int64(253402300800), int64(0), "town", "", []byte(`{}`))
	f.Fuzz(func(t *testing.T, id, source, typ, subject string, sec, nsec int64, town, village string, data []byte) {
		ev := eventsv1.Event{ID: id, Source: source, Type: typ, Subject: subject,
			Time: time.Unix(sec, nsec), Town: town, Village: village, Data: data}
		m, err := Encode(context.Background(), eventsv1.Topic("xikou", eventsv1.StreamWorkflow), ev)
		if err != nil {
			return
		}
		if ev.Validate() != nil || len(ev.Data) > MaxDataBytes {
			t.Fatalf("Encode accepted an invalid event %+v", ev)
		}
		got, err := Decode(m)
		if err != nil {
			t.Fatalf("Decode refused what Encode wrote (%+v): %v", ev, err)
		}
		if !sameEvent(ev, got) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, got)
		}
		if string(m.Key) != ev.Key() {
			t.Fatalf("key %q, want %q", m.Key, ev.Key())
		}
	})
}

// sameEvent compares two events, the times as instants. Empty attributes
// are not written (binary mode has no empty headers), so "" compares equal
// to absent.
func sameEvent(a, b eventsv1.Event) bool {
	return a.ID == b.ID && a.Source == b.Source && a.Type == b.Type && a.Subject == b.Subject &&
		a.Time.Equal(b.Time) && a.DataSchema == b.DataSchema && a.Town == b.Town &&
		a.Village == b.Village && bytes.Equal(a.Data, b.Data)
}

// fuzzHeaders reads headers from text: one per line, name and value
// separated by the first '='.
func fuzzHeaders(s string) []kafka.Header {
	var hs []kafka.Header
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		hs = append(hs, kafka.Header{Key: k, Value: []byte(v)})
	}
	return hs
}

// FuzzDecodeMessage: whatever a producer put on the wire, Decode either
// refuses it as malformed or returns a valid event, under the right key,
// that encodes and decodes to itself.
func FuzzDecodeMessage(f *testing.F) {
	valid := "ce_specversion=1.0\nce_id=e1\nce_source=/towns/xikou/workflow\nce_type=cn.wuxiao.workflow.warning.raised.v1\n" +
		"ce_time=2026-03-02T10:00:00.5+08:00\nce_town=xikou\nce_village=330283100201\ncontent-type=application/json; charset=utf-8"
	f.Add(valid, []byte("330283100201"), []byte(`{"a":1}`))
	f.Add(valid+"\nce_id=e2", []byte("330283100201"), []byte(`{}`))
	f.Add(strings.Replace(valid, "ce_village=330283100201\n", "", 1), []byte("xikou"), []byte(`[]`))
	f.Add("ce_specversion=0.3", []byte(""), []byte(""))
	f.Add(strings.Replace(valid, "2026-03-02T10:00:00.5+08:00", "2026-13-02T10:00:00Z", 1), []byte("330283100201"), []byte(`1`))
	f.Add(valid+"\ntraceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", []byte("330283100201"), []byte(`true`))
	f.Fuzz(func(t *testing.T, headers string, key, value []byte) {
		m := kafka.Message{Topic: "wuxiao.xikou.workflow", Partition: 1, Offset: 7, Key: key, Value: value, Headers: fuzzHeaders(headers)}
		ev, err := Decode(m)
		if err != nil {
			if me := (*MalformedError)(nil); !errors.As(err, &me) {
				t.Fatalf("Decode failed with %T, not *MalformedError: %v", err, err)
			}
			return
		}
		if verr := ev.Validate(); verr != nil {
			t.Fatalf("Decode returned an invalid event: %v", verr)
		}
		if string(key) != ev.Key() {
			t.Fatalf("Decode accepted key %q for an event keyed %q", key, ev.Key())
		}
		if !json.Valid(ev.Data) {
			t.Fatalf("data %q is not JSON", ev.Data)
		}
		_ = Extract(context.Background(), m)
		m2, err := Encode(context.Background(), m.Topic, ev)
		if err != nil {
			if len(ev.Data) > MaxDataBytes {
				return
			}
			t.Fatalf("Decode accepted an event Encode refuses: %v", err)
		}
		ev2, err := Decode(m2)
		if err != nil || !sameEvent(ev, ev2) {
			t.Fatalf("decoded event does not round-trip: %v\n%+v\n%+v", err, ev, ev2)
		}
	})
}

// FuzzTopicTown: a topic is held to a town exactly when it is that town's
// stream (or its dead-letter topic) as eventsv1.Topic names it — the
// consumer's guard against another town's events relies on that.
func FuzzTopicTown(f *testing.F) {
	for _, s := range []string{"wuxiao.xikou.workflow", "wuxiao.xikou.tenant-acks.dlq", "wuxiao..workflow", "wuxiao.a.b.workflow",
		"wuxiao.xikou.other", "test-topic", "wuxiao.xikou.workflow.dlq.dlq"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		town, ok := TopicTown(topic)
		if !ok {
			if town != "" {
				t.Fatalf("%q: town %q without ok", topic, town)
			}
			return
		}
		if town == "" || strings.Contains(town, ".") {
			t.Fatalf("%q: town %q", topic, town)
		}
		for _, s := range eventsv1.Streams {
			if topic == eventsv1.Topic(town, s) || topic == eventsv1.DeadLetterTopic(eventsv1.Topic(town, s)) {
				return
			}
		}
		t.Fatalf("%q is held to town %q but is none of its topics", topic, town)
	})
}
