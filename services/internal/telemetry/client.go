package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// HTTPTransport makes every request through rt (nil: a clone of
// http.DefaultTransport) a client span named "<peer> <METHOD>", e.g.
// "kratos GET" (paths, which may hold identity ids, stay out of span
// names), child of the span in the request's context and recorded by that
// span's provider (TracerFor): a Kratos call made while serving a request
// joins the request's trace, whichever provider serves it. The W3C trace
// context is sent along. No metrics are recorded here (the services' RED
// metrics are their servers').
func HTTPTransport(rt http.RoundTripper, peer string) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(contextProvider{}),
		otelhttp.WithMeterProvider(noop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return peer + " " + r.Method }),
	)
}

// contextProvider is a TracerProvider whose tracers start each span with
// TracerFor(ctx, name): the provider of the context's recording span, else
// the global one.
type contextProvider struct{ embedded.TracerProvider }

func (contextProvider) Tracer(name string, _ ...trace.TracerOption) trace.Tracer {
	return contextTracer{scope: name}
}

type contextTracer struct {
	embedded.Tracer
	scope string
}

func (t contextTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return TracerFor(ctx, t.scope).Start(ctx, name, opts...)
}
