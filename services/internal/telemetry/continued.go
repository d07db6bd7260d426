package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// LinkKey names why a span links to another: LinkRequest or LinkOrigin.
const LinkKey = attribute.Key("wuxiao.link")

// Values of LinkKey.
const (
	// LinkRequest links a continued span to the request or job acting.
	LinkRequest = "request"
	// LinkOrigin links a span to the stored context it would have
	// continued, had that trace been recorded.
	LinkOrigin = "origin"
)

// TracerFor is the tracer named scope of the provider of ctx's span when
// it records (the request being served), else of the global provider: for
// code that takes no provider of its own.
func TracerFor(ctx context.Context, scope string) trace.Tracer {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		return span.TracerProvider().Tracer(scope)
	}
	return otel.GetTracerProvider().Tracer(scope)
}

// TraceParent is the W3C traceparent of the span in ctx, "" when ctx has
// none: what to store to continue its trace later. Only the trace context
// proper: baggage and tracestate, which may carry anything a client sent,
// are not kept.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// ParseTraceParent is the span context of a stored traceparent (invalid
// when empty or malformed).
func ParseTraceParent(traceParent string) trace.SpanContext {
	if traceParent == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceParent})
	return trace.SpanContextFromContext(ctx)
}

// StartContinued starts a span that continues the trace of origin (a
// stored context, e.g. a complaint's intake request) although ctx belongs
// to another request or job:
//
//   - origin valid and sampled: a child of origin, linked to ctx's span
//     (LinkRequest), so the story of one case is one trace;
//   - origin valid but not sampled: a child of ctx's span, linked to
//     origin (LinkOrigin): an unrecorded origin must not silence every
//     later step;
//   - no valid origin: simply a child of ctx's span.
//
// The tracer is TracerFor(ctx, scope).
func StartContinued(ctx context.Context, scope string, origin trace.SpanContext, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	tracer := TracerFor(ctx, scope)
	current := trace.SpanContextFromContext(ctx)
	switch {
	case origin.IsValid() && origin.IsSampled():
		if current.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: current,
				Attributes: []attribute.KeyValue{LinkKey.String(LinkRequest)}}))
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, origin)
	case origin.IsValid():
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: origin,
			Attributes: []attribute.KeyValue{LinkKey.String(LinkOrigin)}}))
	}
	return tracer.Start(ctx, name, opts...)
}
