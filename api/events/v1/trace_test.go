package eventsv1

import (
	"context"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

var _ propagation.TextMapCarrier = HeaderCarrier{}

// The W3C propagator writes traceparent into the headers once (Set
// replaces, other headers stay) and reads the same span context back.
func TestHeaderCarrierTraceContext(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	headers := []kafka.Header{{Key: "ce_id", Value: []byte("1")}, {Key: HeaderTraceParent, Value: []byte("stale")}}
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	propagation.TraceContext{}.Inject(ctx, HeaderCarrier{Headers: &headers})

	c := HeaderCarrier{Headers: &headers}
	if got, want := c.Keys(), []string{"ce_id", HeaderTraceParent}; !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	if got, want := c.Get(HeaderTraceParent), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got != want {
		t.Errorf("traceparent %q, want %q", got, want)
	}
	if got := c.Get(HeaderTraceState); got != "" {
		t.Errorf("tracestate %q, want none", got)
	}
	back := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), c))
	if back.TraceID() != sc.TraceID() || back.SpanID() != sc.SpanID() || !back.IsSampled() {
		t.Errorf("extracted %v, want %v", back, sc)
	}
}
