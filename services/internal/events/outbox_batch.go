package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

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
	ctx, span := startCreate(ctx, topic, ev)
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
