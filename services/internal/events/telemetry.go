package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// scope names this package as the instrumentation library of its spans and
// metrics.
const scope = "github.com/wuxiao/wuxiao/services/internal/events"

// Telemetry chooses where spans, metrics and logs go; zero fields fall back
// to the global OTel providers and slog.Default().
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Logger         *slog.Logger
}

func (t Telemetry) tracer() trace.Tracer {
	tp := t.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(scope)
}

func (t Telemetry) meter() metric.Meter {
	mp := t.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(scope)
}

func (t Telemetry) logger() *slog.Logger {
	if t.Logger == nil {
		return slog.Default()
	}
	return t.Logger
}

// tracerFor is the tracer of the provider that made ctx's span, else the
// global one (see telemetry.TracerFor).
func tracerFor(ctx context.Context) trace.Tracer { return telemetry.TracerFor(ctx, scope) }

// Attributes of the OTel messaging semantic conventions.
func messagingAttrs(topic, key, op string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", op),
		attribute.String("messaging.destination.name", topic),
		attribute.String("messaging.kafka.message.key", key),
	}
}

// backoff is a capped exponential delay: min·2^(attempt-1), at most max.
func backoff(attempt int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// sleep waits d or until ctx ends, reporting whether it waited the whole d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
