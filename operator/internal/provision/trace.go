package provision

import (
	"context"
	"net/http"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// scope names this package as the instrumentation library of its spans.
const scope = "github.com/wuxiao/wuxiao/operator/internal/provision"

// tracer is this package's tracer of the global provider, looked up on
// each use so that a provider installed after start-up (main, tests) is
// the one used.
func tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(scope) }

// start starts a span of this package; end it with finish.
func start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer().Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// finish records err on span, if any, and ends it.
func finish(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceContext is the W3C trace context propagator: part of the events'
// wire contract (api/events/v1), whatever the process configured globally.
var traceContext = propagation.TraceContext{}

// ExtractTrace returns ctx carrying the remote span context of m's
// traceparent header (unchanged when it has none or a malformed one).
func ExtractTrace(ctx context.Context, m kafka.Message) context.Context {
	return traceContext.Extract(ctx, eventsv1.HeaderCarrier{Headers: &m.Headers})
}

// tracedTransport makes every request through rt a client span named
// "kratos <method>" (identity ids stay out of span names), of whichever
// provider is global when the request is made: clients are cached for the
// process's life, possibly created before the provider is installed.
func tracedTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(globalProvider{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "kratos " + r.Method }))
}

// globalProvider resolves the global tracer provider at each span start.
type globalProvider struct{ embedded.TracerProvider }

func (globalProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return globalTracer{name: name, opts: opts}
}

type globalTracer struct {
	embedded.Tracer
	name string
	opts []trace.TracerOption
}

func (t globalTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return otel.GetTracerProvider().Tracer(t.name, t.opts...).Start(ctx, name, opts...)
}
