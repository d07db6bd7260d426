// Package events moves the services' events (eventsv1.Event) through Kafka
// reliably, although kafka-go has neither an idempotent producer nor
// transactions.
//
// Producing. A service writes an event with Enqueue inside the transaction
// that makes the change the event announces: the row lands in the outbox
// table of the service's schema, so the event exists if and only if the
// change commits. Each row stores exactly what goes on the wire: topic, key
// (village code, else town code), the CloudEvents binary-mode headers
// (ce_*, content-type) plus the W3C traceparent of a "create" span started
// from the caller's context, and the JSON data. A Relay (one active per
// schema, chosen by a PostgreSQL advisory lock; other replicas wait and take
// over when its session ends, which a holder that vanished without closing
// it cannot delay beyond RelayOptions.LockLease (default 30s; lease.go:
// the server ends a relay session silent that long, TCP keepalive and
// tcp_user_timeout included, and a live holder pings while busy)) publishes unpublished rows in seq order with
// acks from all in-sync replicas, then stamps published_at. It wakes on
// LISTEN/NOTIFY, polls as a fallback, and on Kafka errors backs off and
// records attempts and last_error on the rows, which stay until Kafka
// acknowledges them. Published rows are deleted after a retention period.
// An event Kafka refuses as too large (kafka-go's writer above 1 MiB, or the
// broker's MESSAGE_TOO_LARGE above the topic's max.message.bytes) would
// block every later event forever, so it is quarantined instead: the relay
// sends the refused batch's rows one at a time to find it, puts its envelope
// (headers), the reason and a digest of its data (size, SHA-256, first
// 4 KiB) on the topic's dead-letter topic, stamps quarantined_at and
// last_error on the row (kept, never deleted by retention), logs an error,
// counts wuxiao.events.outbox.quarantined (alert on any), and goes on with
// the rows after it, in seq order. The quarantined event is then missing
// from its key's sequence; nothing else is reordered.
//
// Consuming. A Consumer reads its topics in a consumer group. For each
// message it continues the producer's trace (a consumer span whose parent is
// the producer's span) and, in one transaction, inserts (consumer, ce_id)
// into the inbox table and calls the Handler: a row already there means the
// event was processed before, and it is skipped. Only after that transaction
// commits is the Kafka offset committed. The messages a fetch brought (up to
// ConsumerOptions.BatchSize) share one transaction, one inbox statement and
// one offset commit; when a handler in it fails, the batch is rolled back
// and its messages go one at a time (consumer_batch.go). Handler errors are retried with
// backoff; after MaxAttempts (or at once for Permanent errors, or for a
// message that is not a valid event) the message goes to the topic's
// dead-letter topic (eventsv1.DeadLetterTopic) with x-wuxiao-error,
// x-wuxiao-attempts, x-wuxiao-consumer and x-wuxiao-origin headers, and the
// inbox records it as dead-lettered. While the database is unreachable,
// attempts are not counted.
//
// Guarantees.
//   - At least once: a committed event reaches Kafka eventually (a crash
//     between publishing and stamping publishes it again), and a consumer
//     applies it or dead-letters it before moving its offset past it (a
//     crash between the two delivers it again).
//   - Effectively once for the consumer's database: the inbox row commits
//     with the handler's writes, so a redelivered event changes nothing.
//     Effects outside that transaction (HTTP calls, mails) may repeat.
//   - Per-key order: one relay at a time sends rows in seq order; a key
//     always maps to the same partition (murmur2, as Java clients), and all
//     rows of one partition in a produce call share one request, so a later
//     event is never on the topic while an earlier one of its key failed.
//     Duplicates only repeat an earlier prefix, which the inbox skips. seq
//     follows insertion, so two concurrent transactions about one village
//     are ordered by their inserts: serialise them (e.g. lock the village
//     row) when their order matters.
//   - A dead-lettered event is parked, not lost: replay it from the DLQ.
//
// Topics are created with EnsureTopics (the brokers do not auto-create
// them), dead-letter topics included, before anything is enqueued for
// them: a row for a missing topic fails its whole batch, so it holds up
// the schema's outbox (the oldest-age gauge shows it) until the topic exists. The
// inbox is never pruned here: its rows are what makes redeliveries harmless.
//
// Telemetry (OTel, through Telemetry or the global providers): spans
// "create <topic>" (Enqueue), "send" (relay, linked to the create spans) and
// "process <topic>" (consumer, child of the create span). Metrics, named here
// as Prometheus stores them (charts/wuxiao-operator/monitoring/metrics.md
// lists them all): the relay's wuxiao_events_outbox_pending and
// wuxiao_events_outbox_oldest_age_seconds (read from the outbox at scrape
// time by the replica holding the lock), wuxiao_events_relay_active,
// wuxiao_events_outbox_published_total, _publish_failures_total and
// _quarantined_total; per topic and consumer group
// (messaging_destination_name, messaging_consumer_group_name)
// wuxiao_events_consumer_lag (read from Kafka every LagInterval),
// wuxiao_events_consumed_total{outcome} (applied, duplicate,
// dead-lettered), wuxiao_events_consumer_retries_total and
// wuxiao_events_delivery_latency_seconds.
package events
