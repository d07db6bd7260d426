package complaint

// A complaint's lifecycle as one trace: the intake request's trace context
// is stored with the complaint (column trace_parent), and every later
// transition (accept, investigate, resolve, feedback, escalation) runs its
// database work and outbox enqueue under a span that is a child of it, with
// a link to the span of the request (or job) that made the transition. The
// outbox stores the trace context of that span with the event, so the
// consumers' spans (inspection's rating of the complaint) join the intake's
// trace too.

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// scope names this package as the instrumentation library of its spans.
const scope = "github.com/wuxiao/wuxiao/services/complaint"

// SpanName is the name of a transition's span: "complaint <action>", e.g.
// "complaint resolve". The complaint is an attribute (AttrComplaintID): the
// tracking code is the reporter's key to the public status page and stays
// out of telemetry, and span names stay few.
func SpanName(action string) string { return "complaint " + action }

// Attributes of a transition's span.
const (
	AttrComplaintID = "wuxiao.complaint.id"
	AttrAction      = "wuxiao.complaint.action"
	AttrCategory    = "wuxiao.complaint.category"
	AttrOutcome     = "wuxiao.complaint.outcome"
	AttrTown        = "wuxiao.town"
	AttrVillage     = "wuxiao.village"
)

// ActionEscalate names the escalation job's transitions in spans.
const ActionEscalate = "escalate"

// traceParentOf is the W3C traceparent of the span in ctx, "" when ctx has
// none. Only the trace context proper: baggage and tracestate, which may
// carry anything a client sent, are not kept.
func traceParentOf(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// intakeContext is the span context stored as traceparent (invalid when
// empty or malformed).
func intakeContext(traceParent string) trace.SpanContext {
	if traceParent == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceParent})
	return trace.SpanContextFromContext(ctx)
}

// startTransition starts the span of action on c: a child of the intake's
// trace context, linked to the span of ctx (the request or job acting).
// Without a stored intake context (complaints filed before it was kept) it
// is simply a child of ctx's span. Spans go to the TracerProvider of ctx's
// span, else the global one, as events.Enqueue does.
func startTransition(ctx context.Context, c *Complaint, action string) (context.Context, trace.Span) {
	current := trace.SpanFromContext(ctx)
	tp := otel.GetTracerProvider()
	if current.IsRecording() {
		tp = current.TracerProvider()
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
		attribute.String(AttrComplaintID, c.ID),
		attribute.String(AttrAction, action),
		attribute.String(AttrCategory, string(c.Category)),
		attribute.String(AttrTown, c.Town),
		attribute.String(AttrVillage, c.Village),
	)}
	if intake := intakeContext(c.TraceParent); intake.IsValid() {
		if request := current.SpanContext(); request.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: request,
				Attributes: []attribute.KeyValue{attribute.String("wuxiao.link", "request")}}))
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, intake)
	}
	return tp.Tracer(scope).Start(ctx, SpanName(action), opts...)
}
