package events

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestBatchedConsumerAppliesEachOnce: with the events on the topic before
// the consumer starts, fetches bring many at once and the consumer applies
// them in batches (consumer_batch.go). Among them are copies of events
// (a relay publishing again after a crash, within one batch and across
// batches), an event the inbox already has (applied before a crash moved
// the offset), a malformed message, and an event whose handler fails once
// (its batch is rolled back and applied one at a time). Every event is
// applied exactly once, the malformed one is dead-lettered, and a second
// delivery of everything (as after a crash before the offsets moved)
// changes nothing.
func TestBatchedConsumerAppliesEachOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, brokers, topic, group, evs := batchScene(ctx, t, "batch-")
	const n = batchSceneEvents
	flaky := evs[150]
	var msgs []kafka.Message
	add := func(ev eventsv1.Event) {
		m, err := Encode(ctx, topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	for i, ev := range evs {
		add(ev)
		if i%50 == 10 {
			add(ev) // a copy right behind: same batch
		}
		if i == 100 {
			msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(villages[0]), Value: []byte("{not an event")})
		}
	}
	add(evs[3]) // a copy much later: another batch
	w := testWriter(t, brokers)
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	var calls, failed atomic.Int32
	handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		calls.Add(1)
		if ev.ID == flaky.ID && failed.Add(1) == 1 {
			return errors.New("the handler fails once")
		}
		return recordHandler(ctx, tx, ev)
	}
	run := func() {
		stop := background(t, NewConsumer(pool, brokers, group, []string{topic}, handler, fastConsumer(t)).Run)
		defer stop()
		eventually(t, "every event", func() (bool, string) {
			got := count(t, pool, `SELECT count(*) FROM inbox WHERE consumer = $1`, group)
			return got == n+1, "not yet" // and the malformed message, dead-lettered
		})
	}
	run()
	if got := count(t, pool, `SELECT count(*) FROM received`); got != n {
		t.Errorf("%d events applied, want %d", got, n)
	}
	if got := count(t, pool, `SELECT count(*) FROM (SELECT event_id FROM received GROUP BY event_id HAVING count(*) > 1) d`); got != 0 {
		t.Errorf("%d events applied more than once", got)
	}
	if got := count(t, pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND outcome = 'dead-lettered'`, group); got != 1 {
		t.Errorf("%d dead-lettered, want the malformed message", got)
	}
	if failed.Load() < 2 {
		t.Errorf("the flaky handler ran %d times, want a failure and a success", failed.Load())
	}
	// Calls beyond one per event and the flaky one's retry are the
	// events of its batch, rolled back and applied again one at a time:
	// the proof that batches ran.
	if c := calls.Load(); c <= n+1 || c > 2*n {
		t.Errorf("handler called %d times for %d events, want more than %d (a batch rolled back)", c, n, n+1)
	}

	// Everything again, as after a crash before the offsets moved.
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	marker := testEvent(villages[0], n)
	m, err := Encode(ctx, topic, marker)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, m); err != nil {
		t.Fatal(err)
	}
	stop := background(t, NewConsumer(pool, brokers, group, []string{topic}, handler, fastConsumer(t)).Run)
	eventually(t, "the marker behind the copies", func() (bool, string) {
		return count(t, pool, `SELECT count(*) FROM received WHERE event_id = $1`, marker.ID) == 1, "not yet"
	})
	stop()
	if got := count(t, pool, `SELECT count(*) FROM received`); got != n+1 {
		t.Errorf("after the redelivery %d events applied, want %d", got, n+1)
	}
	if c := calls.Load() - before; c != 1 {
		t.Errorf("the redelivery called the handler %d times, want once (the marker)", c)
	}
}

// batchSceneEvents is how many events the batched consumer tests send.
const batchSceneEvents = 300

// batchScene sets the batched consumer tests' scene: a topic with its
// dead-letter topic, a group named after prefix, batchSceneEvents events
// over the test villages, evs[7] applied before "the crash": its inbox row
// and its effect are there.
func batchScene(ctx context.Context, t *testing.T, prefix string) (pool *pgxpool.Pool, brokers []string, topic, group string, evs []eventsv1.Event) {
	t.Helper()
	pool = openDB(t)
	brokers = testinfra.KafkaBrokers(t)
	topic = testinfra.Topic(t, 1)
	testinfra.CreateTopics(t, brokers, 1, eventsv1.DeadLetterTopic(topic))
	group = testinfra.UniqueName(prefix)
	evs = make([]eventsv1.Event, batchSceneEvents)
	for i := range evs {
		evs[i] = testEvent(villages[i%len(villages)], i)
	}
	seen := evs[7]
	if _, err := pool.Exec(ctx, `INSERT INTO inbox (consumer, event_id, outcome) VALUES ($1, $2, 'applied')`, group, seen.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO received (event_id, village, n) VALUES ($1, $2, 7)`, seen.ID, seen.Village); err != nil {
		t.Fatal(err)
	}
	return pool, brokers, topic, group, evs
}
