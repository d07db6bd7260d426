// Package telemetry sets up OpenTelemetry for a service: traces exported over
// OTLP/HTTP (batched, parent-based ratio sampling) and metrics exposed in the
// Prometheus format from a private registry. Every span and metric carries
// the service name, the town (wuxiao.town) and the district
// (wuxiao.district): in Prometheus output the town and district are labels on
// every series (wuxiao_town, wuxiao_district), so RED dashboards can be cut
// per route and per town without joining on target_info.
//
// Exported spans never carry the caller's address, port or user agent, nor
// a raw request path (see RedactExporter): reporters stay unidentifiable.
//
// Setup also installs its providers and the W3C TraceContext + Baggage
// propagator as the process-wide OpenTelemetry globals, so libraries that use
// the globals (Kafka header propagation, otelhttp clients) join the same
// traces.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys naming the tenant of every span and metric.
const (
	TownKey     = attribute.Key("wuxiao.town")
	DistrictKey = attribute.Key("wuxiao.district")
)

// Options configures Setup.
type Options struct {
	ServiceName string // e.g. "wuxiao-workflow"
	Town        string
	District    string
	// OTLPEndpoint is the OTLP/HTTP base URL (as OTEL_EXPORTER_OTLP_ENDPOINT),
	// e.g. http://collector:4318; traces go to <endpoint>/v1/traces. Empty
	// exports no traces over OTLP.
	OTLPEndpoint string
	// SamplingRatio is the share of new (root) traces sampled, 0 to 1;
	// requests that arrive with a sampled parent are always recorded.
	SamplingRatio float64
	// SpanExporter receives spans in addition to OTLP (tests use an
	// in-memory exporter). Both get spans through RedactExporter.
	SpanExporter sdktrace.SpanExporter
	// Registry receives the metrics; nil creates a private one holding the Go
	// runtime and process collectors too.
	Registry *prometheus.Registry
	// Logger receives OpenTelemetry's internal errors (failed exports);
	// nil uses slog.Default().
	Logger *slog.Logger
}

// Telemetry holds the providers a service passes to its instrumentation.
type Telemetry struct {
	TracerProvider *sdktrace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
	Registry       *prometheus.Registry
	Resource       *resource.Resource
	Propagator     propagation.TextMapPropagator
	Town           string
	District       string
}

// Setup builds the providers described by opts and installs them as the
// OpenTelemetry globals. Call Shutdown before the process exits so buffered
// spans are exported.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	if opts.SamplingRatio < 0 || opts.SamplingRatio > 1 {
		return nil, fmt.Errorf("telemetry: sampling ratio %v is not between 0 and 1", opts.SamplingRatio)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}

	// Explicit options win over OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME,
	// which are merged first.
	var attrs []attribute.KeyValue
	if opts.ServiceName != "" {
		attrs = append(attrs, semconv.ServiceName(opts.ServiceName))
	}
	if opts.Town != "" {
		attrs = append(attrs, TownKey.String(opts.Town))
	}
	if opts.District != "" {
		attrs = append(attrs, DistrictKey.String(opts.District))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithFromEnv(),
		resource.WithAttributes(attrs...),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	town, _ := res.Set().Value(TownKey)
	district, _ := res.Set().Value(DistrictKey)

	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SamplingRatio))),
	}
	if opts.OTLPEndpoint != "" {
		target, err := tracesURL(opts.OTLPEndpoint)
		if err != nil {
			return nil, err
		}
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(target))
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(RedactExporter(exp)))
	}
	if opts.SpanExporter != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(RedactExporter(opts.SpanExporter)))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		// Runtime metrics carry the town too, like everything else scraped here.
		wrapped := prometheus.WrapRegistererWith(prometheus.Labels{promLabel(TownKey): town.AsString(), promLabel(DistrictKey): district.AsString()}, reg)
		wrapped.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithResourceAsConstantLabels(attribute.NewAllowKeysFilter(TownKey, DistrictKey)),
	)
	if err != nil {
		_ = tp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: Prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(exporter))

	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(prop)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "error", err.Error())
	}))

	return &Telemetry{
		TracerProvider: tp,
		MeterProvider:  mp,
		Registry:       reg,
		Resource:       res,
		Propagator:     prop,
		Town:           town.AsString(),
		District:       district.AsString(),
	}, nil
}

// tracesURL turns an OTLP base URL into the traces endpoint, as the
// OTEL_EXPORTER_OTLP_ENDPOINT specification says: <base>/v1/traces.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("telemetry: OTLP endpoint %q is not an http(s) URL, e.g. http://collector:4318", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	return u.String(), nil
}

// promLabel is the Prometheus label name the exporter gives an attribute.
func promLabel(k attribute.Key) string { return strings.ReplaceAll(string(k), ".", "_") }

// Tracer returns a tracer of this service's provider.
func (t *Telemetry) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return t.TracerProvider.Tracer(name, opts...)
}

// Meter returns a meter of this service's provider.
func (t *Telemetry) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return t.MeterProvider.Meter(name, opts...)
}

// MetricsHandler serves the registry in the Prometheus exposition format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry})
}

// PgxTracer traces and measures PostgreSQL queries, connections and pool
// acquisitions; set it as pgxpool.Config.ConnConfig.Tracer before creating
// the pool. Query parameters are never recorded (they may hold citizens'
// personal data); the SQL text is.
func (t *Telemetry) PgxTracer() *otelpgx.Tracer {
	return otelpgx.NewTracer(
		otelpgx.WithTracerProvider(t.TracerProvider),
		otelpgx.WithMeterProvider(t.MeterProvider),
	)
}

// RecordPoolStats exports the pool's connection statistics as metrics.
func (t *Telemetry) RecordPoolStats(pool *pgxpool.Pool) error {
	return otelpgx.RecordStats(pool, otelpgx.WithStatsMeterProvider(t.MeterProvider))
}

// Shutdown flushes buffered spans and stops both providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.TracerProvider.Shutdown(ctx), t.MeterProvider.Shutdown(ctx))
}
