package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// fastRelay and fastConsumer keep retries short in tests; production defaults are slower.
func fastRelay(t testing.TB) RelayOptions {
	return RelayOptions{Telemetry: Telemetry{Logger: testLogger(t)}, BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second,
		PollInterval: 500 * time.Millisecond, WriteTimeout: 5 * time.Second}
}

func fastConsumer(t testing.TB) ConsumerOptions {
	return ConsumerOptions{Telemetry: Telemetry{Logger: testLogger(t)}, BackoffMin: 20 * time.Millisecond, BackoffMax: time.Second}
}

func TestEndToEnd(t *testing.T) {
	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 3)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	ropts := fastRelay(t)
	ropts.MeterProvider = mp
	copts := fastConsumer(t)
	copts.MeterProvider = mp

	// Rows enqueued before the relay starts are published too.
	const perVillage = 8
	for n := 0; n < perVillage/2; n++ {
		for _, v := range villages {
			mustEnqueue(t, pool, topic, testEvent(v, n))
		}
	}
	// A transaction that rolls back takes its event with it.
	rolledBack := testEvent(villages[0], 999)
	err := store.InTx(context.Background(), pool, func(tx pgx.Tx) error {
		if err := Enqueue(context.Background(), tx, topic, rolledBack); err != nil {
			return err
		}
		return errors.New("business rule violated")
	})
	if err == nil || err.Error() != "business rule violated" {
		t.Fatalf("rolled-back transaction: %v", err)
	}

	relay := NewRelay(pool, brokers, ropts)
	background(t, relay.Run)
	background(t, NewConsumer(pool, brokers, testinfra.UniqueName("g-"), []string{topic}, recordHandler, copts).Run)
	// And rows enqueued while it runs, several in one transaction.
	for n := perVillage / 2; n < perVillage; n++ {
		var evs []eventsv1.Event
		for _, v := range villages {
			evs = append(evs, testEvent(v, n))
		}
		mustEnqueue(t, pool, topic, evs...)
	}

	want := perVillage * len(villages)
	eventually(t, "every event applied", func() (bool, string) {
		n := count(t, pool, `SELECT count(*) FROM received`)
		return n >= want, fmt.Sprintf("%d of %d applied", n, want)
	})
	receivedInOrder(t, pool, want)
	// The relay stamps rows after Kafka acknowledged them, so possibly
	// after the consumer applied them.
	eventually(t, "every row stamped published", func() (bool, string) {
		n := count(t, pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL`)
		return n == 0, fmt.Sprintf("%d unpublished", n)
	})
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE attempts > 0`); n != 0 {
		t.Errorf("%d outbox rows needed retries", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE event_id = $1`, rolledBack.ID); n != 0 {
		t.Errorf("the rolled-back event is in the outbox")
	}
	msgs := readTopic(t, brokers, topic)
	if len(msgs) != want {
		t.Errorf("%d messages on the topic, want %d", len(msgs), want)
	}
	partitionOf := map[string]int{}
	for _, m := range msgs {
		if header(m, HeaderID) == rolledBack.ID {
			t.Errorf("the rolled-back event was published")
		}
		if p, ok := partitionOf[string(m.Key)]; ok && p != m.Partition {
			t.Errorf("village %s on partitions %d and %d", m.Key, p, m.Partition)
		}
		partitionOf[string(m.Key)] = m.Partition
	}
	if n := count(t, pool, `SELECT count(*) FROM inbox WHERE outcome = 'applied'`); n != want {
		t.Errorf("%d inbox rows, want %d", n, want)
	}

	// Counters are incremented just after the commits the test waited for.
	eventually(t, "the metrics", func() (bool, string) {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		published, consumed := sumCounter(rm, "wuxiao.events.outbox.published"), sumCounter(rm, "wuxiao.events.consumed")
		pending, okP := gauge(rm, "wuxiao.events.outbox.pending")
		active, okA := gauge(rm, "wuxiao.events.relay.active")
		state := fmt.Sprintf("published %d, consumed %d, pending %d (%v), active %d (%v); want %d, %d, 0",
			published, consumed, pending, okP, active, okA, want, want)
		// The backlog is reported by a relay at rest (active 0) as by the
		// active one.
		return published == int64(want) && consumed == int64(want) && okA && okP && pending == 0, state
	})
}

func sumCounter(rm metricdata.ResourceMetrics, name string) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range s.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

func gauge(rm metricdata.ResourceMetrics, name string) (int64, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == name && len(g.DataPoints) == 1 {
				return g.DataPoints[0].Value, true
			}
		}
	}
	return 0, false
}

func TestTraceContinuesFromProducerToConsumer(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 1)
	ropts := fastRelay(t)
	ropts.TracerProvider = tp
	copts := fastConsumer(t)
	copts.TracerProvider = tp
	var handlerSC atomic.Value
	handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		handlerSC.Store(trace.SpanContextFromContext(ctx))
		return recordHandler(ctx, tx, ev)
	}
	background(t, NewRelay(pool, brokers, ropts).Run)
	background(t, NewConsumer(pool, brokers, testinfra.UniqueName("g-"), []string{topic}, handler, copts).Run)

	// The request that changes something and announces it.
	ctx, request := tp.Tracer("test").Start(context.Background(), "POST /processes")
	if err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
		return Enqueue(ctx, tx, topic, testEvent(villages[0], 0))
	}); err != nil {
		t.Fatal(err)
	}
	request.End()

	var producer, consumer, send sdktrace.ReadOnlySpan
	eventually(t, "the consumer span", func() (bool, string) {
		producer, consumer, send = nil, nil, nil
		for _, s := range rec.Ended() {
			switch s.Name() {
			case "create " + topic:
				producer = s
			case "process " + topic:
				consumer = s
			case "send":
				send = s
			}
		}
		return producer != nil && consumer != nil && send != nil, fmt.Sprintf("%d spans ended", len(rec.Ended()))
	})
	if producer.SpanKind() != trace.SpanKindProducer || consumer.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("kinds: producer %v, consumer %v", producer.SpanKind(), consumer.SpanKind())
	}
	if producer.Parent().SpanID() != request.SpanContext().SpanID() {
		t.Errorf("producer span's parent %v, want the request span %v", producer.Parent().SpanID(), request.SpanContext().SpanID())
	}
	if consumer.SpanContext().TraceID() != producer.SpanContext().TraceID() {
		t.Errorf("consumer trace %v, producer trace %v", consumer.SpanContext().TraceID(), producer.SpanContext().TraceID())
	}
	if consumer.Parent().SpanID() != producer.SpanContext().SpanID() || !consumer.Parent().IsRemote() {
		t.Errorf("consumer span's parent %v (remote %v), want the producer span %v",
			consumer.Parent().SpanID(), consumer.Parent().IsRemote(), producer.SpanContext().SpanID())
	}
	if len(send.Links()) != 1 || send.Links()[0].SpanContext.SpanID() != producer.SpanContext().SpanID() {
		t.Errorf("relay send span links %v, want the producer span", send.Links())
	}
	if sc, _ := handlerSC.Load().(trace.SpanContext); sc.SpanID() != consumer.SpanContext().SpanID() {
		t.Errorf("handler ran in span %v, want the consumer span %v", sc.SpanID(), consumer.SpanContext().SpanID())
	}
}

func TestIdempotentConsumer(t *testing.T) {
	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 3)
	dup := testEvent(villages[0], 0)
	marker := testEvent(villages[0], 1)
	var msgs []kafka.Message
	for _, ev := range []eventsv1.Event{dup, dup, marker} {
		m, err := Encode(context.Background(), topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	// Two separate writes, as a relay publishing again after a crash would.
	w := testWriter(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, msgs[1:]...); err != nil {
		t.Fatal(err)
	}

	var calls atomic.Int32
	handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		calls.Add(1)
		return recordHandler(ctx, tx, ev)
	}
	reader := sdkmetric.NewManualReader()
	copts := fastConsumer(t)
	copts.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	group := testinfra.UniqueName("g-")
	background(t, NewConsumer(pool, brokers, group, []string{topic}, handler, copts).Run)
	// The marker follows both copies on the same partition.
	eventually(t, "the marker event", func() (bool, string) {
		n := count(t, pool, `SELECT count(*) FROM received WHERE event_id = $1`, marker.ID)
		return n == 1, "not yet"
	})
	if n := count(t, pool, `SELECT count(*) FROM received WHERE event_id = $1`, dup.ID); n != 1 {
		t.Errorf("the duplicated event was applied %d times, want once", n)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("handler called %d times, want 2 (the copy is skipped before the handler)", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM inbox WHERE consumer = $1`, group); n != 2 {
		t.Errorf("%d inbox rows, want 2", n)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if got := counterWith(rm, "wuxiao.events.consumed", "outcome", "duplicate"); got != 1 {
		t.Errorf("duplicates counted %d, want 1", got)
	}
}

func counterWith(rm metricdata.ResourceMetrics, name, key, value string) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range s.DataPoints {
					if v, ok := dp.Attributes.Value(attribute.Key(key)); ok && v.AsString() == value {
						n += dp.Value
					}
				}
			}
		}
	}
	return n
}

func TestDeadLetter(t *testing.T) {
	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 1)
	dlqTopic := eventsv1.DeadLetterTopic(topic)
	testinfra.CreateTopics(t, brokers, 1, dlqTopic)

	poison := testEvent(villages[0], 0)
	permanent := testEvent(villages[0], 1)
	good := testEvent(villages[0], 2)
	var msgs []kafka.Message
	for _, ev := range []eventsv1.Event{poison, permanent} {
		m, err := Encode(context.Background(), topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	// Not a CloudEvent at all.
	msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(villages[0]), Value: []byte(`{"hello":"world"}`),
		Headers: []kafka.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}})
	m, err := Encode(context.Background(), topic, good)
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, m)
	w := testWriter(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	calls := map[string]int{}
	fixed := false // the poison event's cause fixed, for the replay
	handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		mu.Lock()
		calls[ev.ID]++
		ok := fixed
		mu.Unlock()
		// Whatever a failing handler wrote is rolled back.
		if err := recordHandler(ctx, tx, ev); err != nil {
			return err
		}
		switch {
		case ev.ID == poison.ID && ok:
		case ev.ID == poison.ID:
			return errors.New("village 330283101201 is archived")
		case ev.ID == permanent.ID:
			return Permanent(errors.New("unknown process definition"))
		}
		return nil
	}
	copts := fastConsumer(t)
	copts.MaxAttempts = 3
	group := testinfra.UniqueName("g-")
	background(t, NewConsumer(pool, brokers, group, []string{topic}, handler, copts).Run)

	eventually(t, "the good event after the bad ones", func() (bool, string) {
		return count(t, pool, `SELECT count(*) FROM received WHERE event_id = $1`, good.ID) == 1, "not yet"
	})
	mu.Lock()
	if calls[poison.ID] != 3 || calls[permanent.ID] != 1 || calls[good.ID] != 1 {
		t.Errorf("handler calls %v, want poison 3, permanent 1, good 1", calls)
	}
	mu.Unlock()
	if n := count(t, pool, `SELECT count(*) FROM received`); n != 1 {
		t.Errorf("%d rows written, want only the good event's (failed attempts roll back)", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND outcome = 'dead-lettered'`, group); n != 3 {
		t.Errorf("%d dead-lettered inbox rows, want 3", n)
	}

	dead := readTopic(t, brokers, dlqTopic)
	if len(dead) != 3 {
		t.Fatalf("%d messages on %s, want 3", len(dead), dlqTopic)
	}
	want := []struct{ id, attempts, err string }{
		{poison.ID, "3", "village 330283101201 is archived"},
		{permanent.ID, "1", "unknown process definition"},
		{"", "0", "no ce_specversion header"},
	}
	for i, d := range dead {
		w := want[i]
		if header(d, HeaderID) != w.id || header(d, HeaderAttempts) != w.attempts ||
			!strings.Contains(header(d, HeaderError), w.err) || header(d, HeaderConsumer) != group ||
			header(d, HeaderOrigin) != fmt.Sprintf("%s/0/%d", topic, i) {
			t.Errorf("dead letter %d: id %q attempts %q error %q consumer %q origin %q; want %+v",
				i, header(d, HeaderID), header(d, HeaderAttempts), header(d, HeaderError), header(d, HeaderConsumer), header(d, HeaderOrigin), w)
		}
		if string(d.Key) != villages[0] || string(d.Value) != string(msgs[i].Value) {
			t.Errorf("dead letter %d: key %q value %s, want the original", i, d.Key, d.Value)
		}
	}
	// Original headers are kept: the dead letter still decodes as the event.
	if ev, err := Decode(dead[0]); err != nil || ev.ID != poison.ID {
		t.Errorf("dead letter does not decode as the original event: %v", err)
	}
	if header(dead[2], "traceparent") == "" {
		t.Errorf("the malformed message's headers were not kept")
	}

	// Once its cause is fixed, the dead letter replayed into the topic (as
	// it is, headers included) is applied; the other one stays parked.
	mu.Lock()
	fixed = true
	mu.Unlock()
	replay := kafka.Message{Topic: topic, Key: dead[0].Key, Value: dead[0].Value, Headers: dead[0].Headers}
	if err := w.WriteMessages(ctx, replay); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replayed event applied", func() (bool, string) {
		return count(t, pool, `SELECT count(*) FROM received WHERE event_id = $1`, poison.ID) == 1, "not yet"
	})
	if n := count(t, pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2 AND outcome = 'applied'`, group, poison.ID); n != 1 {
		t.Errorf("the replayed event's inbox row is not applied (%d)", n)
	}
	mu.Lock()
	if calls[poison.ID] != 4 || calls[permanent.ID] != 1 {
		t.Errorf("handler calls %v after the replay, want poison 4, permanent 1", calls)
	}
	mu.Unlock()
}

// Two replicas run a relay on the same schema: one publishes at a time (it
// holds the lock), and the other goes on alone when the first stops.
func TestSingleActiveRelay(t *testing.T) {
	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 3)
	a, b := fastRelay(t), fastRelay(t)
	a.Name, b.Name = "a", "b"
	relays := []*Relay{NewRelay(pool, brokers, a), NewRelay(pool, brokers, b)}
	stops := []func(){background(t, relays[0].Run), background(t, relays[1].Run)}

	var both atomic.Bool
	watch := background(t, func(ctx context.Context) error {
		for ctx.Err() == nil {
			if relays[0].leading.Load() && relays[1].leading.Load() {
				both.Store(true)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})

	n := 0
	enqueueSome := func(k int) {
		for i := 0; i < k; i++ {
			for _, v := range villages {
				mustEnqueue(t, pool, topic, testEvent(v, n))
			}
			n++
		}
	}
	allPublished := func() (bool, string) {
		u := count(t, pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL`)
		return u == 0, fmt.Sprintf("%d unpublished", u)
	}
	enqueueSome(15)
	eventually(t, "the first events published", allPublished)
	// One replica goes away; the other publishes the rest.
	stops[0]()
	enqueueSome(15)
	eventually(t, "the rest published", allPublished)
	watch()
	if both.Load() {
		t.Error("both relays held the lock at the same time")
	}

	msgs := readTopic(t, brokers, topic)
	want := n * len(villages)
	if len(msgs) != want {
		t.Errorf("%d messages on the topic, want exactly %d", len(msgs), want)
	}
	seen := map[string]bool{}
	next := map[string]int{}
	for _, m := range msgs {
		id := header(m, HeaderID)
		if seen[id] {
			t.Errorf("event %s published twice", id)
		}
		seen[id] = true
		var p payload
		if err := json.Unmarshal(m.Value, &p); err != nil {
			t.Fatal(err)
		}
		if p.N != next[p.Village] {
			t.Errorf("village %s: event %d on the topic where %d was due", p.Village, p.N, next[p.Village])
		}
		next[p.Village] = p.N + 1
	}
}

// The relay's database session dies (failover, network): it reconnects,
// takes the lock again and carries on; old published rows are pruned.
func TestRelayRecoversLostSessionAndPrunes(t *testing.T) {
	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 1)
	ctx := context.Background()
	// Published two days ago: beyond the default 24h retention.
	if _, err := pool.Exec(ctx, `INSERT INTO outbox (event_id, topic, key, headers, payload, created_at, published_at)
		VALUES ('old', $1, 'xikou', '{}', '{}', now() - interval '2 days', now() - interval '2 days')`, topic); err != nil {
		t.Fatal(err)
	}
	relay := NewRelay(pool, brokers, fastRelay(t))
	background(t, relay.Run)
	background(t, NewConsumer(pool, brokers, testinfra.UniqueName("g-"), []string{topic}, recordHandler, fastConsumer(t)).Run)
	mustEnqueue(t, pool, topic, testEvent(villages[0], 0))
	eventually(t, "the first event", func() (bool, string) {
		return count(t, pool, `SELECT count(*) FROM received`) == 1, "not yet"
	})
	eventually(t, "the row published two days ago pruned", func() (bool, string) {
		return count(t, pool, `SELECT count(*) FROM outbox WHERE event_id = 'old'`) == 0, "still there"
	})
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != 1 {
		t.Errorf("%d outbox rows, want the recent one only", n)
	}

	// Its session is cut while it is active (it stays so for 2 ×
	// PollInterval after its last work: wake it until the cut hits it).
	eventually(t, "the relay's session terminated", func() (bool, string) {
		killed := count(t, pool, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = 'wuxiao-svc-relay' AND datname = current_database()`)
		if killed == 0 {
			wake("svc")
		}
		return killed > 0, "no relay session"
	})
	mustEnqueue(t, pool, topic, testEvent(villages[0], 1))
	eventually(t, "the event after the lost session", func() (bool, string) {
		return count(t, pool, `SELECT count(*) FROM received`) == 2, "not yet"
	})
	receivedInOrder(t, pool, 2)
}

// With polling practically off, only NOTIFY can wake the relay.
func TestRelayWakesOnNotify(t *testing.T) {
	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 1)
	opts := fastRelay(t)
	opts.PollInterval = time.Hour
	background(t, NewRelay(pool, brokers, opts).Run)
	for i := 0; i < 3; i++ {
		ev := testEvent(villages[0], i)
		mustEnqueue(t, pool, topic, ev)
		eventually(t, "the relay to publish "+ev.ID, func() (bool, string) {
			return count(t, pool, `SELECT count(*) FROM outbox WHERE event_id = $1 AND published_at IS NOT NULL`, ev.ID) == 1, "unpublished"
		})
	}
}
