package inspection

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The structured outcome decides the fact's subkind; the summary is read
// only for events without one (published before the field existed).
func TestComplaintFactOutcome(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	for _, tc := range []struct {
		name, outcome, summary, want string
	}{
		{"substantiated, summary silent", eventsv1.ComplaintOutcomeSubstantiated, "已责令退回多收款项", ComplaintSubstantiated},
		{"partly", eventsv1.ComplaintOutcomePartly, "经查", ComplaintPartly},
		{"outcome wins over the summary", eventsv1.ComplaintOutcomeUnsubstantiated, "经查，反映问题属实", ComplaintUnsubstantiated},
		{"unknown outcome is unrated", "confirmed", "经查，反映问题属实", ComplaintResolved},
		{"old event: summary read", "", "经查，反映问题部分属实", ComplaintPartly},
		{"old event: summary silent", "", "已向举报人解释政策", ComplaintResolved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := decisionEvent(t, eventsv1.TypeComplaintResolved, uuid.NewString(), svcVillage, tc.summary, tc.outcome, at)
			f, ok, err := ComplaintFact(ev)
			if err != nil || !ok || f.Subkind != tc.want || f.Kind != FactComplaint {
				t.Fatalf("fact %+v ok %v err %v, want subkind %s", f, ok, err, tc.want)
			}
		})
	}
}

func decisionEvent(t testing.TB, typ, complaintID, village, reason, outcome string, at time.Time) eventsv1.Event {
	t.Helper()
	data, err := json.Marshal(eventsv1.ComplaintDecided{ComplaintRef: eventsv1.ComplaintRef{ComplaintID: complaintID, TrackingCode: "TS-ABCD-EFGH",
		Category: "funds"}, ActorID: "discipline-1", ActorRole: "town-discipline", Reason: reason, Outcome: outcome, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + svcTown + "/complaint", Type: typ, Subject: "TS-ABCD-EFGH",
		Time: at.UTC(), Town: svcTown, Village: village, Data: data}
}

// A complaint's events, published in the intake's trace, are consumed
// through Kafka in that trace; the one that drops the village's grade puts
// the change (and the notice it issues) on the consumer's span.
func TestGradeChangeOnConsumerSpan(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	// 100 −15 −5 = 80, grade B: one substantiated complaint (−5) makes it C.
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day))
	handle(t, s, warningEvent(t, svcTown, svcVillage, "posting-duration", day))
	if r := rating(t, s, svcVillage); r.Points != 80 || r.Grade != GradeB {
		t.Fatalf("before: %d %s", r.Points, r.Grade)
	}

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 1)

	// The complaint service's transitions, each under a span of the intake's trace.
	ictx, intake := tp.Tracer("complaint").Start(context.Background(), "POST /r/{village}")
	intake.End()
	id := uuid.NewString()
	accepted := decisionEvent(t, eventsv1.TypeComplaintAccepted, id, svcVillage, "", "", day.AddDate(0, 0, 1))
	resolved := decisionEvent(t, eventsv1.TypeComplaintResolved, id, svcVillage, "已责令村会计退回款项", eventsv1.ComplaintOutcomeSubstantiated, day.AddDate(0, 0, 20))
	var msgs []kafka.Message
	for _, ev := range []eventsv1.Event{accepted, resolved} {
		m, err := events.Encode(ictx, topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	for {
		err := w.WriteMessages(wctx, msgs...)
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // a new topic's metadata may lag
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := events.NewConsumer(s.Pool, brokers, testinfra.UniqueName("g-"), []string{topic}, s.HandleComplaintEvent,
		events.ConsumerOptions{Telemetry: events.Telemetry{TracerProvider: tp, Logger: slog.New(slog.DiscardHandler)}, MaxWait: time.Second})
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	processed := func() []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, sp := range rec.Ended() {
			if sp.Name() == "process "+topic {
				out = append(out, sp)
			}
		}
		return out
	}
	deadline := time.Now().Add(time.Minute)
	for len(processed()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 events processed", len(processed()))
		}
		time.Sleep(100 * time.Millisecond)
	}

	r := rating(t, s, svcVillage)
	if r.Points != 75 || r.Grade != GradeC {
		t.Fatalf("after: %d %s, want 75 C", r.Points, r.Grade)
	}
	var number string
	if err := s.Pool.QueryRow(context.Background(), `SELECT number FROM notices WHERE village = $1`, svcVillage).Scan(&number); err != nil {
		t.Fatalf("the notice: %v", err)
	}
	for _, sp := range processed() {
		if sp.SpanContext().TraceID() != intake.SpanContext().TraceID() {
			t.Errorf("consumer span in trace %s, want the intake's %s", sp.SpanContext().TraceID(), intake.SpanContext().TraceID())
		}
		var evType string
		for _, kv := range sp.Attributes() {
			if kv.Key == "cloudevents.event_type" {
				evType = kv.Value.AsString()
			}
		}
		var changes []sdktrace.Event
		for _, e := range sp.Events() {
			if e.Name == EventRatingChanged {
				changes = append(changes, e)
			}
		}
		switch evType {
		case eventsv1.TypeComplaintAccepted:
			if len(changes) != 0 {
				t.Errorf("accepted (0 points) recorded a grade change: %v", changes)
			}
		case eventsv1.TypeComplaintResolved:
			if len(changes) != 1 {
				t.Fatalf("resolved: %d %s events, want 1", len(changes), EventRatingChanged)
			}
			got := map[string]string{}
			for _, kv := range changes[0].Attributes {
				got[string(kv.Key)] = kv.Value.Emit()
			}
			want := map[string]string{AttrRatingVillage: svcVillage, AttrRatingPeriod: "2026", AttrRatingGradeBefore: "B", AttrRatingGradeAfter: "C",
				AttrRatingPointsBefore: "80", AttrRatingPointsAfter: "75", AttrRatingFact: "complaint:" + id + ":resolved", AttrRatingNotice: number}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		default:
			t.Errorf("process span of %q", evType)
		}
	}
}
