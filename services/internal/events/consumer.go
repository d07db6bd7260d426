package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// Handler applies one event inside the consumer's transaction: whatever it
// writes through tx commits together with the inbox row that marks the
// event as processed. Returning an error rolls both back and the event is
// retried; wrap it with Permanent to dead-letter the event at once.
type Handler func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks a handler error that retrying cannot fix (the event is
// invalid for this consumer): the event goes to the dead-letter topic
// without further attempts.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// ConsumerOptions tune a Consumer; zero values take the defaults in brackets.
type ConsumerOptions struct {
	Telemetry
	// MaxAttempts is how many times the handler is tried before the event
	// is dead-lettered [5].
	MaxAttempts int
	// BackoffMin and BackoffMax bound the capped exponential wait between
	// attempts, and between retries of database or dead-letter failures
	// [200ms, 10s].
	BackoffMin, BackoffMax time.Duration
	// MaxWait is the Kafka fetch long-poll; kafka-go also uses it as the
	// socket deadline, so keep it at 1s or more [2s].
	MaxWait time.Duration
	// SessionTimeout is how long the group coordinator waits for a silent
	// member. After a broker outage kafka-go rejoins under a new member id,
	// and the restored group waits this long for the old one, so it is also
	// how long consumption stays stalled after a broker restart [10s; the
	// broker accepts 6s to 5m].
	SessionTimeout time.Duration
	// CommitInterval, when positive, commits offsets in the background at
	// this interval instead of once per message. Still only offsets of
	// messages whose transaction committed, so nothing is skipped; a crash
	// redelivers up to one interval's messages, which the inbox skips [0].
	CommitInterval time.Duration
	// StartOffset is where a new group starts: kafka.FirstOffset or
	// kafka.LastOffset [kafka.FirstOffset].
	StartOffset int64
	// LagInterval is how often the group's lag is read from Kafka for the
	// wuxiao_events_consumer_lag gauge [15s].
	LagInterval time.Duration
	// BatchSize is the most messages applied in one transaction: those the
	// reader already holds when one is fetched, never waiting for more
	// (consumer_batch.go); 1 applies one at a time [100].
	BatchSize int
	// Batch, when set, applies a batch's events in one call instead of the
	// handler once per event (consumer_batch.go); the handler still applies
	// them one at a time when a batch fails [none].
	Batch BatchHandler
}

// Consumer applies the events of some topics to the service's database,
// each once, as member of a Kafka consumer group.
type Consumer struct {
	pool    *pgxpool.Pool
	brokers []string
	group   string
	topics  []string
	handler Handler
	opts    ConsumerOptions
	log     *slog.Logger
	tracer  trace.Tracer

	consumed metric.Int64Counter
	retries  metric.Int64Counter
	latency  metric.Float64Histogram
	lag      metric.Int64ObservableGauge

	// The last lag read from Kafka, per topic: a scrape reports it rather
	// than waiting on Kafka (which may be the thing that is down).
	lagMu      sync.Mutex
	lagAt      time.Time
	lagByTopic map[string]int64
}

// NewConsumer returns a consumer of topics in group groupID; groupID also
// names the consumer in the inbox and in dead-lettered messages.
func NewConsumer(pool *pgxpool.Pool, brokers []string, groupID string, topics []string, handler Handler, opts ConsumerOptions) *Consumer {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 200 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 10 * time.Second
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 2 * time.Second
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = 10 * time.Second
	}
	if opts.StartOffset == 0 {
		opts.StartOffset = kafka.FirstOffset
	}
	if opts.LagInterval <= 0 {
		opts.LagInterval = 15 * time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	c := &Consumer{pool: pool, brokers: brokers, group: groupID, topics: topics, handler: handler, opts: opts,
		tracer: opts.tracer(), log: opts.logger().With("component", "event-consumer", "consumer", groupID)}
	m := opts.meter()
	var errs [4]error
	c.consumed, errs[0] = m.Int64Counter("wuxiao.events.consumed",
		metric.WithDescription("Events a consumer finished with, by outcome (applied, duplicate, dead-lettered)"), metric.WithUnit("{event}"))
	c.lag, errs[3] = m.Int64ObservableGauge("wuxiao.events.consumer.lag",
		metric.WithDescription("Messages on a topic the consumer group has not committed yet (end offset minus committed offset, summed over partitions)"),
		metric.WithUnit("{message}"))
	c.retries, errs[1] = m.Int64Counter("wuxiao.events.consumer.retries",
		metric.WithDescription("Failed attempts to apply an event"), metric.WithUnit("{attempt}"))
	c.latency, errs[2] = m.Float64Histogram("wuxiao.events.delivery.latency",
		metric.WithDescription("Time from an event's ce_time to its processing by a consumer"), metric.WithUnit("s"),
		// OTel's default buckets (0-10000) suit milliseconds; events take
		// from milliseconds to hours (a consumer that was down).
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600))
	if err := errors.Join(errs[:]...); err != nil {
		c.log.Warn("creating consumer metrics", "err", err)
	}
	return c
}

// Run consumes until ctx ends, then returns nil. It returns an error only
// for a misconfiguration or when the Kafka reader fails for good.
func (c *Consumer) Run(ctx context.Context) error {
	switch {
	case len(c.brokers) == 0:
		return errors.New("event consumer: no Kafka brokers")
	case c.group == "":
		return errors.New("event consumer: no group id")
	case len(c.topics) == 0:
		return errors.New("event consumer: no topics")
	case c.handler == nil:
		return errors.New("event consumer: no handler")
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     c.brokers,
		GroupID:     c.group,
		GroupTopics: c.topics,
		MinBytes:    1,
		MaxBytes:    10 << 20,
		MaxWait:     c.opts.MaxWait,
		StartOffset: c.opts.StartOffset,
		// Heartbeats run in the background, independent of handler time.
		SessionTimeout:    c.opts.SessionTimeout,
		HeartbeatInterval: c.opts.SessionTimeout / 5,
		// Zero: CommitMessages is synchronous, so an offset is on the
		// broker before the next message is handled.
		CommitInterval: c.opts.CommitInterval,
		// The lag statistic costs a request per interval; nobody reads it.
		ReadLagInterval: -1,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			c.log.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer r.Close()
	transport := &kafka.Transport{DialTimeout: 5 * time.Second}
	defer transport.CloseIdleConnections()
	dlq := &kafka.Writer{
		Addr:         kafka.TCP(c.brokers...),
		Transport:    transport,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		// One synchronous message at a time: nothing to wait for.
		BatchTimeout: time.Nanosecond,
	}
	defer dlq.Close()

	// Dead letters are alerted on with increase(), and the dashboards graph
	// the retries: the series must exist before the first one.
	for _, topic := range c.topics {
		c.consumed.Add(ctx, 0, c.attrs(topic, attribute.String("outcome", outcomeDeadLettered)))
		c.retries.Add(ctx, 0, c.attrs(topic))
	}
	if reg, err := c.opts.meter().RegisterCallback(c.observeLag, c.lag); err != nil {
		c.log.Warn("registering the consumer lag gauge", "err", err)
	} else {
		defer func() { _ = reg.Unregister() }()
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		c.watchLag(lagCtx, &kafka.Client{Addr: kafka.TCP(c.brokers...), Transport: transport, Timeout: 5 * time.Second})
	}()
	defer func() { stopLag(); <-lagDone }()

	fetchFailures := 0
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("event consumer %s: reader closed: %w", c.group, err)
			}
			// kafka-go reports a broker outage here but keeps retrying
			// in the background: wait and fetch again.
			fetchFailures++
			d := backoff(fetchFailures, c.opts.BackoffMin, c.opts.BackoffMax)
			c.log.Warn("fetching events failed, retrying", "retry_in", d, "err", err)
			if !sleep(ctx, d) {
				return nil
			}
			continue
		}
		fetchFailures = 0
		mark("consumer.fetched")
		batch := c.nextBatch(ctx, r, m)
		if err := c.processBatch(ctx, dlq, batch); err != nil {
			return nil // only ctx ends processing
		}
		// The database already holds the outcome: a failed commit means a
		// redelivery, which the inbox turns into a no-op.
		if err := r.CommitMessages(ctx, batch...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("committing offset failed; the message will be redelivered and skipped",
				"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		}
		mark("consumer.offset")
	}
}

// outcome of one message.
const (
	outcomeApplied      = "applied"
	outcomeDuplicate    = "duplicate"
	outcomeDeadLettered = "dead-lettered"
)

// process finishes with m (applied, skipped or dead-lettered); it returns
// an error only when ctx ended first.
func (c *Consumer) process(ctx context.Context, dlq *kafka.Writer, m kafka.Message) error {
	return c.processAfter(ctx, dlq, m, nil)
}

// processAfter is process for a message whose handler already failed with
// failed in a batch (consumer_batch.go), which counts as its first attempt;
// nil for none.
func (c *Consumer) processAfter(ctx context.Context, dlq *kafka.Writer, m kafka.Message, failed error) error {
	pctx := Extract(ctx, m)
	attrs := append(messagingAttrs(m.Topic, string(m.Key), "process"),
		attribute.String("messaging.consumer.group.name", c.group),
		attribute.String("messaging.destination.partition.id", strconv.Itoa(m.Partition)),
		attribute.Int64("messaging.kafka.offset", m.Offset),
	)
	pctx, span := c.tracer.Start(pctx, "process "+m.Topic, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
	defer span.End()
	log := c.log.With("topic", m.Topic, "partition", m.Partition, "offset", m.Offset)

	ev, derr := Decode(m)
	if derr != nil {
		span.RecordError(derr)
		span.SetStatus(codes.Error, "malformed event")
		log.Error("malformed event, dead-lettering it", "err", derr)
		// No trustworthy id: the inbox remembers the message's position.
		id := fmt.Sprintf("malformed:%s/%d/%d", m.Topic, m.Partition, m.Offset)
		var done bool
		if err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM inbox WHERE consumer = $1 AND event_id = $2)`,
			c.group, id).Scan(&done); err == nil && done {
			return nil // dead-lettered before a crash kept the offset from moving
		}
		return c.deadLetter(pctx, dlq, m, id, derr, 0, log)
	}
	span.SetAttributes(attribute.String("messaging.message.id", ev.ID), attribute.String("cloudevents.event_type", ev.Type))
	log = log.With("event_id", ev.ID, "event_type", ev.Type)

	if town, ok := TopicTown(m.Topic); ok && ev.Town != town {
		// A town's stream carries that town's events only: one naming
		// another town (a misrouted or forged event) never reaches the
		// handler, which would file it under this topic's town.
		err := Permanent(fmt.Errorf("event %s is about town %q but was read from %s, a topic of town %q", ev.ID, ev.Town, m.Topic, town))
		span.RecordError(err)
		span.SetStatus(codes.Error, "dead-lettered")
		log.Error("event of another town, dead-lettering it", "event_town", ev.Town, "topic_town", town)
		var done bool
		if qerr := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM inbox WHERE consumer = $1 AND event_id = $2 AND position = $3)`,
			c.group, ev.ID, position(m)).Scan(&done); qerr == nil && done {
			return nil // dead-lettered before a crash kept the offset from moving
		}
		return c.deadLetter(pctx, dlq, m, ev.ID, err, 0, log)
	}

	var lastErr error
	attempt := 0
	infra := 0
	for {
		var outcome string
		var herr, err error
		if failed != nil {
			herr, failed = failed, nil
		} else {
			outcome, herr, err = c.apply(pctx, ev, position(m))
		}
		if err == nil && herr == nil {
			c.consumed.Add(ctx, 1, c.attrs(m.Topic, attribute.String("outcome", outcome)))
			if outcome == outcomeApplied {
				c.latency.Record(ctx, time.Since(ev.Time).Seconds(), c.attrs(m.Topic))
			}
			span.SetAttributes(attribute.String("wuxiao.outcome", outcome))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var wait time.Duration
		if herr != nil && (errors.As(herr, new(permanentError)) || c.databaseUp(ctx)) {
			// The handler failed while the database works: the event's
			// fault (or the handler's), so it counts towards MaxAttempts.
			attempt++
			lastErr = herr
			c.retries.Add(ctx, 1, c.attrs(m.Topic))
			span.AddEvent("handler failed", trace.WithAttributes(attribute.Int("attempt", attempt), attribute.String("error", herr.Error())))
			if attempt >= c.opts.MaxAttempts || errors.As(herr, new(permanentError)) {
				span.RecordError(herr)
				span.SetStatus(codes.Error, "dead-lettered")
				log.Error("handler failed, dead-lettering the event", "attempts", attempt, "err", herr)
				return c.deadLetter(pctx, dlq, m, ev.ID, lastErr, attempt, log)
			}
			wait = backoff(attempt, c.opts.BackoffMin, c.opts.BackoffMax)
			log.Warn("handler failed, retrying", "attempt", attempt, "retry_in", wait, "err", herr)
		} else {
			// The database is unreachable: not the event's fault, so retry
			// without counting, for as long as it takes.
			if err == nil {
				err = herr
			}
			infra++
			wait = backoff(infra, c.opts.BackoffMin, c.opts.BackoffMax)
			log.Warn("database unavailable, retrying the event", "retry_in", wait, "err", err)
		}
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// apply runs the handler and records the inbox row in one transaction. herr
// is the handler's failure, err any other. An event dead-lettered before is
// applied when it comes again from another position (replayed from the
// dead-letter topic), and skipped when it is the same message redelivered.
func (c *Consumer) apply(ctx context.Context, ev eventsv1.Event, pos string) (outcome string, herr, err error) {
	if outcome, done, herr, err := c.applyFirst(ctx, ev); done {
		return outcome, herr, err
	}
	err = store.InTx(ctx, c.pool, func(tx pgx.Tx) error {
		herr = nil
		tag, err := tx.Exec(ctx, `INSERT INTO inbox (consumer, event_id, outcome) VALUES ($1, $2, 'applied')
			ON CONFLICT (consumer, event_id) DO UPDATE SET outcome = 'applied', processed_at = now(), position = ''
			WHERE inbox.outcome = 'dead-lettered' AND inbox.position <> $3`, c.group, ev.ID, pos)
		if err != nil {
			return fmt.Errorf("recording event in the inbox: %w", err)
		}
		if tag.RowsAffected() == 0 {
			outcome = outcomeDuplicate
			return nil
		}
		outcome = outcomeApplied
		if herr = c.callHandler(ctx, tx, ev); herr != nil {
			return herr
		}
		return nil
	})
	if herr != nil {
		return "", herr, nil
	}
	return outcome, nil, err
}

// applyFirst is apply's fast path for an event the inbox has not seen,
// the usual case: BEGIN and the inbox row go to the server in one round
// trip (a plain INSERT, so a row already there is a unique violation)
// instead of two; the handler then runs in that transaction. It is not done
// (apply's general path decides) when the inbox has the event already (a
// redelivery, or a replay of a dead-lettered event), when the event id
// cannot be sent as a literal, or when the transaction hit a serialization
// failure or deadlock, which store.InTx retries.
func (c *Consumer) applyFirst(ctx context.Context, ev eventsv1.Event) (outcome string, done bool, herr, err error) {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return "", true, nil, err
	}
	defer conn.Release()
	group, ok1 := quoteLiteral(conn.Conn(), c.group)
	id, ok2 := quoteLiteral(conn.Conn(), ev.ID)
	if !ok1 || !ok2 {
		return "", false, nil, nil
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; INSERT INTO inbox (consumer, event_id, outcome) VALUES (" +
		group + ", " + id + ", 'applied')"})
	if err != nil {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			// The INSERT failed inside the transaction BEGIN opened: end it,
			// so that the connection goes back to the pool clean (else the
			// pool closes it).
			if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
				return "", true, nil, errors.Join(err, rerr)
			}
		}
		if pgCode(err) == "23505" {
			return "", false, nil, nil
		}
		return "", true, nil, fmt.Errorf("recording event in the inbox: %w", err)
	}
	mark("consumer.begun")
	if herr = c.callHandler(ctx, tx, ev); herr != nil {
		_ = tx.Rollback(ctx)
		if retriable(herr) {
			return "", false, nil, nil
		}
		return "", true, herr, nil
	}
	if err := tx.Commit(ctx); err != nil {
		if retriable(err) {
			return "", false, nil, nil
		}
		// If the commit did happen after all, the retry finds the inbox
		// row and skips the event.
		return "", true, nil, err
	}
	mark("consumer.committed")
	return outcomeApplied, true, nil, nil
}

// retriable is what store.InTx retries: a serialization failure or a
// deadlock.
func retriable(err error) bool {
	code := pgCode(err)
	return code == "40001" || code == "40P01"
}

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// quoteLiteral returns s as an SQL string literal for conn's session, and
// false when s cannot be one safely: a NUL byte or invalid UTF-8, or a
// session whose client encoding is not UTF8 or without
// standard_conforming_strings (where backslashes would escape).
func quoteLiteral(conn *pgx.Conn, s string) (string, bool) {
	ps := conn.PgConn().ParameterStatus
	if ps("standard_conforming_strings") != "on" || ps("client_encoding") != "UTF8" || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return "", false
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", true
}

func (c *Consumer) callHandler(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return c.handler(ctx, tx, ev)
}

// databaseUp tells a handler's own failure from a database outage.
func (c *Consumer) databaseUp(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.pool.Ping(pctx) == nil
}

// deadLetter publishes m to its topic's dead-letter topic, then records the
// event as dead-lettered; both retried until they succeed or ctx ends (the
// offset must not move past a message that is neither applied nor parked).
func (c *Consumer) deadLetter(ctx context.Context, dlq *kafka.Writer, m kafka.Message, id string, cause error, attempts int, log *slog.Logger) error {
	headers := make([]kafka.Header, 0, len(m.Headers)+4)
	for _, h := range m.Headers {
		switch h.Key {
		case HeaderError, HeaderAttempts, HeaderConsumer, HeaderOrigin:
			// A message dead-lettered again carries only the latest reason.
		default:
			headers = append(headers, h)
		}
	}
	headers = append(headers,
		kafka.Header{Key: HeaderError, Value: []byte(truncate(cause.Error(), 4000))},
		kafka.Header{Key: HeaderAttempts, Value: []byte(strconv.Itoa(attempts))},
		kafka.Header{Key: HeaderConsumer, Value: []byte(c.group)},
		kafka.Header{Key: HeaderOrigin, Value: []byte(position(m))},
	)
	out := kafka.Message{Topic: eventsv1.DeadLetterTopic(m.Topic), Key: m.Key, Value: m.Value, Headers: headers}
	for failures := 1; ; failures++ {
		err := dlq.WriteMessages(ctx, out)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := backoff(failures, c.opts.BackoffMin, c.opts.BackoffMax)
		log.Error("writing to the dead-letter topic failed, retrying", "dlq", out.Topic, "retry_in", d, "err", err)
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
	for failures := 1; ; failures++ {
		// A replay dead-lettered again moves the row to its new position.
		_, err := c.pool.Exec(ctx, `INSERT INTO inbox (consumer, event_id, outcome, position) VALUES ($1, $2, 'dead-lettered', $3)
			ON CONFLICT (consumer, event_id) DO UPDATE SET position = EXCLUDED.position, processed_at = now()
			WHERE inbox.outcome = 'dead-lettered'`, c.group, id, position(m))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := backoff(failures, c.opts.BackoffMin, c.opts.BackoffMax)
		log.Warn("recording a dead-lettered event failed, retrying", "retry_in", d, "err", err)
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
	c.consumed.Add(ctx, 1, c.attrs(m.Topic, attribute.String("outcome", outcomeDeadLettered)))
	return nil
}

// attrs labels a consumer metric with the topic and the consumer group.
func (c *Consumer) attrs(topic string, more ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append([]attribute.KeyValue{
		attribute.String("messaging.destination.name", topic),
		attribute.String("messaging.consumer.group.name", c.group),
	}, more...)...)
}

// watchLag reads the group's lag every LagInterval until ctx ends.
func (c *Consumer) watchLag(ctx context.Context, kc *kafka.Client) {
	for {
		lag, err := c.readLag(ctx, kc)
		if err != nil && ctx.Err() == nil {
			c.log.Debug("reading the consumer lag failed", "err", err)
		}
		if err == nil {
			c.lagMu.Lock()
			c.lagAt, c.lagByTopic = time.Now(), lag
			c.lagMu.Unlock()
		}
		if !sleep(ctx, c.opts.LagInterval) {
			return
		}
	}
}

// observeLag reports the last lag read, unless it is stale (Kafka has
// not answered for three intervals): then no lag is reported at all
// rather than an old figure; Kafka being unreachable has its own alert.
func (c *Consumer) observeLag(_ context.Context, o metric.Observer) error {
	c.lagMu.Lock()
	defer c.lagMu.Unlock()
	if time.Since(c.lagAt) > 3*c.opts.LagInterval {
		return nil
	}
	for topic, n := range c.lagByTopic {
		o.ObserveInt64(c.lag, n, c.attrs(topic))
	}
	return nil
}

// readLag returns, per topic, how many messages the group has not
// committed: the end offset minus the committed offset of each partition,
// or minus the first offset where the group committed nothing yet (it
// starts there). Three small requests to Kafka.
func (c *Consumer) readLag(ctx context.Context, kc *kafka.Client) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	meta, err := kc.Metadata(ctx, &kafka.MetadataRequest{Topics: c.topics})
	if err != nil {
		return nil, fmt.Errorf("consumer lag: metadata: %w", err)
	}
	parts := map[string][]int{}
	reqs := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			continue
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			reqs[t.Name] = append(reqs[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	out := map[string]int64{}
	if len(parts) == 0 {
		return out, nil
	}
	committed, err := kc.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.group, Topics: parts})
	if err == nil {
		err = committed.Error
	}
	if err != nil {
		return nil, fmt.Errorf("consumer lag: committed offsets of %s: %w", c.group, err)
	}
	ends, err := kc.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
	if err != nil {
		return nil, fmt.Errorf("consumer lag: end offsets: %w", err)
	}
next:
	for topic := range parts {
		done := map[int]int64{}
		for _, p := range committed.Topics[topic] {
			if p.Error == nil {
				done[p.Partition] = p.CommittedOffset
			}
		}
		var lag int64
		for _, p := range ends.Topics[topic] {
			if p.Error != nil {
				continue next
			}
			from, seen := done[p.Partition]
			if !seen || from < 0 {
				from = p.FirstOffset
			}
			lag += max(p.LastOffset-from, 0)
		}
		out[topic] = lag
	}
	return out, nil
}

// TopicTown returns the town of a town stream's topic (eventsv1.Topic:
// wuxiao.<town>.<stream>, or its dead-letter topic), and false for any other
// topic name (those of tests, say), whose events are not held to a town.
func TopicTown(topic string) (string, bool) {
	parts := strings.Split(strings.TrimSuffix(topic, ".dlq"), ".")
	if len(parts) != 3 || parts[0] != "wuxiao" || parts[1] == "" || !slices.Contains(eventsv1.Streams, parts[2]) {
		return "", false
	}
	return parts[1], true
}

// position is where a message was read: topic/partition/offset.
func position(m kafka.Message) string { return fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset) }
