package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

// recordSpans installs a global tracer provider that samples as sampler and
// records every ended span, for the test's duration.
func recordSpans(t *testing.T, sampler sdktrace.Sampler) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sampler))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})
	return rec
}

func findSpan(rec *tracetest.SpanRecorder, match func(sdktrace.ReadOnlySpan) bool) sdktrace.ReadOnlySpan {
	for _, s := range rec.Ended() {
		if match(s) {
			return s
		}
	}
	return nil
}

// TestVillageTraceReachesTheAcks applies a Village against the real Kafka:
// the registration the operator publishes carries a traceparent (header
// eventsv1.HeaderTraceParent) of its "send" span, a child of the Village's
// reconcile span; each service's acknowledgement, published in a span
// continuing that context (as the services' consumers and outboxes do), is
// recorded by the operator in a span of the same trace, a child of the
// ack's own traceparent. Applying a Village and the four acks are one trace.
func TestVillageTraceReachesTheAcks(t *testing.T) {
	rec := recordSpans(t, sdktrace.AlwaysSample())
	startManagerWith(t, Options{ArchiveNamespace: archiveNS})
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	v := newVillage(town, "tracing", "241")
	v.Spec.Officials = nil // identities are another test's; this one needs no Kratos
	must(t, k8s.Create(ctx, v))
	var got *wuxiaov1.Village
	eventually(t, wait, func() error {
		got = getVillage(t, v)
		if got.Status.RegisteredGeneration != got.Generation {
			return fmt.Errorf("registered generation %d: %+v", got.Status.RegisteredGeneration, got.Status.Conditions)
		}
		return nil
	})
	tenantTopic := eventsv1.Topic(town.Name, eventsv1.StreamTenant)
	reg := readEvent(t, d, tenantTopic, VillageEventID(got))
	tp := reg[eventsv1.HeaderTraceParent]
	remote := trace.SpanContextFromContext(provision.ExtractTrace(ctx, kafka.Message{Headers: []kafka.Header{
		{Key: eventsv1.HeaderTraceParent, Value: []byte(tp)}}}))
	if !remote.IsValid() || !remote.IsSampled() {
		t.Fatalf("the registration's traceparent %q is not a sampled trace context", tp)
	}
	var send, reconcileSpan sdktrace.ReadOnlySpan
	eventually(t, wait, func() error {
		send = findSpan(rec, func(s sdktrace.ReadOnlySpan) bool { return s.SpanContext().SpanID() == remote.SpanID() })
		if send == nil {
			return fmt.Errorf("no span %s recorded", remote.SpanID())
		}
		reconcileSpan = findSpan(rec, func(s sdktrace.ReadOnlySpan) bool {
			return s.SpanContext().SpanID() == send.Parent().SpanID()
		})
		if reconcileSpan == nil {
			return fmt.Errorf("the parent of %q is not recorded", send.Name())
		}
		return nil
	})
	if send.Name() != "send "+tenantTopic || send.SpanKind() != trace.SpanKindProducer {
		t.Errorf("the event's span is %q (%v), want a producer span send %s", send.Name(), send.SpanKind(), tenantTopic)
	}
	if reconcileSpan.Name() != ReconcileSpanName("village") || reconcileSpan.SpanContext().TraceID() != remote.TraceID() ||
		!slices.Contains(reconcileSpan.Attributes(), AttrName.String(v.Name)) {
		t.Errorf("the send span's parent is %q %v in trace %s, want %q of %s in trace %s", reconcileSpan.Name(),
			reconcileSpan.Attributes(), reconcileSpan.SpanContext().TraceID(), ReconcileSpanName("village"), v.Name, remote.TraceID())
	}

	// The services acknowledge, each from a span continuing the event's
	// trace (a service's "process" span, here of a tracer of its own).
	svcTracer := otel.GetTracerProvider().Tracer("a-town-service")
	acks := map[trace.SpanID]string{} // the acks' send spans
	for _, svc := range TownServices {
		sctx, span := svcTracer.Start(trace.ContextWithRemoteSpanContext(ctx, remote), "process "+tenantTopic,
			trace.WithSpanKind(trace.SpanKindConsumer))
		ev, err := eventsv1.NewVillageAck(svc, town.Name, got.Spec.Code, string(got.UID), got.Generation, eventsv1.StateLive, time.Now())
		must(t, err)
		must(t, provision.Publish(sctx, d.Spec.Kafka.BootstrapServers, eventsv1.Topic(town.Name, eventsv1.StreamTenantAcks), ev))
		span.End()
		ack := findSpan(rec, func(s sdktrace.ReadOnlySpan) bool {
			return s.Parent().SpanID() == span.SpanContext().SpanID() && strings.HasPrefix(s.Name(), "send ")
		})
		if ack == nil {
			t.Fatalf("no send span of %s's ack", svc)
		}
		acks[ack.SpanContext().SpanID()] = svc
	}
	eventually(t, wait, func() error {
		if g := getVillage(t, v); g.Status.Live != "4/4" {
			return fmt.Errorf("live %q", g.Status.Live)
		}
		return nil
	})
	acksTopic := eventsv1.Topic(town.Name, eventsv1.StreamTenantAcks)
	eventually(t, wait, func() error {
		seen := map[string]bool{}
		for _, s := range rec.Ended() {
			if svc, ok := acks[s.Parent().SpanID()]; ok && s.Name() == AckSpanName(acksTopic) {
				if s.SpanContext().TraceID() != remote.TraceID() || s.SpanKind() != trace.SpanKindConsumer {
					return fmt.Errorf("%s's ack processed in trace %s (%v), want %s", svc, s.SpanContext().TraceID(), s.SpanKind(), remote.TraceID())
				}
				seen[svc] = true
			}
		}
		if len(seen) != len(TownServices) {
			return fmt.Errorf("acks processed in the trace: %v of %v", seen, TownServices)
		}
		return nil
	})
}
