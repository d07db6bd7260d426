package events

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// TestBatchHandlerAppliesEachOnce: a consumer with a BatchHandler hands it
// a batch's fresh events in one call, in order, without the copies and the
// events the inbox has seen. An event the batch handler names as failed
// for good (EventFailed with Permanent) rolls its batch back; the others
// are applied one at a time by the Handler, and the failed one is
// dead-lettered without another attempt (its batch failure was its
// first). A malformed message is dead-lettered too, and every other event
// is applied once, in order.
func TestBatchHandlerAppliesEachOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, brokers, topic, group, evs := batchScene(ctx, t, "batchh-")
	const n = batchSceneEvents
	poison := evs[150]
	var msgs []kafka.Message
	for i, ev := range evs {
		for range 1 + min(1, i%50/49) { // every 50th event twice in a row
			m, err := Encode(ctx, topic, ev)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
		}
		if i == 100 {
			msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(villages[0]), Value: []byte("{not an event")})
		}
	}
	if err := testWriter(t, brokers).WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	var one, batches, batched, poisonOne atomic.Int32
	var mu sync.Mutex
	var poisonBatched bool
	handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		one.Add(1)
		if ev.ID == poison.ID {
			poisonOne.Add(1)
			return Permanent(errors.New("poison"))
		}
		return recordHandler(ctx, tx, ev)
	}
	batch := func(ctx context.Context, tx pgx.Tx, evs []BatchEvent) error {
		b := &pgx.Batch{}
		ids := map[string]bool{}
		for _, e := range evs {
			if e.Ctx == nil {
				return errors.New("an event without its context")
			}
			if ids[e.Event.ID] {
				return errors.New("an event twice in a batch: " + e.Event.ID)
			}
			ids[e.Event.ID] = true
			if e.Event.ID == poison.ID {
				mu.Lock()
				poisonBatched = true
				mu.Unlock()
				return EventFailed(e.Event.ID, Permanent(errors.New("poison")))
			}
			var p payload
			if err := e.Event.Decode(&p); err != nil {
				return EventFailed(e.Event.ID, Permanent(err))
			}
			b.Queue(`INSERT INTO received (event_id, village, n) VALUES ($1, $2, $3)`, e.Event.ID, p.Village, p.N)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		batches.Add(1)
		batched.Add(int32(len(evs)))
		return nil
	}
	opts := fastConsumer(t)
	opts.Batch = batch
	stop := background(t, NewConsumer(pool, brokers, group, []string{topic}, handler, opts).Run)
	eventually(t, "every event", func() (bool, string) {
		got := count(t, pool, `SELECT count(*) FROM inbox WHERE consumer = $1`, group)
		return got == n+1, "not yet" // and the malformed message
	})
	stop()

	// Every event once, in order, but the poison one.
	rows, err := pool.Query(ctx, `SELECT n FROM received ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	applied := map[int]bool{}
	for _, i := range got {
		v := villages[i%len(villages)]
		if applied[i] {
			t.Errorf("event %d applied twice", i)
		}
		applied[i] = true
		if i == 7 {
			continue // recorded before the consumer ran
		}
		if i < next[v] {
			t.Errorf("village %s: event %d after %d (order broken)", v, i, next[v]-len(villages))
		}
		next[v] = i + len(villages)
	}
	if len(got) != n-1 || applied[150] {
		t.Errorf("%d events applied (the poison one: %v), want %d without it", len(got), applied[150], n-1)
	}
	if got := count(t, pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND outcome = 'dead-lettered'`, group); got != 2 {
		t.Errorf("%d dead-lettered, want the malformed message and the poison event", got)
	}
	if batches.Load() == 0 || batched.Load() < n/2 {
		t.Errorf("the batch handler applied %d events in %d calls, want most of %d", batched.Load(), batches.Load(), n)
	}
	mu.Lock()
	defer mu.Unlock()
	if poisonBatched && poisonOne.Load() != 0 {
		t.Errorf("the poison event failed its batch, then its handler ran %d times: want none (the batch's failure was its first attempt, permanent)", poisonOne.Load())
	}
	t.Logf("%d events in %d batch calls, %d one at a time", batched.Load(), batches.Load(), one.Load())
}
