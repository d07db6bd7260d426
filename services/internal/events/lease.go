package events

// The relay lock's lease. The relay lock is a session advisory lock, taken
// when a relay becomes active and released when it goes back to rest
// (relay_session.go): it lasts as long as the holder's PostgreSQL session.
// A holder whose node dies (or whose network silently drops) leaves a
// session the server only ends when TCP says the peer is gone, by default
// after hours (2 h of keepalive idle, then retransmission timeouts), and the
// town's outbox stalls that long. The relay's own session therefore
// carries a lease:
//
//   - server side, the session is ended when its client is silent longer
//     than the lease (idle_session_timeout, and
//     idle_in_transaction_session_timeout), when data it sent stays
//     unacknowledged that long (tcp_user_timeout) and when TCP keepalive
//     probes go unanswered (tcp_keepalives_*): the lock is released and a
//     replica standing by (or woken later) takes it;
//   - client side, the holder pings while it does something else (a Kafka
//     write, a backoff), so a live holder is never silent that long, and
//     gives up its session when an answer of the server takes longer than
//     the lease (stallConn), so that a holder cut off from the server stops
//     before the server lets another replica in, or soon after.
//
// The lease must exceed the poll interval with room to spare: an active
// relay waits that long for notifications between queries.

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultLockLease is RelayOptions.LockLease's default.
const DefaultLockLease = 30 * time.Second

// leaseConfig makes cfg (a copy) the relay session's configuration under
// lease, and returns the stall detector of its connection.
func leaseConfig(cfg *pgx.ConnConfig, lease time.Duration) *stallDetector {
	ms := func(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) + "ms" }
	secs := func(d time.Duration) string { return strconv.FormatInt(max(int64(d/time.Second), 1), 10) + "s" }
	probe := lease / 6 // idle, then 3 probes: about the lease in all
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["idle_session_timeout"] = ms(lease)
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = ms(lease)
	cfg.RuntimeParams["tcp_user_timeout"] = ms(lease)
	cfg.RuntimeParams["tcp_keepalives_idle"] = secs(lease / 2)
	cfg.RuntimeParams["tcp_keepalives_interval"] = secs(probe)
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > lease {
		cfg.ConnectTimeout = lease
	}
	d := &stallDetector{limit: lease}
	dial := cfg.DialFunc
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			// The client notices a dead server while it waits for the
			// lock (a blocking query, which stallConn does not bound).
			_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: max(lease/2, time.Second),
				Interval: max(probe, time.Second), Count: 3})
		}
		return &stallConn{Conn: c, d: d}, nil
	}
	return d
}

// stallDetector closes its connection when, once armed, one read waits
// longer than limit: the server is gone, or cut off, and the session (with
// the lock) is over for it too, or soon will be.
type stallDetector struct {
	limit time.Duration

	mu    sync.Mutex
	armed bool
}

// arm starts bounding reads; before it (waiting for the lock, a query the
// server answers only when the lock is free) reads may block.
func (d *stallDetector) arm() {
	d.mu.Lock()
	d.armed = true
	d.mu.Unlock()
}

func (d *stallDetector) isArmed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.armed
}

type stallConn struct {
	net.Conn
	d *stallDetector
}

func (c *stallConn) Read(p []byte) (int, error) {
	if !c.d.isArmed() {
		return c.Conn.Read(p)
	}
	t := time.AfterFunc(c.d.limit, func() { _ = c.Close() })
	defer t.Stop()
	return c.Conn.Read(p)
}

// heartbeat is how often the holder pings while it is busy elsewhere.
func heartbeat(lease time.Duration) time.Duration { return max(lease/4, 10*time.Millisecond) }

// whileAlive runs fn (which must not use conn) and pings conn meanwhile, so
// that the session's lease does not run out during a long Kafka write. A
// failed ping is returned once fn is done: the session is lost.
func whileAlive(ctx context.Context, conn *pgx.Conn, lease time.Duration, fn func()) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	t := time.NewTicker(heartbeat(lease))
	defer t.Stop()
	var perr error
	for {
		select {
		case <-done:
			return perr
		case <-t.C:
			if perr == nil {
				perr = conn.Ping(ctx)
			}
		}
	}
}

// sleepAlive is sleep for a holder: it pings conn meanwhile. It returns
// false when ctx ended, and the ping's error when the session is lost.
func sleepAlive(ctx context.Context, conn *pgx.Conn, lease, d time.Duration) (bool, error) {
	ok := true
	err := whileAlive(ctx, conn, lease, func() { ok = sleep(ctx, d) })
	return ok, err
}
