package events

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// Applying the messages a fetch brought in one transaction (issue 18: the
// inspection consumer's 2,000 warnings/s). One at a time, an event costs
// BEGIN with its inbox row, the handler's statements, COMMIT and an offset
// commit to Kafka; in a batch the inbox rows are one statement, and BEGIN,
// COMMIT and the offset commit are shared. The guarantees stay:
//
//   - each event's effects and its inbox row commit together (one
//     transaction for all of them);
//   - offsets move only after that commit, so a crash redelivers, and the
//     inbox skips what was applied;
//   - an event the inbox has seen, one that does not decode, and every
//     event of a batch whose handler failed or whose commit failed go
//     through the one-at-a-time path (process), with its retries and dead
//     letters, in their order.
//
// A consumer whose options name a BatchHandler hands it all of a batch's
// fresh events in one call instead of calling the Handler once per event,
// so that the handler can read and write for all of them in a few round
// trips (the inspection service's ratings); a failure of that call is a
// failure of the batch, as above.

// BatchHandler applies the events of a batch inside the consumer's
// transaction, in their order, with exactly the effects its consumer's
// Handler would have applying them one at a time in that order: it is a
// faster way of doing the same, never another behaviour, since the
// Handler still applies the events when a batch fails. The events are
// decoded, of the topic's town, new to the inbox and distinct. Returning
// an error rolls the whole batch back; wrap it with EventFailed to say
// which event failed (its failure then counts as that event's first
// attempt).
type BatchHandler func(ctx context.Context, tx pgx.Tx, evs []BatchEvent) error

// BatchEvent is one event of a batch with its context, which carries the
// event's own consumer span: what the handler records on a span, and the
// trace context of the events it enqueues, belong to that event.
type BatchEvent struct {
	Ctx   context.Context
	Event eventsv1.Event
}

// EventFailed returns err as the failure of the batch's event id, for a
// BatchHandler.
func EventFailed(id string, err error) error {
	if err == nil {
		return nil
	}
	return &eventError{id: id, err: err}
}

type eventError struct {
	id  string
	err error
}

func (e *eventError) Error() string { return "event " + e.id + ": " + e.err.Error() }
func (e *eventError) Unwrap() error { return e.err }

// nextBatch returns m and the messages the reader already holds, up to
// BatchSize in all: it never waits for more to arrive, so that a lone
// event is not delayed.
func (c *Consumer) nextBatch(ctx context.Context, r *kafka.Reader, m kafka.Message) []kafka.Message {
	batch := []kafka.Message{m}
	if c.opts.BatchSize <= 1 {
		return batch
	}
	for len(batch) < c.opts.BatchSize {
		queued := int(r.Stats().QueueLength)
		if queued == 0 {
			break
		}
		for range min(queued, c.opts.BatchSize-len(batch)) {
			// Queued messages are there at once; the deadline only guards
			// against stale ones the reader drops after a rebalance.
			fctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			next, err := r.FetchMessage(fctx)
			cancel()
			if err != nil {
				return batch
			}
			batch = append(batch, next)
		}
	}
	return batch
}

// processBatch finishes with every message of batch (applied, skipped or
// dead-lettered), in one transaction when it can; it returns an error only
// when ctx ended first.
func (c *Consumer) processBatch(ctx context.Context, dlq *kafka.Writer, batch []kafka.Message) error {
	if len(batch) == 1 {
		return c.process(ctx, dlq, batch[0])
	}
	type item struct {
		m    kafka.Message
		ev   eventsv1.Event
		ok   bool // decoded, of the topic's town: may go in the batch
		span trace.Span
		ctx  context.Context
	}
	items := make([]item, len(batch))
	ids := make([]string, 0, len(batch))
	for i, m := range batch {
		items[i].m = m
		ev, err := Decode(m)
		if err != nil {
			continue
		}
		if town, ok := TopicTown(m.Topic); ok && ev.Town != town {
			continue
		}
		items[i].ev, items[i].ok = ev, true
		ids = append(ids, ev.ID)
	}
	applied := map[string]bool{} // event ids applied in the batch
	var failedID string          // the event whose handler failed the batch
	var failed error
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		clear(applied)
		// The events the inbox has not seen: only these run in the batch.
		rows, err := tx.Query(ctx, `INSERT INTO inbox (consumer, event_id, outcome)
			SELECT $1, id, 'applied' FROM unnest($2::text[]) AS id ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id`, c.group, ids)
		if err != nil {
			return err
		}
		fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		isFresh := make(map[string]bool, len(fresh))
		for _, id := range fresh {
			isFresh[id] = true
		}
		var todo []*item // the events to apply, in order, once each
		seen := make(map[string]bool, len(fresh))
		for i := range items {
			it := &items[i]
			if !it.ok || !isFresh[it.ev.ID] || seen[it.ev.ID] {
				continue
			}
			seen[it.ev.ID] = true
			if it.span == nil {
				it.ctx, it.span = c.startSpan(ctx, it.m)
				it.span.SetAttributes(attribute.String("messaging.message.id", it.ev.ID), attribute.String("cloudevents.event_type", it.ev.Type),
					attribute.Int("messaging.batch.message_count", len(batch)))
			}
			todo = append(todo, it)
		}
		if c.opts.Batch != nil && len(todo) > 0 {
			evs := make([]BatchEvent, len(todo))
			for i, it := range todo {
				evs[i] = BatchEvent{Ctx: it.ctx, Event: it.ev}
			}
			if herr := c.callBatchHandler(ctx, tx, evs); herr != nil {
				var ee *eventError
				for _, it := range todo {
					it.span.AddEvent("batch handler failed: the batch is retried one event at a time",
						trace.WithAttributes(attribute.String("error", herr.Error())))
				}
				if errors.As(herr, &ee) && !retriable(herr) {
					failedID, failed = ee.id, ee.err
				}
				return herr
			}
			for _, it := range todo {
				applied[it.ev.ID] = true
			}
			return nil
		}
		for _, it := range todo {
			if herr := c.callHandler(it.ctx, tx, it.ev); herr != nil {
				it.span.AddEvent("handler failed in a batch: the batch is retried one event at a time",
					trace.WithAttributes(attribute.String("error", herr.Error())))
				if !retriable(herr) { // a deadlock is the batch's, not the event's
					failedID, failed = it.ev.ID, herr
				}
				return herr
			}
			applied[it.ev.ID] = true
		}
		return nil
	})
	for _, it := range items {
		if it.span == nil {
			continue
		}
		switch {
		case err == nil && applied[it.ev.ID]:
			it.span.SetAttributes(attribute.String("wuxiao.outcome", outcomeApplied))
		case err != nil:
			it.span.SetStatus(codes.Error, "batch rolled back")
		}
		it.span.End()
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Debug("applying a batch failed, applying its events one at a time", "events", len(batch), "err", err)
		for _, it := range items {
			// The event that failed the batch had its first attempt there
			// (the others before it ran too, but were rolled back).
			var prior error
			if failed != nil && it.ok && it.ev.ID == failedID {
				prior, failed = failed, nil
			}
			if err := c.processAfter(ctx, dlq, it.m, prior); err != nil {
				return err
			}
		}
		return nil
	}
	done := map[string]bool{}
	for _, it := range items {
		if it.ok && applied[it.ev.ID] && !done[it.ev.ID] {
			done[it.ev.ID] = true
			c.consumed.Add(ctx, 1, c.attrs(it.m.Topic, attribute.String("outcome", outcomeApplied)))
			c.latency.Record(ctx, time.Since(it.ev.Time).Seconds(), c.attrs(it.m.Topic))
			continue
		}
		// Seen by the inbox before, a repeat within the batch, or not for
		// the batch at all: the one-at-a-time path decides (a duplicate,
		// a replay of a dead-lettered event, a dead letter).
		if err := c.process(ctx, dlq, it.m); err != nil {
			return err
		}
	}
	return nil
}

// callBatchHandler is callHandler for the batch handler.
func (c *Consumer) callBatchHandler(ctx context.Context, tx pgx.Tx, evs []BatchEvent) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("batch handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return c.opts.Batch(ctx, tx, evs)
}

// startSpan starts the consumer span of m, as process does.
func (c *Consumer) startSpan(ctx context.Context, m kafka.Message) (context.Context, trace.Span) {
	pctx := Extract(ctx, m)
	attrs := append(messagingAttrs(m.Topic, string(m.Key), "process"),
		attribute.String("messaging.consumer.group.name", c.group),
		attribute.String("messaging.destination.partition.id", strconv.Itoa(m.Partition)),
		attribute.Int64("messaging.kafka.offset", m.Offset),
	)
	return c.tracer.Start(pctx, "process "+m.Topic, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}
