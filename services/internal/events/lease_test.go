package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// freezeProxy forwards TCP connections to target until frozen; from then
// on it takes every byte from both sides and passes none on, and answers
// no new connection: to PostgreSQL and to the relay behind it, the peer
// went silent with nothing closed and no error (a node that died, a
// network that dropped). Its kernel still acknowledges, so TCP alone
// would keep the session open far longer than any test runs.
type freezeProxy struct {
	ln     net.Listener
	target string
	frozen chan struct{}
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target, frozen: make(chan struct{}), closed: make(chan struct{})}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *freezeProxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

func (p *freezeProxy) isFrozen() bool {
	select {
	case <-p.frozen:
		return true
	default:
		return false
	}
}

func (p *freezeProxy) close() {
	close(p.closed)
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *freezeProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *freezeProxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(in)
		if p.isFrozen() {
			go p.pipe(io.Discard, in) // swallowed
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.track(out)
		go p.pipe(out, in)
		go p.pipe(in, out)
	}
}

// pipe copies src to dst until frozen, then swallows src's bytes.
func (p *freezeProxy) pipe(dst io.Writer, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.isFrozen() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if c, ok := dst.(net.Conn); ok && !p.isFrozen() {
				c.Close()
			}
			return
		}
	}
}

// The relay lock's holder vanishes without a word (its connection goes
// through a proxy that freezes): the server ends its session once the
// lease runs out, and the other replica publishes what waits, in order.
// Before the lease the others waited until TCP gave up (hours). Then a
// relay replica behind the frozen proxy steps down (gives up its session).
func TestRelayLeaseHandsOverFromVanishedHolder(t *testing.T) {
	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 3)
	const lease = 2 * time.Second
	ctx := context.Background()

	// Replica A reaches PostgreSQL through the proxy.
	pcfg := pool.Config().Copy()
	proxy := newFreezeProxy(t, net.JoinHostPort(pcfg.ConnConfig.Host, strconv.Itoa(int(pcfg.ConnConfig.Port))))
	host, port, _ := net.SplitHostPort(proxy.ln.Addr().String())
	pcfg.ConnConfig.Host = host
	p, _ := strconv.Atoi(port)
	pcfg.ConnConfig.Port = uint16(p)
	pcfg.ConnConfig.Fallbacks = nil
	poolA, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(poolA.Close)

	opts := func(name string) RelayOptions {
		o := fastRelay(t)
		o.Name, o.LockLease, o.PollInterval = name, lease, 200*time.Millisecond
		return o
	}
	a := NewRelay(poolA, brokers, opts("a"))
	background(t, a.Run)
	b := NewRelay(pool, brokers, opts("b"))
	background(t, b.Run)

	next := 0
	enqueue := func() {
		for _, v := range villages {
			mustEnqueue(t, pool, topic, testEvent(v, next))
		}
		next++
	}
	unpublished := func() int { return count(t, pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL`) }
	enqueue()
	eventually(t, "the first events published", func() (bool, string) { return unpublished() == 0, "not yet" })

	// A holder cut off while it holds the lock: a session under the lease,
	// as a relay's, through the proxy.
	cfg := poolA.Config().ConnConfig.Copy()
	leaseConfig(cfg, lease)
	holder, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	// A relay holds the lock until it goes to rest: try until it is free.
	eventually(t, "the vanishing holder taking the relay lock", func() (bool, string) {
		var got bool
		if err := holder.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey("svc")).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got, "held by a relay"
	})
	holderPID := holder.PgConn().PID()
	eventually(t, "replica a active", func() (bool, string) {
		wake("svc") // both relays run in this process
		return a.Active(), "a at rest"
	})
	proxy.freeze()
	frozenAt := time.Now()
	enqueue()
	enqueue()
	// Nobody publishes while the vanished holder's session lasts; bounded by
	// the lease, not by TCP: a generous multiple of it, so a busy machine
	// does not fail the test, far below TCP's hours.
	deadline := frozenAt.Add(30 * lease)
	for unpublished() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("nobody published within %s of the holder vanishing (lease %s): %d unpublished", 30*lease, lease, unpublished())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("published %.1fs after the holder vanished (lease %s)", time.Since(frozenAt).Seconds(), lease)
	if n := count(t, pool, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, holderPID); n != 0 {
		t.Errorf("the vanished holder's session (pid %d) still exists", holderPID)
	}
	for time.Now().Before(deadline) && a.Active() {
		time.Sleep(50 * time.Millisecond)
	}
	if a.Active() {
		t.Errorf("replica a, cut off, still holds its session %s after the proxy froze", time.Since(frozenAt))
	}

	// Every event is on the topic, each village's in order (a repeat of an
	// event is allowed: at least once).
	last := map[string]int{}
	for _, m := range readTopic(t, brokers, topic) {
		var pl payload
		if err := json.Unmarshal(m.Value, &pl); err != nil {
			t.Fatal(err)
		}
		prev, seen := last[pl.Village]
		if seen && pl.N < prev {
			t.Errorf("village %s: event %d after %d", pl.Village, pl.N, prev)
		}
		last[pl.Village] = pl.N
	}
	for _, v := range villages {
		if last[v] != next-1 {
			t.Errorf("village %s: last event %d on the topic, want %d", v, last[v], next-1)
		}
	}
}

// The relay's session carries the lease in its server settings.
func TestRelaySessionSettings(t *testing.T) {
	pool := openDB(t)
	cfg := pool.Config().ConnConfig.Copy()
	leaseConfig(cfg, 3*time.Second)
	conn, err := pgxConnect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for setting, want := range map[string]string{
		"idle_session_timeout": "3s", "idle_in_transaction_session_timeout": "3s", "tcp_user_timeout": "3000",
		"tcp_keepalives_idle": "1", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3",
	} {
		var got string
		if err := conn.QueryRow(context.Background(), "SELECT current_setting($1)", setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
}

func pgxConnect(cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	return pgx.ConnectConfig(context.Background(), cfg)
}

// A live relay is never silent for its lease: while Kafka is down it
// backs off longer than the lease, pinging meanwhile, and keeps its
// session (the same backend throughout) instead of being cut off and
// reconnecting on every retry.
func TestRelayHeartbeatKeepsLeaseThroughBackoff(t *testing.T) {
	pool := openDB(t)
	const lease = time.Second
	o := fastRelay(t)
	o.LockLease, o.PollInterval, o.BackoffMin, o.BackoffMax, o.WriteTimeout = lease, 200*time.Millisecond, 3*lease, 3*lease, time.Second
	r := NewRelay(pool, []string{"127.0.0.1:1"}, o) // nothing listens: every write fails
	mustEnqueue(t, pool, "wuxiao.test.heartbeat", testEvent(villages[0], 0))
	background(t, r.Run)
	session := func() int {
		var pid int
		err := pool.QueryRow(context.Background(), `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
			WHERE application_name = 'wuxiao-svc-relay' AND datname = current_database()`).Scan(&pid)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	eventually(t, "the relay active and failing to publish", func() (bool, string) {
		n := count(t, pool, `SELECT count(*) FROM outbox WHERE attempts > 0`)
		return r.Active() && session() != 0 && n > 0, fmt.Sprintf("active %v, %d rows attempted", r.Active(), n)
	})
	first := session()
	attempts := count(t, pool, `SELECT max(attempts) FROM outbox`)
	// Three backoffs of three leases each.
	for count(t, pool, `SELECT max(attempts) FROM outbox`) < attempts+3 {
		if pid := session(); pid != first {
			t.Fatalf("the relay's session changed backend (%d, then %d) while it was backing off: it was cut", first, pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if pid := session(); pid != first || !r.Active() {
		t.Fatalf("session %d (was %d), active %v", pid, first, r.Active())
	}
}
