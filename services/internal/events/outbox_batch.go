package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// QueueEnqueue is Enqueue for a pgx.Batch that runs inside the caller's
// transaction: the outbox row (and the relay's notification) is queued
// with the transaction's other statements, so a change and its events
// reach the server in one round trip instead of one per event. The event
// exists if and only if the batch's transaction commits, as with Enqueue.
// The "create" span ends when the row is queued; a failure shows on the
// batch (pgx.BatchResults.Close).
func QueueEnqueue(ctx context.Context, b *pgx.Batch, topic string, ev eventsv1.Event) error {
	if topic == "" {
		return fmt.Errorf("event %s: no topic", ev.ID)
	}
	ctx, span := tracerFor(ctx).Start(ctx, "create "+topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingAttrs(topic, ev.Key(), "create")...),
		trace.WithAttributes(
			attribute.String("messaging.message.id", ev.ID),
			attribute.String("cloudevents.event_type", ev.Type),
			attribute.String("cloudevents.event_source", ev.Source),
		))
	defer span.End()
	msg, err := Encode(ctx, topic, ev)
	if err != nil {
		return err
	}
	headers, err := json.Marshal(headerMap(msg.Headers))
	if err != nil {
		return err
	}
	b.Queue(enqueueSQL, ev.ID, topic, string(msg.Key), headers, msg.Value)
	return nil
}
