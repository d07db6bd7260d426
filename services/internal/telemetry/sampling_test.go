package telemetry_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestSampledTracesStayWholeAcrossKafka: a district sampling below 100%
// keeps each trace whole or drops it whole across services. A producer
// service samples new traces at 0.5 (its intake requests are roots); its
// events go through the outbox, the relay and the real Kafka to a consumer
// service with a tracer provider of its own, which runs the handler (the
// "rating change") in a child span. The consumer's sampling ratio is set
// apart from the producer's (1 and 0), so a consumer deciding by itself
// rather than by the sampled flag of the event's traceparent would record
// traces the producer dropped, or drop ones it kept: every trace must be
// recorded on both sides or on neither.
func TestSampledTracesStayWholeAcrossKafka(t *testing.T) {
	for _, tc := range []struct {
		name          string
		consumerRatio float64
	}{
		{"consumer samples everything it starts", 1},
		{"consumer samples nothing it starts", 0},
	} {
		t.Run(tc.name, func(t *testing.T) { sampledWhole(t, 0.5, tc.consumerRatio, 120) })
	}
}

func sampledWhole(t *testing.T, producerRatio, consumerRatio float64, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	setup := func(name string, ratio float64) (*telemetry.Telemetry, *tracetest.InMemoryExporter) {
		exp := tracetest.NewInMemoryExporter()
		tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: name, Town: "xikou", SamplingRatio: ratio,
			SpanExporter: exp, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
		return tel, exp
	}
	// The producer last: its provider is the global one, as in its process.
	consumer, consumed := setup("wuxiao-inspection", consumerRatio)
	producer, produced := setup("wuxiao-complaint", producerRatio)

	town := testinfra.UniqueName("t")
	topic := eventsv1.Topic(town, eventsv1.StreamComplaint)
	brokers := testinfra.KafkaBrokers(t)
	testinfra.CreateTopics(t, brokers, 2, topic, eventsv1.DeadLetterTopic(topic))
	pool, err := store.Open(ctx, testinfra.Postgres(t), "svc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	handled := map[string]trace.SpanContext{} // event id → the handler's span context
	done := make(chan struct{})
	handler := func(ctx context.Context, _ pgx.Tx, ev eventsv1.Event) error {
		_, span := telemetry.TracerFor(ctx, "rating").Start(ctx, "rating change")
		defer span.End()
		mu.Lock()
		defer mu.Unlock()
		if _, dup := handled[ev.ID]; !dup {
			handled[ev.ID] = span.SpanContext()
			if len(handled) == n {
				close(done)
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = events.NewRelay(pool, brokers, events.RelayOptions{Telemetry: events.Telemetry{TracerProvider: producer.TracerProvider, Logger: quiet},
			PollInterval: 100 * time.Millisecond}).Run(ctx)
	}()
	go func() {
		defer wg.Done()
		_ = events.NewConsumer(pool, brokers, testinfra.UniqueName("g"), []string{topic}, handler,
			events.ConsumerOptions{Telemetry: events.Telemetry{TracerProvider: consumer.TracerProvider, Logger: quiet}, MaxWait: time.Second}).Run(ctx)
	}()
	defer wg.Wait()
	defer cancel()

	// n intakes, each the root of its own trace.
	tracer := producer.Tracer("intake")
	intakes := map[string]trace.SpanContext{} // event id → the intake's span context
	for i := range n {
		ictx, span := tracer.Start(ctx, "POST /r/{village}", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer))
		data, _ := json.Marshal(map[string]int{"n": i})
		ev := eventsv1.Event{ID: testinfra.UniqueName("ev-"), Source: "/towns/" + town + "/complaint",
			Type: "cn.wuxiao.complaint.report.filed.v1", Time: time.Now(), Town: town, Village: "330283101201", Data: data}
		if err := store.InTx(ictx, pool, func(tx pgx.Tx) error { return events.Enqueue(ictx, tx, topic, ev) }); err != nil {
			t.Fatal(err)
		}
		span.End()
		intakes[ev.ID] = span.SpanContext()
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		mu.Lock()
		t.Fatalf("%d of %d events handled", len(handled), n)
	}
	// The last handler returned, but its process span may not have ended
	// yet: stop the relay and the consumer (ending their spans) first.
	cancel()
	wg.Wait()
	for _, tel := range []*telemetry.Telemetry{producer, consumer} {
		if err := tel.TracerProvider.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	byTrace := func(exp *tracetest.InMemoryExporter) map[trace.TraceID][]string {
		m := map[trace.TraceID][]string{}
		for _, s := range exp.GetSpans() {
			m[s.SpanContext.TraceID()] = append(m[s.SpanContext.TraceID()], s.Name)
		}
		return m
	}
	prod, cons := byTrace(produced), byTrace(consumed)
	kept := 0
	mu.Lock()
	defer mu.Unlock()
	for id, intake := range intakes {
		tid := intake.TraceID()
		h := handled[id]
		if h.TraceID() != tid {
			t.Errorf("event %s handled in trace %s, not its intake's %s", id, h.TraceID(), tid)
		}
		want := 0
		if intake.IsSampled() {
			want, kept = 2, kept+1
		}
		// Recorded: intake + create on the producer, process + rating
		// change on the consumer; dropped: nothing on either side.
		if len(prod[tid]) != want || len(cons[tid]) != want || h.IsSampled() != intake.IsSampled() {
			t.Errorf("trace %s (intake sampled %v): producer recorded %v, consumer %v (handler sampled %v)",
				tid, intake.IsSampled(), prod[tid], cons[tid], h.IsSampled())
		}
	}
	t.Logf("producer ratio %v, consumer ratio %v: %d of %d traces kept whole, the others dropped whole", producerRatio, consumerRatio, kept, n)
	if kept == 0 || kept == n {
		t.Errorf("%d of %d traces sampled at %v: the test proves nothing", kept, n, producerRatio)
	}
}
