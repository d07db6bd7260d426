package events

import (
	"context"
	"fmt"
	"mime"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// Header names of the CloudEvents Kafka binary binding and of our extensions.
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderSource      = "ce_source"
	HeaderType        = "ce_type"
	HeaderTime        = "ce_time"
	HeaderSubject     = "ce_subject"
	HeaderDataSchema  = "ce_dataschema"
	HeaderTown        = "ce_town"
	HeaderVillage     = "ce_village"
	HeaderContentType = "content-type"

	// Added to a message when a consumer dead-letters it.
	HeaderError    = "x-wuxiao-error"
	HeaderAttempts = "x-wuxiao-attempts"
	HeaderConsumer = "x-wuxiao-consumer"
	// HeaderOrigin is topic/partition/offset of the original message, for replays.
	HeaderOrigin = "x-wuxiao-origin"
)

// MaxDataBytes bounds an event's data. The relay packs several events into
// one produce request, and a single oversized event would otherwise block
// the outbox behind it forever (the broker's default limit is 1 MiB).
const MaxDataBytes = 512 << 10

// propagator injects and extracts the W3C trace context always (it is part
// of the wire contract), plus whatever else the process configured globally
// (baggage, for instance).
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, otel.GetTextMapPropagator())
}

// Encode turns ev into the Kafka message for topic in CloudEvents binary
// mode, with the trace context of ctx in traceparent/tracestate.
func Encode(ctx context.Context, topic string, ev eventsv1.Event) (kafka.Message, error) {
	if err := ev.Validate(); err != nil {
		return kafka.Message{}, err
	}
	if len(ev.Data) > MaxDataBytes {
		return kafka.Message{}, fmt.Errorf("event %s: data is %d bytes, more than %d", ev.ID, len(ev.Data), MaxDataBytes)
	}
	headers := make([]kafka.Header, 0, 12)
	add := func(k, v string) {
		if v != "" {
			headers = append(headers, kafka.Header{Key: k, Value: []byte(v)})
		}
	}
	add(HeaderSpecVersion, eventsv1.SpecVersion)
	add(HeaderID, ev.ID)
	add(HeaderSource, ev.Source)
	add(HeaderType, ev.Type)
	add(HeaderTime, ev.Time.UTC().Format(time.RFC3339Nano))
	add(HeaderSubject, ev.Subject)
	add(HeaderDataSchema, ev.DataSchema)
	add(HeaderTown, ev.Town)
	add(HeaderVillage, ev.Village)
	add(HeaderContentType, eventsv1.ContentType)
	propagator().Inject(ctx, eventsv1.HeaderCarrier{Headers: &headers})
	return kafka.Message{Topic: topic, Key: []byte(ev.Key()), Headers: headers, Value: ev.Data}, nil
}

// MalformedError reports a Kafka message that is not a valid event.
type MalformedError struct {
	Topic     string
	Partition int
	Offset    int64
	Reason    string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("malformed event at %s/%d@%d: %s", e.Topic, e.Partition, e.Offset, e.Reason)
}

// Decode reads the event of a message written by Encode (or any CloudEvents
// binary-mode producer following eventsv1) and validates it. Every problem
// is a *MalformedError.
func Decode(m kafka.Message) (eventsv1.Event, error) {
	bad := func(format string, args ...any) (eventsv1.Event, error) {
		return eventsv1.Event{}, &MalformedError{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Reason: fmt.Sprintf(format, args...)}
	}
	h := make(map[string]string, len(m.Headers))
	for _, hd := range m.Headers {
		if _, dup := h[hd.Key]; dup && (strings.HasPrefix(hd.Key, "ce_") || hd.Key == HeaderContentType) {
			return bad("header %s appears more than once", hd.Key)
		}
		h[hd.Key] = string(hd.Value)
	}
	if v, ok := h[HeaderSpecVersion]; !ok {
		return bad("no %s header (not a CloudEvent in binary mode)", HeaderSpecVersion)
	} else if v != eventsv1.SpecVersion {
		return bad("%s is %q, want %q", HeaderSpecVersion, v, eventsv1.SpecVersion)
	}
	if ct, ok := h[HeaderContentType]; ok {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != eventsv1.ContentType {
			return bad("content-type is %q, want %s", ct, eventsv1.ContentType)
		}
	}
	ev := eventsv1.Event{
		ID:         h[HeaderID],
		Source:     h[HeaderSource],
		Type:       h[HeaderType],
		Subject:    h[HeaderSubject],
		DataSchema: h[HeaderDataSchema],
		Town:       h[HeaderTown],
		Village:    h[HeaderVillage],
		Data:       m.Value,
	}
	if ts, ok := h[HeaderTime]; ok {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return bad("%s %q is not an RFC 3339 time", HeaderTime, ts)
		}
		ev.Time = t
	}
	if err := ev.Validate(); err != nil {
		return bad("%v", err)
	}
	if string(m.Key) != ev.Key() {
		// A wrong key would put the event on another partition than its
		// village's other events, silently breaking their order.
		return bad("key %q is not the event's village/town %q", m.Key, ev.Key())
	}
	return ev, nil
}

// Extract returns ctx carrying the remote span context found in m's headers.
func Extract(ctx context.Context, m kafka.Message) context.Context {
	return propagator().Extract(ctx, eventsv1.HeaderCarrier{Headers: &m.Headers})
}

// headerMap and headerList convert between the stored (jsonb object) and
// wire forms of headers; sorted so that the wire form is deterministic.
func headerMap(hs []kafka.Header) map[string]string {
	m := make(map[string]string, len(hs))
	for _, h := range hs {
		m[h.Key] = string(h.Value)
	}
	return m
}

func headerList(m map[string]string) []kafka.Header {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hs := make([]kafka.Header, 0, len(keys))
	for _, k := range keys {
		hs = append(hs, kafka.Header{Key: k, Value: []byte(m[k])})
	}
	return hs
}
