package telemetry

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestTraceParentRoundTrip(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(context.Background(), "intake")
	defer span.End()
	tp0 := TraceParent(ctx)
	if want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"; tp0 != want {
		t.Fatalf("TraceParent = %q, want %q", tp0, want)
	}
	if sc := ParseTraceParent(tp0); !sc.Equal(span.SpanContext().WithRemote(true)) {
		t.Errorf("ParseTraceParent = %v, want %v", sc, span.SpanContext())
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-0000000000000000-01"} {
		if ParseTraceParent(bad).IsValid() {
			t.Errorf("ParseTraceParent(%q) is valid", bad)
		}
	}
	if TraceParent(context.Background()) != "" {
		t.Error("TraceParent of a context without a span is not empty")
	}
}

func TestStartContinued(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("test")
	_, intake := tracer.Start(context.Background(), "intake")
	intake.End()
	sampled := intake.SpanContext()
	unsampled := sampled.WithTraceFlags(0)

	tests := []struct {
		name      string
		origin    trace.SpanContext
		wantTrace string // "origin" or "request"
		wantLink  string // LinkKey of the one link, "" for none
	}{
		{"sampled origin: continue it, link the request", sampled, "origin", LinkRequest},
		{"unsampled origin: stay in the request, link the origin", unsampled, "request", LinkOrigin},
		{"no origin: a child of the request", trace.SpanContext{}, "request", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rctx, req := tracer.Start(context.Background(), "request")
			_, sp := StartContinued(rctx, "scope", tt.origin, "step")
			sp.End()
			req.End()
			ro, ok := sp.(sdktrace.ReadOnlySpan)
			if !ok || !ro.SpanContext().IsSampled() {
				t.Fatal("the step is not sampled")
			}
			want, other := req.SpanContext(), sampled
			if tt.wantTrace == "origin" {
				want, other = sampled, req.SpanContext()
			}
			if ro.Parent().SpanID() != want.SpanID() || ro.SpanContext().TraceID() != want.TraceID() {
				t.Errorf("parent %v in trace %v, want the %s span", ro.Parent().SpanID(), ro.SpanContext().TraceID(), tt.wantTrace)
			}
			links := ro.Links()
			if tt.wantLink == "" {
				if len(links) != 0 {
					t.Errorf("links %v, want none", links)
				}
				return
			}
			if len(links) != 1 || links[0].SpanContext.SpanID() != other.SpanID() ||
				len(links[0].Attributes) != 1 || links[0].Attributes[0] != LinkKey.String(tt.wantLink) {
				t.Errorf("links %v, want one to %v labelled %s", links, other.SpanID(), tt.wantLink)
			}
		})
	}
}
