package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// RelayOptions tune a Relay; zero values take the defaults in brackets.
type RelayOptions struct {
	Telemetry
	// Name identifies this replica in logs [host name].
	Name string
	// BatchSize is the most rows sent in one produce call [100].
	BatchSize int
	// PollInterval is how long an active relay waits for a notification
	// before it looks again; it goes back to rest after 2 × PollInterval
	// without work (relay_session.go) [5s].
	PollInterval time.Duration
	// RestPoll is how often a relay at rest looks for rows other processes
	// committed (a replica that died before publishing them; its own
	// process's commits wake it at once): each look costs a short-lived
	// connection at rest [3 × PollInterval].
	RestPoll time.Duration
	// BackoffMin and BackoffMax bound the capped exponential wait after a
	// failed publish or a lost database session [100ms, 30s].
	BackoffMin, BackoffMax time.Duration
	// WriteTimeout bounds one produce request [10s].
	WriteTimeout time.Duration
	// Retention is how long published rows are kept (for inspection and
	// replays) before being deleted; negative keeps them forever [24h].
	Retention time.Duration
	// LockLease bounds how long the relay lock outlives a holder that
	// vanished without closing its session (its node died, its network
	// dropped): the server ends a relay session silent that long, and a
	// waiting replica takes over (see lease.go). At least 3 × PollInterval
	// [30s].
	LockLease time.Duration
	// Topics are those the outbox's rows go to, known in advance: their
	// quarantined-events series exist at 0 from Run's start, so that
	// alerts can take increase() of them [none].
	Topics []string
}

// Relay publishes the outbox of one schema to Kafka. Run it in every
// replica: an advisory lock lets one publish at a time; at rest it holds
// no database session (relay_session.go).
type Relay struct {
	pool    *pgxpool.Pool
	brokers []string
	opts    RelayOptions
	log     *slog.Logger
	tracer  trace.Tracer

	active      atomic.Bool
	published   metric.Int64Counter
	failed      metric.Int64Counter
	quarantined metric.Int64Counter
	pending     metric.Int64ObservableGauge
	lag         metric.Float64ObservableGauge
	holder      metric.Int64ObservableGauge

	// isolate is how many more rows to send one per produce call, after a
	// call failed as too large: that way the broker's refusal names the one
	// row to quarantine, and the others still go in seq order. Used only
	// by the session holding the lock.
	isolate int
	// leading is true while this relay holds the lock.
	leading atomic.Bool
	// read holds the seqs of the rows this relay read lately (the last
	// readMemory), so that their notifications, which may come after the
	// relay was woken in-process and published them, wake it no more
	// (wait). A seq it does not know (a row committed after a read with a
	// higher seq, another replica's) wakes it as any notification did.
	read readSeqs
	// nextCleanup is when published rows past Retention are deleted next.
	nextCleanup time.Time
}

// batchBytes is both the writer's batch limit and the relay's budget per
// produce call: with every row of a call fitting one batch per partition,
// a partition's rows succeed or fail together (see publish).
const batchBytes = 1 << 20

// NewRelay returns a relay for the outbox in pool's schema.
func NewRelay(pool *pgxpool.Pool, brokers []string, opts RelayOptions) *Relay {
	if opts.Name == "" {
		opts.Name, _ = os.Hostname()
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if opts.RestPoll <= 0 {
		opts.RestPoll = 3 * opts.PollInterval
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 100 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Retention == 0 {
		opts.Retention = 24 * time.Hour
	}
	if opts.LockLease <= 0 {
		opts.LockLease = DefaultLockLease
	}
	// A holder waits up to PollInterval for notifications between
	// queries: the lease must not run out meanwhile.
	opts.LockLease = max(opts.LockLease, 3*opts.PollInterval)
	r := &Relay{pool: pool, brokers: brokers, opts: opts, tracer: opts.tracer(),
		log: opts.logger().With("component", "outbox-relay", "relay", opts.Name)}
	m := opts.meter()
	var errs [6]error
	r.published, errs[0] = m.Int64Counter("wuxiao.events.outbox.published",
		metric.WithDescription("Outbox events published to Kafka"), metric.WithUnit("{event}"))
	r.failed, errs[1] = m.Int64Counter("wuxiao.events.outbox.publish_failures",
		metric.WithDescription("Outbox events whose publication failed (they are retried)"), metric.WithUnit("{event}"))
	r.pending, errs[2] = m.Int64ObservableGauge("wuxiao.events.outbox.pending",
		metric.WithDescription("Outbox events not yet published (reported by the active relay)"), metric.WithUnit("{event}"))
	r.lag, errs[3] = m.Float64ObservableGauge("wuxiao.events.outbox.oldest_age",
		metric.WithDescription("Age of the oldest unpublished outbox event (reported by the active relay)"), metric.WithUnit("s"))
	r.holder, errs[4] = m.Int64ObservableGauge("wuxiao.events.relay.active",
		metric.WithDescription("1 while this replica's relay is active: it holds its session because it has outbox work (publishing if it holds the relay lock, else standing by); 0 at rest"))
	r.quarantined, errs[5] = m.Int64Counter("wuxiao.events.outbox.quarantined",
		metric.WithDescription("Outbox events Kafka refused as too large, set aside on the dead-letter topic (alert on any)"), metric.WithUnit("{event}"))
	if err := errors.Join(errs[:]...); err != nil {
		r.log.Warn("creating relay metrics", "err", err)
	}
	return r
}

// Active reports whether this relay holds its session: it has work, or
// had some within 2 × PollInterval; it publishes if it also holds the lock,
// else it stands by.
func (r *Relay) Active() bool { return r.active.Load() }

// Run publishes until ctx ends, then returns nil. Database and Kafka
// failures are retried with backoff, never returned: rows stay in the
// outbox until Kafka acknowledged them.
func (r *Relay) Run(ctx context.Context) error {
	if len(r.brokers) == 0 {
		return errors.New("outbox relay: no Kafka brokers")
	}
	reg, err := r.opts.meter().RegisterCallback(r.observe, r.pending, r.lag, r.holder)
	if err != nil {
		r.log.Warn("registering relay gauges", "err", err)
	} else {
		defer func() { _ = reg.Unregister() }()
	}
	// Alerts take increase() of the failures: the series must exist
	// before the first one.
	r.failed.Add(ctx, 0)
	for _, t := range r.opts.Topics {
		r.quarantined.Add(ctx, 0, metric.WithAttributes(attribute.String("messaging.destination.name", t)))
	}
	failures := 0
	for {
		start := time.Now()
		held, err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if held && time.Since(start) > r.opts.BackoffMax {
			failures = 0 // it worked for a while: start backing off afresh
		}
		failures++
		d := backoff(failures, r.opts.BackoffMin, r.opts.BackoffMax)
		r.log.Warn("outbox relay: database session ended, starting another", "err", err, "retry_in", d)
		if !sleep(ctx, d) {
			return nil
		}
	}
}

// observe reports the outbox's backlog from every replica, resting or not
// (the dashboards and WuxiaoOutboxStuck take the max over replicas): a
// relay at rest holds no lock, and a backlog reported only by the holder
// would have no series at all while every replica rests.
func (r *Relay) observe(ctx context.Context, o metric.Observer) error {
	var active int64
	if r.active.Load() {
		active = 1
	}
	o.ObserveInt64(r.holder, active)
	var n int64
	var age float64
	// A scrape must not hang on a database in trouble, nor keep a pool
	// connection open (store.Background).
	ctx, cancel := context.WithTimeout(store.Background(ctx), 5*time.Second)
	defer cancel()
	err := r.pool.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM outbox WHERE published_at IS NULL AND quarantined_at IS NULL`).Scan(&n, &age)
	if err != nil {
		return err
	}
	o.ObserveInt64(r.pending, n)
	o.ObserveFloat64(r.lag, age)
	return nil
}

// lockKey is the advisory lock of a schema's relay.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("wuxiao/events/relay/" + schema))
	return int64(h.Sum64() >> 1)
}

type outboxRow struct {
	seq int64
	msg kafka.Message
}

// publish sends the oldest unpublished rows. It returns whether more rows
// may be waiting, a Kafka error (rows stay, with attempts and last_error
// recorded) or a database error (the session must end).
func (r *Relay) publish(ctx context.Context, conn *pgx.Conn, w *kafka.Writer) (more bool, kerr, err error) {
	limit := r.opts.BatchSize
	if r.isolate > 0 {
		limit = 1
	}
	rows, err := conn.Query(ctx, `SELECT seq, topic, key, headers, payload FROM outbox
		WHERE published_at IS NULL AND quarantined_at IS NULL ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return false, nil, fmt.Errorf("reading the outbox: %w", err)
	}
	var batch []outboxRow
	size := 0
	for rows.Next() {
		var (
			row     outboxRow
			key     string
			headers []byte
			hm      map[string]string
		)
		if err := rows.Scan(&row.seq, &row.msg.Topic, &key, &headers, &row.msg.Value); err != nil {
			rows.Close()
			return false, nil, err
		}
		if err := json.Unmarshal(headers, &hm); err != nil {
			rows.Close()
			return false, nil, fmt.Errorf("outbox row %d: headers: %w", row.seq, err)
		}
		row.msg.Key = []byte(key)
		row.msg.Headers = headerList(hm)
		// Stay well inside one writer batch (see batchBytes).
		n := messageSize(row.msg)
		if len(batch) > 0 && size+n > batchBytes*3/4 {
			more = true
			break
		}
		size += n
		batch = append(batch, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, nil, fmt.Errorf("reading the outbox: %w", err)
	}
	if len(batch) == 0 {
		return false, nil, nil
	}
	mark("relay.read")
	for _, row := range batch {
		r.read.add(row.seq)
	}
	more = more || len(batch) == limit || r.isolate > 0
	if r.isolate > 0 {
		r.isolate--
	}

	msgs := make([]kafka.Message, len(batch))
	links := make([]trace.Link, 0, len(batch))
	for i, row := range batch {
		msgs[i] = row.msg
		if sc := trace.SpanContextFromContext(Extract(context.Background(), row.msg)); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	sctx, span := r.tracer.Start(ctx, "send", trace.WithSpanKind(trace.SpanKindProducer), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("messaging.system", "kafka"), attribute.String("messaging.operation.type", "send"),
			attribute.Int("messaging.batch.message_count", len(msgs))))
	// Bounded, as kafka-go waits on ctx for cluster metadata.
	wctx, cancel := context.WithTimeout(sctx, 3*r.opts.WriteTimeout+time.Second)
	var werr error
	// The session stays alive (within its lease) while Kafka takes its time.
	perr := whileAlive(context.WithoutCancel(ctx), conn, r.opts.LockLease, func() { werr = w.WriteMessages(wctx, msgs...) })
	cancel()
	mark("relay.sent")
	if werr != nil {
		span.RecordError(werr)
		span.SetStatus(codes.Error, summarize(werr))
	}
	span.End()
	if perr != nil {
		// The lock may be another's by now: mark nothing; the next holder
		// sends these rows again (at least once, in order).
		return false, nil, fmt.Errorf("keeping the relay session alive: %w", perr)
	}

	// Which rows made it? Only the failed ones of a partial failure stay.
	// All rows of one partition share one produce request (batchBytes), so
	// a key's later event never gets through while an earlier one failed.
	var ok, failed []int64
	var okRows []outboxRow
	var werrs kafka.WriteErrors
	partial := errors.As(werr, &werrs) && len(werrs) == len(batch)
	for i, row := range batch {
		if werr == nil || (partial && werrs[i] == nil) {
			ok = append(ok, row.seq)
			okRows = append(okRows, row)
		} else {
			failed = append(failed, row.seq)
		}
	}
	// Record what Kafka acknowledged even when shutting down: fewer
	// duplicates after a restart.
	dbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if len(ok) > 0 {
		if _, err := conn.Exec(dbctx, `UPDATE outbox SET published_at = now() WHERE seq = ANY($1)`, ok); err != nil {
			// Published but not marked: they will be published again, which
			// consumers tolerate (at least once).
			return false, nil, fmt.Errorf("marking %d outbox rows published: %w", len(ok), err)
		}
		mark("relay.marked")
		byTopic := map[string]int64{}
		for _, row := range okRows {
			byTopic[row.msg.Topic]++
		}
		for topic, n := range byTopic {
			r.published.Add(ctx, n, metric.WithAttributes(attribute.String("messaging.destination.name", topic)))
		}
	}
	if ctx.Err() != nil {
		return false, nil, ctx.Err() // not a Kafka failure: we were stopped
	}
	if len(failed) > 0 && tooLarge(werr) {
		if len(batch) > 1 {
			// Which one? Send the failed rows one by one to find out.
			r.isolate = len(failed)
			r.log.Warn("Kafka refused outbox events as too large; sending them one by one", "rows", len(failed), "err", summarize(werr))
			return true, nil, nil
		}
		return r.quarantine(ctx, dbctx, conn, w, batch[0], werr)
	}
	if len(failed) > 0 {
		msg := summarize(werr)
		r.failed.Add(ctx, int64(len(failed)))
		if _, err := conn.Exec(dbctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = ANY($1)`,
			failed, truncate(msg, 2000)); err != nil {
			return false, werr, fmt.Errorf("recording failed publication: %w", err)
		}
		return more, werr, nil
	}
	return more, nil, nil
}

// tooLarge reports whether Kafka refused (some of) a write as too large:
// the writer's own check (kafka.MessageTooLargeError) or the broker's
// MESSAGE_TOO_LARGE (above message.max.bytes or the topic's
// max.message.bytes). Retrying never helps.
func tooLarge(err error) bool {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && errors.Is(e, kafka.MessageSizeTooLarge) {
				return true
			}
		}
		return false
	}
	return errors.Is(err, kafka.MessageSizeTooLarge)
}

// quarantineHead is how much of a quarantined event's data its dead-letter
// message keeps: enough to see what it was, far below any broker limit.
const quarantineHead = 4 << 10

// quarantine sets aside a row Kafka refused as too large, so that the
// events after it are published: the envelope (the row's headers), the
// reason and a digest of the data (size, SHA-256, the first bytes) go to
// the topic's dead-letter topic, and the row is stamped quarantined_at. The
// event itself stays in the outbox for someone to deal with (shorten it and
// enqueue it anew). Per-key order holds for every other event; the
// quarantined one is simply missing from its key's sequence.
func (r *Relay) quarantine(ctx, dbctx context.Context, conn *pgx.Conn, w *kafka.Writer, row outboxRow, cause error) (more bool, kerr, err error) {
	reason := fmt.Sprintf("quarantined: Kafka refused the event as too large (%d bytes of data, message %d bytes): %s",
		len(row.msg.Value), messageSize(row.msg), summarize(cause))
	sum := sha256.Sum256(row.msg.Value)
	digest, err := json.Marshal(quarantinedData{Quarantined: reason, Size: len(row.msg.Value),
		SHA256: hex.EncodeToString(sum[:]), Head: string(row.msg.Value[:min(len(row.msg.Value), quarantineHead)])})
	if err != nil {
		return false, nil, err
	}
	headers := make([]kafka.Header, 0, len(row.msg.Headers)+2)
	for _, h := range row.msg.Headers {
		headers = append(headers, kafka.Header{Key: h.Key, Value: []byte(truncate(string(h.Value), quarantineHead))})
	}
	headers = append(headers,
		kafka.Header{Key: HeaderError, Value: []byte(truncate(reason, 2000))},
		kafka.Header{Key: HeaderOrigin, Value: []byte(fmt.Sprintf("%s/outbox/%d", row.msg.Topic, row.seq))})
	dlq := kafka.Message{Topic: eventsv1.DeadLetterTopic(row.msg.Topic), Key: row.msg.Key, Value: digest, Headers: headers}
	wctx, cancel := context.WithTimeout(ctx, 3*r.opts.WriteTimeout+time.Second)
	var werr error
	perr := whileAlive(context.WithoutCancel(ctx), conn, r.opts.LockLease, func() { werr = w.WriteMessages(wctx, dlq) })
	cancel()
	if perr != nil {
		return false, nil, fmt.Errorf("keeping the relay session alive: %w", perr)
	}
	if werr != nil {
		// The row stays (and blocks) until the dead-letter topic takes it:
		// it is never dropped without a trace.
		r.failed.Add(ctx, 1)
		if _, err := conn.Exec(dbctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1`,
			row.seq, truncate("too large, and dead-lettering it failed: "+summarize(werr), 2000)); err != nil {
			return false, werr, fmt.Errorf("recording failed publication: %w", err)
		}
		r.isolate = max(r.isolate, 1) // try it alone again
		return true, fmt.Errorf("dead-lettering too large outbox row %d: %w", row.seq, werr), nil
	}
	if _, err := conn.Exec(dbctx, `UPDATE outbox SET quarantined_at = now(), attempts = attempts + 1, last_error = $2 WHERE seq = $1`,
		row.seq, truncate(reason, 2000)); err != nil {
		// Dead-lettered but not marked: dead-lettered again next time.
		return false, nil, fmt.Errorf("marking outbox row %d quarantined: %w", row.seq, err)
	}
	r.quarantined.Add(ctx, 1, metric.WithAttributes(attribute.String("messaging.destination.name", row.msg.Topic)))
	r.log.Error("outbox event quarantined: Kafka refused it as too large; it is on the dead-letter topic (digest only) and in the outbox, the events after it go on",
		"seq", row.seq, "event_id", headerValue(row.msg, HeaderID), "type", headerValue(row.msg, HeaderType), "topic", row.msg.Topic,
		"dlq", dlq.Topic, "bytes", len(row.msg.Value), "err", summarize(cause))
	return true, nil, nil
}

func headerValue(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// quarantinedData is the value of a quarantined event's dead-letter message.
type quarantinedData struct {
	Quarantined string `json:"quarantined"`
	Size        int    `json:"size"`
	SHA256      string `json:"sha256"`
	Head        string `json:"head"`
}

// messageSize over-estimates a message's share of a produce request.
func messageSize(m kafka.Message) int {
	n := 64 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += 16 + len(h.Key) + len(h.Value)
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// summarize shortens kafka.WriteErrors, which repeat one error per message.
func summarize(err error) string {
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) {
		return err.Error()
	}
	for _, e := range werrs {
		if e != nil {
			return fmt.Sprintf("%d of %d messages failed, first: %v", werrs.Count(), len(werrs), e)
		}
	}
	return err.Error()
}

// readMemory is how many recently read seqs a relay remembers.
const readMemory = 4096

// readSeqs remembers the last readMemory seqs added (used by the session's
// goroutine only).
type readSeqs struct {
	set  map[int64]struct{}
	ring []int64
	next int
}

func (s *readSeqs) add(seq int64) {
	if s.set == nil {
		s.set = make(map[int64]struct{}, readMemory)
		s.ring = make([]int64, 0, readMemory)
	}
	if _, ok := s.set[seq]; ok {
		return
	}
	if len(s.ring) < readMemory {
		s.ring = append(s.ring, seq)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = seq
		s.next = (s.next + 1) % readMemory
	}
	s.set[seq] = struct{}{}
}

// has reports whether payload, a notification's, names a seq read lately.
func (s *readSeqs) has(payload string) bool {
	seq, err := strconv.ParseInt(payload, 10, 64)
	if err != nil {
		return false
	}
	_, ok := s.set[seq]
	return ok
}
