package inspection

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
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
// only for events without one (published before the field existed). An
// outcome this version does not know is an error, not an unrated fact.
func TestComplaintFactOutcome(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	for _, tc := range []struct {
		name, outcome, summary, want string
		// wantErr, when set, is part of the error expected instead of a fact.
		wantErr string
	}{
		{name: "substantiated, summary silent", outcome: eventsv1.ComplaintOutcomeSubstantiated, summary: "已责令退回多收款项", want: ComplaintSubstantiated},
		{name: "partly", outcome: eventsv1.ComplaintOutcomePartly, summary: "经查", want: ComplaintPartly},
		{name: "outcome wins over the summary", outcome: eventsv1.ComplaintOutcomeUnsubstantiated, summary: "经查，反映问题属实", want: ComplaintUnsubstantiated},
		{name: "unknown outcome is an error", outcome: "confirmed", summary: "经查，反映问题属实", wantErr: `unknown outcome "confirmed"`},
		{name: "old event: summary read", summary: "经查，反映问题部分属实", want: ComplaintPartly},
		{name: "old event: summary silent", summary: "已向举报人解释政策", want: ComplaintResolved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := decisionEvent(t, eventsv1.TypeComplaintResolved, uuid.NewString(), svcVillage, tc.summary, tc.outcome, at)
			f, ok, err := ComplaintFact(ev)
			if tc.wantErr != "" {
				if err == nil || ok || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("fact %+v ok %v err %v, want an error with %q", f, ok, err, tc.wantErr)
				}
				return
			}
			if err != nil || !ok || f.Subkind != tc.want || f.Kind != FactComplaint {
				t.Fatalf("fact %+v ok %v err %v, want subkind %s", f, ok, err, tc.want)
			}
		})
	}
}

// A resolution with an outcome this version does not know goes, through a
// real consumer, to the dead-letter topic with the reason, and leaves no
// fact behind: the complaint's acceptance counts, the resolution's fact id
// stays free, and a version that knows the outcome rates it when the event
// is replayed from the dead-letter topic.
func TestUnknownOutcomeIsDeadLettered(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 1)
	dlq := eventsv1.DeadLetterTopic(topic)
	testinfra.CreateTopics(t, brokers, 1, dlq)

	id := uuid.NewString()
	accepted := decisionEvent(t, eventsv1.TypeComplaintAccepted, id, svcVillage, "", "", day)
	resolved := decisionEvent(t, eventsv1.TypeComplaintResolved, id, svcVillage, "经查，反映问题属实", "confirmed", day.AddDate(0, 0, 20))
	writeEvents(context.Background(), t, brokers, topic, accepted, resolved)

	group := testinfra.UniqueName("g-")
	consume := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		c := events.NewConsumer(s.Pool, brokers, group, []string{topic}, s.HandleComplaintEvent,
			events.ConsumerOptions{Telemetry: events.Telemetry{Logger: slog.New(slog.DiscardHandler)}, MaxWait: time.Second})
		go func() { done <- c.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consumer: %v", err)
			}
		}
	}
	stop := consume()

	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	parked, err := testinfra.ReadTopic(rctx, brokers, dlq, 1)
	if err != nil || len(parked) != 1 {
		stop()
		t.Fatalf("dead-letter topic: %d messages, %v", len(parked), err)
	}
	stop()
	headers := map[string]string{}
	for _, h := range parked[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers[events.HeaderID] != resolved.ID || !strings.Contains(headers[events.HeaderError], `unknown outcome "confirmed"`) {
		t.Fatalf("parked message headers %v, want event %s with the unknown outcome as its error", headers, resolved.ID)
	}
	// Dead-lettered after the acceptance was applied (one partition, in order).
	if n := count(t, s.Pool, `SELECT count(*) FROM facts WHERE id = $1`, "complaint:"+id+":accepted"); n != 1 {
		t.Errorf("acceptance facts: %d, want 1", n)
	}
	resolvedFact := "complaint:" + id + ":resolved"
	if n := count(t, s.Pool, `SELECT count(*) FROM facts WHERE id = $1`, resolvedFact); n != 0 {
		t.Fatalf("the unknown outcome was recorded as a fact (%d): a later version could never rate it", n)
	}
	before := rating(t, s, svcVillage)

	// A version that knows the outcome rates the event replayed from the
	// dead-letter topic, as it is.
	complaintOutcomes["confirmed"] = ComplaintSubstantiated
	t.Cleanup(func() { delete(complaintOutcomes, "confirmed") })
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(rctx, kafka.Message{Topic: topic, Key: parked[0].Key, Value: parked[0].Value, Headers: parked[0].Headers}); err != nil {
		t.Fatal(err)
	}
	stop = consume()
	defer stop()
	for count(t, s.Pool, `SELECT count(*) FROM facts WHERE id = $1`, resolvedFact) == 0 {
		if rctx.Err() != nil {
			t.Fatal("the replayed resolution was never rated")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after := rating(t, s, svcVillage); after.Points != before.Points-5 {
		t.Errorf("points %d -> %d, want the substantiated complaint's -5", before.Points, after.Points)
	}
}

// writeEvents publishes evs to topic in the trace of ctx, retrying while
// a new topic's metadata lags.
func writeEvents(ctx context.Context, t *testing.T, brokers []string, topic string, evs ...eventsv1.Event) {
	t.Helper()
	var msgs []kafka.Message
	for _, ev := range evs {
		m, err := events.Encode(ctx, topic, ev)
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
			return
		}
		if wctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // a new topic's metadata may lag
	}
}

func decisionEvent(t testing.TB, typ, complaintID, village, reason, outcome string, at time.Time) eventsv1.Event {
	t.Helper()
	data, err := json.Marshal(eventsv1.ComplaintDecided{ComplaintRef: eventsv1.ComplaintRef{ComplaintID: complaintID,
		Category: "funds"}, ActorID: "discipline-1", ActorRole: "town-discipline", Reason: reason, Outcome: outcome, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + svcTown + "/complaint", Type: typ, Subject: complaintID,
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
	writeEvents(ictx, t, brokers, topic, accepted, resolved)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := events.NewConsumer(s.Pool, brokers, testinfra.UniqueName("g-"), []string{topic}, s.HandleComplaintEvent,
		events.ConsumerOptions{Telemetry: events.Telemetry{TracerProvider: tp, Logger: slog.New(slog.DiscardHandler)}, MaxWait: time.Second})
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	})

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
	if err := s.Pool.QueryRow(context.Background(), `SELECT id::text FROM notices WHERE village = $1`, svcVillage).Scan(&number); err != nil {
		t.Fatalf("the draft notice: %v", err)
	}
	// Both checks below must run: a missing span fails the test rather
	// than skip them.
	var sawAccepted, sawResolved bool
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
			sawAccepted = true
			if len(changes) != 0 {
				t.Errorf("accepted (0 points) recorded a grade change: %v", changes)
			}
		case eventsv1.TypeComplaintResolved:
			sawResolved = true
			if len(changes) != 1 {
				t.Fatalf("resolved: %d %s events, want 1", len(changes), EventRatingChanged)
			}
			got := map[string]string{}
			for _, kv := range changes[0].Attributes {
				got[string(kv.Key)] = kv.Value.String()
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
	if !sawAccepted || !sawResolved {
		t.Fatalf("process spans: accepted %v, resolved %v; want both", sawAccepted, sawResolved)
	}
}
