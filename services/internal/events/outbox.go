package events

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations create the outbox and inbox tables (goose format, set "events").
var Migrations = store.Embedded{Set: "events", FS: migrationsFS}

// Migrate applies Migrations to the pool's schema.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return store.MigrateEmbedded(ctx, pool, Migrations)
}

// channelExpr computes the relay's channel from the schema the outbox lives
// in, since several services share one town database; cut to PostgreSQL's
// 63-byte identifier limit, as channel() does.
const channelExpr = `left('wuxiao_outbox.' || current_schema(), 63)`

func channel(schema string) string {
	c := "wuxiao_outbox." + schema
	return c[:min(len(c), 63)]
}

// Enqueue writes ev to the outbox in the caller's transaction, so that the
// event exists if and only if the business change commits; the relay
// publishes it to topic afterwards. The trace context of a "create" span,
// child of the span in ctx, is stored with the event: the consumer's span
// becomes its child. Spans go to the TracerProvider of the span in ctx, else
// to the global one.
func Enqueue(ctx context.Context, tx pgx.Tx, topic string, ev eventsv1.Event) error {
	if topic == "" {
		return fmt.Errorf("event %s: no topic", ev.ID)
	}
	ctx, span := startCreate(ctx, topic, ev)
	defer span.End()
	err := enqueue(ctx, tx, topic, ev)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// startCreate starts the producer's "create" span of ev on topic (the
// OpenTelemetry messaging conventions), for Enqueue and QueueEnqueue.
func startCreate(ctx context.Context, topic string, ev eventsv1.Event) (context.Context, trace.Span) {
	return tracerFor(ctx).Start(ctx, "create "+topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingAttrs(topic, ev.Key(), "create")...),
		trace.WithAttributes(
			attribute.String("messaging.message.id", ev.ID),
			attribute.String("cloudevents.event_type", ev.Type),
			attribute.String("cloudevents.event_source", ev.Source),
		))
}

// enqueueSQL writes an outbox row and notifies the relay. The payload is
// the row's seq: a relay that has read the row already (woken in-process
// by the same commit, see wakeup.go) lets the notification go instead of
// querying the outbox again for nothing, once per event (Relay.wait). A
// transaction of n rows sends n notifications (an empty payload would fold
// them into one); the relay takes them in one wait.
const enqueueSQL = `WITH ins AS (
	INSERT INTO outbox (event_id, topic, key, headers, payload) VALUES ($1, $2, $3, $4, $5) RETURNING seq)
	SELECT pg_notify(` + channelExpr + `, seq::text) FROM ins`

func enqueue(ctx context.Context, tx pgx.Tx, topic string, ev eventsv1.Event) error {
	msg, err := Encode(ctx, topic, ev)
	if err != nil {
		return err
	}
	headers, err := json.Marshal(headerMap(msg.Headers))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, enqueueSQL, ev.ID, topic, string(msg.Key), headers, msg.Value)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("event %s is already in the outbox: %w", ev.ID, err)
	}
	if err != nil {
		return fmt.Errorf("enqueueing event %s: %w", ev.ID, err)
	}
	return nil
}
