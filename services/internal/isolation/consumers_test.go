package isolation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// eventFor is an event of stream that the consumer applies when it is
// town's, about village: the type the consumer turns into records.
func eventFor(t testing.TB, stream, town, village string) eventsv1.Event {
	t.Helper()
	now := time.Now().UTC()
	ev := eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/" + stream, Time: now, Town: town, Village: village}
	ref := eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: village + "-" + now.Format("20060102") + "-QWERT",
		ItemID: "decision-major-matters", ItemName: "重大事项决策", Category: "decision", CatalogVersion: "2020.1"}
	var data any
	switch stream {
	case eventsv1.StreamWorkflow:
		// A warning: the inspection rates it, the disclosure projects it.
		ev.Type = eventsv1.TypeWarningRaised
		data = eventsv1.WarningRaised{InstanceRef: ref, WarningID: uuid.NewString(), StepID: "plan-posting",
			Rule: "conflict-of-interest", Message: "利益冲突", Public: true, RaisedAt: now}
	case eventsv1.StreamComplaint:
		ev.Type = eventsv1.TypeComplaintAccepted
		data = eventsv1.ComplaintDecided{ComplaintRef: eventsv1.ComplaintRef{ComplaintID: uuid.NewString(), Category: "funds"},
			ActorID: "liaison", ActorRole: "liaison-officer", At: now}
	case eventsv1.StreamDisclosure:
		ev.Type = eventsv1.TypePaymentRecorded
		data = eventsv1.PaymentRecorded{PaymentID: uuid.NewString(), Village: village, Programme: "耕地地力保护补贴",
			PayeeNameMasked: "王*明", PayeeIDHash: personal.HashID(idHashKey, idNumber("33028319900101123")), AmountFen: 100, Date: now.Format(time.DateOnly)}
	case eventsv1.StreamTenant:
		return villageRegistered(town, village)
	default:
		t.Fatalf("no event for stream %s", stream)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	ev.Data = raw
	return ev
}

func isPermanent(err error) bool { return fmt.Sprintf("%T", err) == "events.permanentError" }

// TestConsumersRefuseAnotherTownsEvents extends the matrix to the
// consumers: every stream every service consumes, fed an event naming town
// Y (about town X's village and about town Y's), refuses it as Permanent
// (dead-lettered) and changes nothing; the same event naming town X is
// applied, so the refusal is about the town and nothing else. Through
// Kafka, the consumer itself dead-letters an event of town Y read from
// town X's topic without calling the handler.
func TestConsumersRefuseAnotherTownsEvents(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	apply := func(c consumer, ev eventsv1.Event) error {
		return store.InTx(ctx, c.pool, func(tx pgx.Tx) error { return c.handler(ctx, tx, ev) })
	}
	before := w.snapshot(t)
	for _, c := range w.consumers() {
		for _, village := range []string{v1, w1} {
			ev := eventFor(t, c.stream, w.townY, village)
			if err := apply(c, ev); !isPermanent(err) {
				t.Errorf("%s consuming %s: a %s of town Y about %s: %v, want a Permanent error", c.service, c.stream, ev.Type, village, err)
			}
		}
	}
	after := w.snapshot(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("town Y's events changed %s", k)
		}
	}
	for _, c := range w.consumers() {
		village := v1
		if c.stream == eventsv1.StreamTenant {
			village = "330283100209" // a new village of X: registering v1 again would be a replay
		}
		if err := apply(c, eventFor(t, c.stream, w.townX, village)); err != nil {
			t.Errorf("%s consuming %s: the same event of town X: %v", c.service, c.stream, err)
		}
	}
	if changed := w.snapshot(t); changed[svcInspection+".facts"] == after[svcInspection+".facts"] {
		t.Errorf("town X's warning and complaint made no rating fact: the control is broken")
	}

	// Through Kafka: the inspection's consumer of town X's workflow topic.
	brokers := testinfra.KafkaBrokers(t)
	topic := eventsv1.Topic(w.townX, eventsv1.StreamWorkflow)
	testinfra.CreateTopics(t, brokers, 1, topic, eventsv1.DeadLetterTopic(topic))
	forged, own := eventFor(t, eventsv1.StreamWorkflow, w.townY, v1), eventFor(t, eventsv1.StreamWorkflow, w.townX, v1)
	var msgs []kafka.Message
	for _, ev := range []eventsv1.Event{forged, own} {
		m, err := events.Encode(ctx, topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	tr := &kafka.Transport{}
	kw := &kafka.Writer{Addr: kafka.TCP(brokers...), Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer func() { _ = kw.Close(); tr.CloseIdleConnections() }()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := kw.WriteMessages(wctx, msgs...); err != nil {
		t.Fatal(err)
	}
	var called []string
	handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		called = append(called, ev.ID) // one consumer goroutine
		return w.ins.HandleWorkflowEvent(ctx, tx, ev)
	}
	group := "wuxiao-inspection-" + w.townX
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- events.NewConsumer(w.ins.Pool, brokers, group, []string{topic}, handler,
			events.ConsumerOptions{Telemetry: events.Telemetry{Logger: slog.New(slog.DiscardHandler)},
				BackoffMin: 20 * time.Millisecond, BackoffMax: time.Second}).Run(cctx)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int
		if err := w.ins.Pool.QueryRow(ctx, `SELECT count(*) FROM inbox WHERE consumer = $1`, group).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer finished with %d of 2 events", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var outcome string
	if err := w.ins.Pool.QueryRow(ctx, `SELECT outcome FROM inbox WHERE consumer = $1 AND event_id = $2`, group, forged.ID).Scan(&outcome); err != nil || outcome != "dead-lettered" {
		t.Errorf("town Y's event on town X's topic: %q (%v), want dead-lettered", outcome, err)
	}
	if len(called) != 1 || called[0] != own.ID {
		t.Errorf("the handler was called for %v, want only town X's event %s", called, own.ID)
	}
}
