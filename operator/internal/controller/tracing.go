package controller

// Tracing of the operator: every reconcile is a span ("reconcile <kind>"),
// the provisioning it does (databases, topics, Kratos identities, tenant
// events) are its children (operator/internal/provision), a tenant event
// carries the trace context of its "send" span, and the AckConsumer
// processes each service's acknowledgement in a span continuing the
// acknowledgement's trace context. So applying a Village, the services'
// processing of its registration, their acknowledgements and the status
// write that records them form one trace.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// tracingScope names this package as the instrumentation library of its spans.
const tracingScope = "github.com/wuxiao/wuxiao/operator/internal/controller"

// tracer is this package's tracer of the global provider, looked up on each
// use so that the provider installed by main (or a test) is the one used.
func tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(tracingScope) }

// Span attributes of a reconcile.
const (
	AttrKind      = attribute.Key("wuxiao.kind")
	AttrNamespace = attribute.Key("k8s.namespace.name")
	AttrName      = attribute.Key("wuxiao.object.name")
	AttrRequeue   = attribute.Key("wuxiao.requeue_after")
)

// ReconcileSpanName is the name of the span of one reconcile of kind, e.g.
// "reconcile village".
func ReconcileSpanName(kind string) string { return "reconcile " + kind }

// traced wraps r so that each reconcile runs in a root span of its own
// (a reconcile is caused by a watch, not by a request with a trace).
func traced(kind string, r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (res ctrl.Result, err error) {
		attrs := []attribute.KeyValue{AttrKind.String(kind), AttrName.String(req.Name)}
		if req.Namespace != "" {
			attrs = append(attrs, AttrNamespace.String(req.Namespace))
		}
		ctx, span := tracer().Start(ctx, ReconcileSpanName(kind), trace.WithNewRoot(),
			trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
		defer func() {
			if res.RequeueAfter > 0 {
				span.SetAttributes(AttrRequeue.String(res.RequeueAfter.String()))
			}
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}()
		return r.Reconcile(ctx, req)
	})
}

// TracingOptions configures the operator's traces.
type TracingOptions struct {
	// OTLPEndpoint is the OTLP/HTTP base URL (as OTEL_EXPORTER_OTLP_ENDPOINT),
	// e.g. http://otel-collector.monitoring:4318; spans go to
	// <endpoint>/v1/traces. Empty: no spans are exported.
	OTLPEndpoint string
	// SamplingRatio is the share of new traces (reconciles) sampled, 0 to 1;
	// acknowledgements continue their producer's decision.
	SamplingRatio float64
	// SpanExporter receives spans besides OTLP (tests).
	SpanExporter sdktrace.SpanExporter
}

// SetupTracing installs the operator's tracer provider and the W3C trace
// context propagator as the OpenTelemetry globals. The returned function
// flushes buffered spans; call it before the process exits. Without an
// endpoint or exporter the provider still samples (spans are dropped when
// they end), so the tenant events carry a trace context, as the services'
// events always do, and a district whose services export traces sees the
// registration's processing and acks grouped in one trace.
func SetupTracing(ctx context.Context, o TracingOptions) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if o.SamplingRatio < 0 || o.SamplingRatio > 1 {
		return nil, fmt.Errorf("trace sampling ratio %v is not between 0 and 1", o.SamplingRatio)
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv(),
		resource.WithAttributes(semconv.ServiceName("wuxiao-operator")))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SamplingRatio)))}
	if o.OTLPEndpoint != "" {
		u, err := url.Parse(o.OTLPEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("OTLP endpoint %q is not an http(s) URL, e.g. http://otel-collector:4318", o.OTLPEndpoint)
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
		if err != nil {
			return nil, fmt.Errorf("OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	if o.SpanExporter != nil {
		opts = append(opts, sdktrace.WithBatcher(o.SpanExporter))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}
