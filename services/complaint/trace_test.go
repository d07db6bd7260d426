package complaint

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

func recordingProvider(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

func spanNamed(rec *tracetest.SpanRecorder, name string, trace trace.TraceID) sdktrace.ReadOnlySpan {
	for _, s := range rec.Ended() {
		if s.Name() == name && s.SpanContext().TraceID() == trace {
			return s
		}
	}
	return nil
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// A complaint's lifecycle is one trace: every transition's span is a child
// of the intake request's span (stored with the complaint) and links to
// the request that made it; the events, on Kafka, carry that trace, so the
// consumers' spans join it too.
func TestLifecycleIsOneTrace(t *testing.T) {
	ctx := context.Background()
	tp, rec := recordingProvider(t)
	tracer := tp.Tracer("test")
	s, clk := newService(t)
	s.Town = testinfra.UniqueName("t") // a topic of its own
	disc := discipline
	disc.Town = s.Town
	brokers := testinfra.KafkaBrokers(t)
	testinfra.CreateTopics(t, brokers, 1, s.topic())

	// The intake request.
	ictx, intake := tracer.Start(ctx, "POST /r/{village}")
	rc, err := s.File(ictx, Intake{Village: testVillage, Category: CategoryFunds, Description: "村集体资金去向不明，请核查"}, nil)
	intake.End()
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := s.Pool.QueryRow(ctx, `SELECT trace_parent FROM complaints WHERE id = $1`, rc.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("00-%s-%s-01", intake.SpanContext().TraceID(), intake.SpanContext().SpanID()); stored != want {
		t.Fatalf("stored traceparent %q, want %q", stored, want)
	}

	// Each action in a request of its own trace, days later.
	requests := map[string]trace.SpanContext{}
	for _, act := range []Action{{Type: ActionAccept}, {Type: ActionInvestigate},
		{Type: ActionResolve, Reason: "经查，村会计挪用集体资金属实", Outcome: OutcomeSubstantiated}} {
		clk.Advance(48 * time.Hour)
		rctx, req := tracer.Start(ctx, "POST /v1/complaints/{id}/actions")
		_, err := s.Act(rctx, disc, rc.ID, act)
		req.End()
		if err != nil {
			t.Fatalf("%s: %v", act.Type, err)
		}
		requests[act.Type] = req.SpanContext()
	}
	// A refused action leaves no span in the complaint's trace.
	if _, err := s.Act(ctx, disc, rc.ID, Action{Type: ActionAccept}); err == nil {
		t.Fatal("accepted a resolved complaint")
	}

	intakeTrace := intake.SpanContext().TraceID()
	for _, action := range []string{ActionAccept, ActionInvestigate, ActionResolve} {
		sp := spanNamed(rec, SpanName(action), intakeTrace)
		if sp == nil {
			t.Fatalf("no span %q in the intake's trace", SpanName(action))
		}
		if sp.Parent().SpanID() != intake.SpanContext().SpanID() || !sp.Parent().IsRemote() {
			t.Errorf("%s: parent %v, want the intake span %v", action, sp.Parent().SpanID(), intake.SpanContext().SpanID())
		}
		if l := sp.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != requests[action].SpanID() || l[0].SpanContext.TraceID() != requests[action].TraceID() {
			t.Errorf("%s: links %v, want the request span %v", action, l, requests[action].SpanID())
		}
		attrs := map[string]string{}
		for _, kv := range sp.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		if attrs[AttrComplaintID] != rc.ID || attrs[AttrAction] != action || attrs[AttrVillage] != testVillage {
			t.Errorf("%s: attributes %v", action, attrs)
		}
		if (action == ActionResolve) != (attrs[AttrOutcome] == "substantiated") {
			t.Errorf("%s: outcome attribute %q", action, attrs[AttrOutcome])
		}
		for _, v := range attrs {
			if v == rc.TrackingCode {
				t.Errorf("%s: the tracking code is in the span's attributes", action)
			}
		}
	}
	if spanNamed(rec, SpanName(ActionAccept), requests[ActionAccept].TraceID()) != nil {
		t.Error("the accept span is in the accepting request's trace, not the intake's")
	}

	// Through the outbox and Kafka, the resolved event carries the trace.
	relay := events.NewRelay(s.Pool, brokers, events.RelayOptions{Telemetry: events.Telemetry{TracerProvider: tp}, PollInterval: 200 * time.Millisecond})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	kctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	msgs, err := testinfra.ReadTopic(kctx, brokers, s.topic(), 3) // filed, accepted, resolved
	if err != nil {
		t.Fatalf("reading %s: %v (%d messages)", s.topic(), err, len(msgs))
	}
	var resolved *kafka.Message
	for i, m := range msgs {
		if header(m, events.HeaderType) == eventsv1.TypeComplaintResolved {
			resolved = &msgs[i]
		}
		// The filed event is in the intake's trace as well (the intake's
		// own request enqueued it).
		if parent := header(m, "traceparent"); len(parent) != 55 || parent[3:35] != intakeTrace.String() {
			t.Errorf("%s: traceparent %q, not in the intake's trace %s", header(m, events.HeaderType), parent, intakeTrace)
		}
	}
	if resolved == nil {
		t.Fatalf("no resolved event among %d messages", len(msgs))
	}
	resolveSpan := spanNamed(rec, SpanName(ActionResolve), intakeTrace)
	var create sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() == "create "+s.topic() && sp.Parent().SpanID() == resolveSpan.SpanContext().SpanID() {
			create = sp
		}
	}
	if create == nil {
		t.Fatal("no producer span under the resolve span")
	}
	if want := fmt.Sprintf("00-%s-%s-01", intakeTrace, create.SpanContext().SpanID()); header(*resolved, "traceparent") != want {
		t.Errorf("resolved event's traceparent %q, want %q (its producer span, child of the resolve span)", header(*resolved, "traceparent"), want)
	}
	var d eventsv1.ComplaintDecided
	if err := json.Unmarshal(resolved.Value, &d); err != nil || d.Outcome != eventsv1.ComplaintOutcomeSubstantiated {
		t.Errorf("resolved event %s: %v", resolved.Value, err)
	}
}

// Complaints filed before the trace context was kept (or by a caller with
// no span) have their transitions traced under the acting request; the
// escalation job's transitions join the intake's trace like any other.
func TestTransitionTraceFallbackAndEscalation(t *testing.T) {
	ctx := context.Background()
	tp, rec := recordingProvider(t)
	tracer := tp.Tracer("test")
	s, clk := newService(t)

	untraced, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryService, Description: "便民服务窗口经常无人值守"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, req := tracer.Start(ctx, "POST /v1/complaints/{id}/actions")
	if _, err := s.Act(rctx, discipline, untraced.ID, Action{Type: ActionAccept}); err != nil {
		t.Fatal(err)
	}
	req.End()
	sp := spanNamed(rec, SpanName(ActionAccept), req.SpanContext().TraceID())
	if sp == nil || sp.Parent().SpanID() != req.SpanContext().SpanID() || len(sp.Links()) != 0 {
		t.Fatalf("accept span of an untraced complaint: %v", sp)
	}

	ictx, intake := tracer.Start(ctx, "POST /v1/public/villages/{village}/complaints")
	traced, err := s.File(ictx, Intake{Village: testVillage, Category: CategoryProject, Description: "村道工程偷工减料，路面开裂"}, nil)
	intake.End()
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(AcceptWithin + time.Hour)
	jctx, job := tracer.Start(ctx, "escalate overdue complaints")
	if n, err := s.Escalate(jctx, 100); err != nil || n != 1 {
		t.Fatalf("escalated %d: %v", n, err) // the untraced one was accepted in time
	}
	job.End()
	esc := spanNamed(rec, SpanName(ActionEscalate), intake.SpanContext().TraceID())
	if esc == nil || esc.Parent().SpanID() != intake.SpanContext().SpanID() ||
		len(esc.Links()) != 1 || esc.Links()[0].SpanContext.SpanID() != job.SpanContext().SpanID() {
		t.Fatalf("escalation span of %s: %v", traced.TrackingCode, esc)
	}
}
