package events

// The relay's session and leadership (issue 18: a district at rest holds at
// most half of PostgreSQL's connections; a session per replica, held for
// as long as it runs, was 4 of a town's 9).
//
// A relay holds a database session only while there is work:
//
//   - at rest it holds none. Its own process's commits wake it at once
//     (wakeup.go); every RestPoll it looks for rows other processes
//     committed (a replica that died before publishing, a writer without
//     the wakeup) with one query on the pool, marked store.Background so
//     that the pool gives that connection back at once.
//   - woken, it opens its session (under the lease, lease.go) and LISTENs,
//     so that other replicas' commits wake it too while it is active, and
//     publishes in cycles. It goes back to rest after 2 × PollInterval
//     without anything to publish.
//
// Leadership is per cycle: a cycle is one transaction that takes the relay
// lock with pg_try_advisory_xact_lock, reads the oldest unpublished rows,
// sends them to Kafka and marks them, and commits, which releases the
// lock. Only one replica publishes at a time, and a cycle starts after the
// previous one's marks committed, so a key's events go out in order; a
// replica that finds the lock taken waits for a notification (the holder's
// next cycle will see its rows anyway). The lease still bounds a holder cut
// off from the database: its session has idle_in_transaction_session_timeout
// = LockLease, so the server ends a stalled cycle and its lock, and the
// client side gives up a read that stalls that long (stallConn). The lock
// is never waited for, so the stall detector is armed from the start.
//
// A replica of the previous version holds the same lock for its whole
// session (pg_advisory_lock): while it runs, the cycles here find the lock
// taken and leave the publishing to it.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/segmentio/kafka-go"

	"github.com/wuxiao/wuxiao/services/internal/store"
)

// session runs the relay, at rest and active by turns, until ctx ends or
// the database fails; held says whether it published (or tried to) for a
// while before that.
func (r *Relay) session(ctx context.Context) (held bool, err error) {
	schema := r.pool.Config().ConnConfig.RuntimeParams["search_path"]
	woken, unsubscribe := subscribeWake(schema)
	defer unsubscribe()
	work := true // at start: rows may be waiting
	for {
		if !work {
			if err := r.rest(ctx, woken); err != nil {
				return held, err
			}
		}
		work = false
		h, err := r.activeSession(ctx, woken)
		held = held || h
		if err != nil {
			return held, err
		}
	}
}

// rest returns when this process committed outbox rows, or when a look
// every RestPoll finds rows waiting.
func (r *Relay) rest(ctx context.Context, woken <-chan struct{}) error {
	t := time.NewTicker(r.opts.RestPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-woken:
			return nil
		case <-t.C:
		}
		var waiting bool
		qctx, cancel := context.WithTimeout(store.Background(ctx), r.opts.LockLease)
		err := r.pool.QueryRow(qctx, `SELECT EXISTS (SELECT FROM outbox WHERE published_at IS NULL AND quarantined_at IS NULL)`).Scan(&waiting)
		cancel()
		if err != nil {
			return fmt.Errorf("looking for outbox rows: %w", err)
		}
		if waiting {
			return nil
		}
	}
}

// activeSession connects and publishes in cycles until nothing was to be
// published for 2 × PollInterval (then it returns nil) or the session
// fails.
func (r *Relay) activeSession(ctx context.Context, woken <-chan struct{}) (held bool, err error) {
	cfg := r.pool.Config().ConnConfig.Copy()
	stall := leaseConfig(cfg, r.opts.LockLease)
	// Its own name, so that pg_stat_activity tells it from the pool's.
	cfg.RuntimeParams["application_name"] = cmp.Or(cfg.RuntimeParams["application_name"], "wuxiao") + "-relay"
	stall.arm() // nothing on this session waits for the server: the lock is tried, never waited for
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		// Closing the session ends the LISTEN (and a cycle, if one was cut).
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	var schema string
	if err := conn.QueryRow(ctx, "SELECT coalesce(current_schema(), '')").Scan(&schema); err != nil {
		return false, err
	}
	if schema == "" {
		return false, errors.New("the pool's schema does not exist (run the migrations)")
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel(schema)}.Sanitize()); err != nil {
		return false, err
	}
	r.active.Store(true)
	defer r.active.Store(false)
	r.log.Debug("outbox relay active", "schema", schema, "lease", r.opts.LockLease.String())

	transport := &kafka.Transport{DialTimeout: 5 * time.Second}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(r.brokers...),
		Transport:    transport,
		Balancer:     &kafka.Murmur2Balancer{}, // the Java client's partitioner: same key, same partition
		RequiredAcks: kafka.RequireAll,
		BatchSize:    r.opts.BatchSize,
		BatchBytes:   batchBytes,
		// WriteMessages is synchronous and given the whole batch at once:
		// waiting for more messages would only add latency (1ms here cost
		// 1.6ms per event under load, a timer's real resolution). A call's
		// messages for one partition still form one batch: kafka-go's
		// partition writer holds its lock while it adds them, so the timer
		// cannot cut the batch in between (see publish).
		BatchTimeout:    time.Nanosecond,
		MaxAttempts:     3,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		WriteTimeout:    r.opts.WriteTimeout,
		ReadTimeout:     r.opts.WriteTimeout,
	}
	// Close waits for batches in flight, so that a later cycle (here or in
	// another replica) cannot overtake them.
	defer w.Close()

	key := lockKey(schema)
	failures := 0
	r.isolate = 0
	hold := 2 * r.opts.PollInterval
	lastWork := time.Now()
	for {
		got, more, kerr, err := r.cycle(ctx, conn, w, key)
		if err != nil {
			return true, err
		}
		if kerr != nil {
			failures++
			lastWork = time.Now()
			d := backoff(failures, r.opts.BackoffMin, r.opts.BackoffMax)
			r.log.Warn("publishing outbox events failed; they stay in the outbox", "err", summarize(kerr), "attempt", failures, "retry_in", d)
			ok, err := sleepAlive(ctx, conn, r.opts.LockLease, d)
			if !ok {
				return true, ctx.Err()
			}
			if err != nil {
				return true, fmt.Errorf("keeping the relay session alive: %w", err)
			}
			continue
		}
		if got && failures > 0 {
			r.log.Info("publishing outbox events again", "after_failures", failures)
			failures = 0
		}
		if more {
			lastWork = time.Now()
			continue
		}
		if got && r.opts.Retention > 0 && time.Now().After(r.nextCleanup) {
			if _, err := conn.Exec(ctx, `DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)`,
				r.opts.Retention.Seconds()); err != nil {
				return true, fmt.Errorf("deleting old outbox rows: %w", err)
			}
			mark("relay.cleanup")
			r.nextCleanup = time.Now().Add(time.Minute)
		}
		if time.Since(lastWork) >= hold {
			return true, nil // at rest again
		}
		notified, err := r.wait(ctx, conn, woken)
		if err != nil {
			return true, err
		}
		if notified {
			lastWork = time.Now()
		}
	}
}

// cycle is one publishing transaction under the relay lock: got says
// whether the lock was free; more, kerr and err are publish's.
func (r *Relay) cycle(ctx context.Context, conn *pgx.Conn, w *kafka.Writer, key int64) (got, more bool, kerr, err error) {
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return false, false, nil, fmt.Errorf("beginning a relay cycle: %w", err)
	}
	// COMMIT also after a failure: what publish marked (rows Kafka
	// acknowledged, also when stopping) stays marked; after a failed
	// statement the server rolls back instead.
	dbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	defer func() {
		if _, cerr := conn.Exec(dbctx, "COMMIT"); cerr != nil && err == nil {
			err = fmt.Errorf("ending a relay cycle: %w", cerr)
		}
	}()
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", key).Scan(&got); err != nil {
		return false, false, nil, fmt.Errorf("taking the relay lock: %w", err)
	}
	if !got {
		return false, false, nil, nil
	}
	r.leading.Store(true)
	defer r.leading.Store(false)
	more, kerr, err = r.publish(ctx, conn, w)
	return true, more, kerr, err
}

// wait returns on a notification (notified), a wakeup from this process
// (notified) or after PollInterval.
func (r *Relay) wait(ctx context.Context, conn *pgx.Conn, woken <-chan struct{}) (notified bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, r.opts.PollInterval)
	defer cancel()
	var byWake atomic.Bool
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-woken:
			byWake.Store(true)
			cancel()
		case <-wctx.Done():
		case <-stop:
		}
	}()
	n, err := conn.WaitForNotification(wctx)
	cancel()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if n != nil {
		mark("relay.notified")
	} else {
		mark("relay.polled")
	}
	switch {
	case n != nil:
	case errors.Is(err, context.Canceled), pgconn.Timeout(err):
		err = nil
	default:
		return false, fmt.Errorf("waiting for notifications: %w", err)
	}
	// Drop notifications already buffered: the next cycle sees their rows.
	done, dcancel := context.WithCancel(ctx)
	dcancel()
	for {
		if n, _ := conn.WaitForNotification(done); n == nil {
			break
		}
	}
	return n != nil || byWake.Load(), nil
}
