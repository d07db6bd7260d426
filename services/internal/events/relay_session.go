package events

// The relay's session and leadership (issue 18: a district at rest holds at
// most half of PostgreSQL's connections; a session per replica, held for
// as long as it ran, was 4 of a town's 9).
//
// A relay holds a database session only while there is work:
//
//   - at rest it holds none. Its own process's commits wake it at once
//     (wakeup.go); every RestPoll it looks for rows other processes
//     committed (a replica that died before publishing, a writer without
//     the wakeup) with one query on the pool, marked store.Background so
//     that the pool gives that connection back at once.
//   - woken, it opens its session (under the lease, lease.go), LISTENs, so
//     that other replicas' commits wake it too, and tries the relay lock
//     (pg_try_advisory_lock, never waited for). The holder publishes as
//     before, every query on the session that holds the lock, so that two
//     relays never publish at once (which could reorder a key's events); a
//     replica that finds the lock taken stands by, trying again at each
//     notification or PollInterval, in case the holder goes to rest.
//   - 2 × PollInterval without work it closes its session, which releases
//     the lock and the LISTEN, and is at rest again.
//
// Under load nothing changes on the publishing path: one holder keeps the
// lock and its session while work keeps coming. The lease bounds a holder
// cut off from the database as before (the server ends its silent session,
// the stall detector ends it on the client's side); since the lock is
// never waited for, the stall detector is armed from the start.

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

// activeSession connects, takes the lock if it is free and publishes (or
// stands by) until nothing was to be published for 2 × PollInterval (then
// it returns nil) or the session fails.
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
		// Closing the session releases the lock and the LISTEN.
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
	// Close waits for batches in flight, so that the next holder of the
	// lock cannot overtake them.
	defer w.Close()

	key := lockKey(schema)
	failures := 0
	r.isolate = 0
	hold := 2 * r.opts.PollInterval
	lastWork := time.Now()
	leader := false
	defer r.leading.Store(false)
	for {
		if !leader {
			if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&leader); err != nil {
				return true, fmt.Errorf("taking the relay lock: %w", err)
			}
			if leader {
				r.leading.Store(true)
				r.log.Debug("outbox relay holds the lock", "schema", schema)
			}
		}
		if leader {
			more, kerr, err := r.publish(ctx, conn, w)
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
			if failures > 0 {
				r.log.Info("publishing outbox events again", "after_failures", failures)
				failures = 0
			}
			if more {
				lastWork = time.Now()
				continue
			}
			if r.opts.Retention > 0 && time.Now().After(r.nextCleanup) {
				if _, err := conn.Exec(ctx, `DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)`,
					r.opts.Retention.Seconds()); err != nil {
					return true, fmt.Errorf("deleting old outbox rows: %w", err)
				}
				mark("relay.cleanup")
				r.nextCleanup = time.Now().Add(time.Minute)
			}
		}
		if time.Since(lastWork) >= hold {
			return true, nil // at rest again: closing the session releases the lock
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
	for n != nil && r.read.has(n.Payload) {
		// The notification of a row this relay read already (its commit
		// woke it in-process first): not a reason to query again.
		mark("relay.skipped")
		n, err = conn.WaitForNotification(wctx)
	}
	cancel()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	switch {
	case n != nil:
		mark("relay.notified")
	case byWake.Load():
		mark("relay.woken")
	default:
		mark("relay.polled")
	}
	switch {
	case n != nil:
	case errors.Is(err, context.Canceled), pgconn.Timeout(err):
		err = nil
	default:
		return false, fmt.Errorf("waiting for notifications: %w", err)
	}
	// Drop notifications already buffered, and a wakeup from this process
	// pending meanwhile: the next query sees their rows (else it would
	// query again for nothing, once per event: the in-process wakeup and
	// the notification of one commit come one after the other).
	done, dcancel := context.WithCancel(ctx)
	dcancel()
	for {
		if n, _ := conn.WaitForNotification(done); n == nil {
			break
		}
	}
	select {
	case <-woken:
	default:
	}
	return n != nil || byWake.Load(), nil
}
