package disclosure

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wuxiao/wuxiao/api/divcode"
)

// Version notifications: touchVillage also sends
//
//	pg_notify('wuxiao_portal', '<village>|<version>|<changed_at µs>|<schema>|<name>')
//
// in the writing transaction, which PostgreSQL delivers to every listening
// session when (and only if) it commits. Each replica's listener keeps a map
// village → version from them, so a warm request reads nothing from the
// database. The map is trusted only while the listener is known to hear
// everything:
//
//   - from a LISTEN that succeeded until the session is lost; then (and at
//     start-up, and while reconnecting with backoff) requests read the
//     version from the database as without a listener. After LISTEN succeeds
//     again the map starts empty: anything may have changed while deaf.
//   - for listenTrust after the last proof that the session still delivers
//     (LISTEN, a notification, a heartbeat round trip): a connection that
//     stalls silently is distrusted after at most listenTrust.
//
// A version read from the database is kept only if the same session was
// listening during the whole read (its epoch did not change): a change
// committed after the read's snapshot is then notified, and the map keeps
// the higher of the two versions whatever order they arrive in.
//
// A replica sees a change once its listener has received the notification;
// the commit signals the listening sessions before the writer's COMMIT
// returns, so this normally precedes any request that follows the write.

const (
	portalChannel = "wuxiao_portal"
	// listenHeartbeat: after this long without a notification the listener
	// proves its session alive with a round trip (also its timeout).
	listenHeartbeat = time.Second
	// listenTrust is how long a proof of life lets requests use the map.
	listenTrust = 3 * time.Second
	// versionRecheck re-reads a village's version from the database at
	// least this often, in case of a writer that does not notify (a build
	// without notifications during a rolling update, a manual fix that
	// bumps villages.version by hand).
	versionRecheck   = PortalMaxAge
	listenBackoffMin = 200 * time.Millisecond
	listenBackoffMax = 15 * time.Second
	// listenIdle: a listener with no page request for this long ends its
	// session (issue 18: a district at rest holds at most half of
	// PostgreSQL's connections); the next request reads its version from
	// the database, as without a listener, and starts it again.
	listenIdle = 20 * time.Second
)

// errIdle ends a listening session nobody asked anything of for listenIdle.
var errIdle = errors.New("no page requests for a while")

// ListenPortal keeps the portal's version map current from PostgreSQL
// notifications until ctx ends, reconnecting with backoff when its session
// is lost (a platform.Run loop; it returns nil when ctx ends). Without it,
// or while it is not listening, every page request reads its village's
// version from the database. One listener per Service. It listens from
// its start and as long as pages are asked for; listenIdle after the last
// request it gives its session back, and the next request starts it again.
func (s *Service) ListenPortal(ctx context.Context) error {
	return s.listenPortal(ctx, listenOptions{})
}

type listenOptions struct {
	// beforeConnect runs before every connection attempt (tests hold
	// reconnection with it).
	beforeConnect func(context.Context) error
	// idle replaces listenIdle (tests).
	idle time.Duration
}

func (s *Service) listenPortal(ctx context.Context, o listenOptions) error {
	book := s.cache().versions
	if !book.running.CompareAndSwap(false, true) {
		return errors.New("the portal listener of this service is already running")
	}
	defer book.running.Store(false)
	book.idle = cmp.Or(o.idle, listenIdle)
	book.lastDemand.Store(time.Now().UnixNano()) // a replica that just started is about to serve
	backoff := listenBackoffMin
	for {
		if !book.wanted(time.Now()) {
			select { // a wakeup from before the last session is stale
			case <-book.demanded:
			default:
			}
			if !book.wanted(time.Now()) {
				select {
				case <-ctx.Done():
					return nil
				case <-book.demanded:
				}
			}
		}
		listened, err := s.listenOnce(ctx, book, o)
		book.deaf()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errIdle) {
			backoff = listenBackoffMin
			continue
		}
		if listened {
			backoff = listenBackoffMin
		}
		wait := backoff/2 + rand.N(backoff/2+1) //nolint:gosec // G404: jitter spreading reconnections, not a secret
		if s.Log != nil {
			s.Log.WarnContext(ctx, "portal listener lost; pages read versions from the database until it is back",
				"error", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// listenOnce listens on one dedicated session until it fails or ctx ends;
// listened says whether LISTEN succeeded.
func (s *Service) listenOnce(ctx context.Context, book *versionBook, o listenOptions) (listened bool, err error) {
	if o.beforeConnect != nil {
		if err := o.beforeConnect(ctx); err != nil {
			return false, err
		}
	}
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("acquiring a connection: %w", err)
	}
	// A session that LISTENs never goes back to the pool.
	defer func() {
		c := conn.Hijack()
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = c.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+portalChannel); err != nil {
		return false, fmt.Errorf("LISTEN: %w", err)
	}
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return false, fmt.Errorf("reading the schema: %w", err)
	}
	pc := conn.Conn().PgConn()
	book.connected(schema, pc.PID(), time.Now())
	for {
		wctx, cancel := context.WithTimeout(ctx, listenHeartbeat)
		n, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if n != nil {
			book.notified(n.Payload, time.Now())
		}
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return true, nil
		case !pgconn.Timeout(err):
			return true, fmt.Errorf("waiting for notifications: %w", err)
		}
		// Quiet for a while: a round trip proves that notifications
		// committed before it started have arrived.
		start := time.Now()
		hctx, cancel := context.WithTimeout(ctx, listenHeartbeat)
		err = pc.Ping(hctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, fmt.Errorf("heartbeat: %w", err)
		}
		book.alive(start)
		if !book.wanted(time.Now()) {
			return true, errIdle
		}
	}
}

// currentVersion is the village's version for a request: from the map when
// the listener is trusted and knows the village, from the database
// otherwise (and then remembered if it is safe to).
func (s *Service) currentVersion(ctx context.Context, village string) (villageVersion, error) {
	book := s.cache().versions
	now := time.Now()
	book.want(now)
	if v, ok := book.lookup(village, now); ok {
		return v, nil
	}
	epoch, listening := book.begin()
	book.dbReads.Add(1)
	v, err := s.villageVersion(ctx, village)
	if err != nil || !listening {
		return v, err
	}
	return book.remember(village, v, epoch, now), nil
}

// versionBook is a replica's map village → version, fed by the listener.
type versionBook struct {
	running atomic.Bool  // a listener runs
	dbReads atomic.Int64 // versions read from the database
	// lastDemand is when (Unix ns, to the second) a page last asked for a
	// version; demanded wakes a listener that gave its session back.
	lastDemand atomic.Int64
	demanded   chan struct{}
	idle       time.Duration // listenIdle; read by the listener only

	mu         sync.RWMutex
	listening  bool
	schema     string // the listening session's: other schemas' notifications are not ours
	pid        uint32 // the listening session's backend
	aliveUntil time.Time
	// epoch changes whenever the listening session starts or ends: a
	// database read is kept only if it did not change during the read.
	epoch    uint64
	villages map[string]bookEntry
	changed  chan struct{} // closed and replaced on every change (tests wait on it)
}

type bookEntry struct {
	v         villageVersion
	checkedAt time.Time // when this version was known current
}

func newVersionBook() *versionBook {
	return &versionBook{villages: map[string]bookEntry{}, changed: make(chan struct{}), demanded: make(chan struct{}, 1)}
}

// want records a page request at now, and wakes a listener at rest. The
// time is stored at most once a second: requests on many cores do not all
// write one cache line.
func (b *versionBook) want(now time.Time) {
	n := now.UnixNano()
	if n-b.lastDemand.Load() < int64(time.Second) {
		return
	}
	b.lastDemand.Store(n)
	select {
	case b.demanded <- struct{}{}:
	default:
	}
}

// wanted reports whether a page asked for a version within listenIdle.
func (b *versionBook) wanted(now time.Time) bool {
	return now.UnixNano()-b.lastDemand.Load() < int64(b.idle)
}

func (b *versionBook) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// lookup answers from the map if it may be trusted at now.
func (b *versionBook) lookup(village string, now time.Time) (villageVersion, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if !b.listening || !now.Before(b.aliveUntil) {
		return villageVersion{}, false
	}
	e, ok := b.villages[village]
	if !ok || now.Sub(e.checkedAt) >= versionRecheck {
		return villageVersion{}, false
	}
	return e.v, true
}

// begin is called before a database read: its epoch, and whether a session
// is listening (otherwise the read is not kept).
func (b *versionBook) begin() (uint64, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.epoch, b.listening
}

// remember keeps v, read from the database since at, if the session that
// listened when the read began still does; it returns the newer of v and
// what a notification brought meanwhile. Unknown villages are not kept:
// anyone may ask for any number of them.
func (b *versionBook) remember(village string, v villageVersion, epoch uint64, at time.Time) villageVersion {
	if !v.Known {
		return v
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.epoch != epoch || !b.listening {
		return v
	}
	if e, ok := b.villages[village]; ok && e.v.Version >= v.Version {
		return e.v
	}
	b.villages[village] = bookEntry{v: v, checkedAt: at}
	b.broadcastLocked()
	return v
}

// connected starts trusting a new listening session, with an empty map.
func (b *versionBook) connected(schema string, pid uint32, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.epoch++
	b.listening, b.schema, b.pid, b.aliveUntil = true, schema, pid, now.Add(listenTrust)
	b.villages = map[string]bookEntry{}
	b.broadcastLocked()
}

// deaf stops trusting the map: requests read the database.
func (b *versionBook) deaf() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.epoch++
	b.listening, b.pid = false, 0
	b.villages = map[string]bookEntry{}
	b.broadcastLocked()
}

// alive records a proof, made at now, that the session delivers.
func (b *versionBook) alive(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.listening {
		b.aliveUntil = now.Add(listenTrust)
		b.broadcastLocked()
	}
}

// notified applies a notification received at now; malformed ones and
// those of another schema are ignored.
func (b *versionBook) notified(payload string, now time.Time) {
	village, v, schema, ok := parseVersionNotice(payload)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.listening {
		return
	}
	b.aliveUntil = now.Add(listenTrust)
	if !ok || schema != b.schema {
		return
	}
	if e, ok := b.villages[village]; ok && e.v.Version > v.Version {
		return // an older notification after a newer read
	}
	b.villages[village] = bookEntry{v: v, checkedAt: now}
	b.broadcastLocked()
}

// parseVersionNotice reads '<village>|<version>|<changed_at µs>|<schema>|<name>'
// (the name last: it may contain '|').
func parseVersionNotice(payload string) (village string, v villageVersion, schema string, ok bool) {
	f := strings.SplitN(payload, "|", 5)
	if len(f) != 5 || !divcode.Valid(f[0]) || f[3] == "" {
		return "", v, "", false
	}
	version, err1 := strconv.ParseInt(f[1], 10, 64)
	micros, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || version <= 0 {
		return "", v, "", false
	}
	return f[0], villageVersion{Known: true, Version: version, ChangedAt: time.UnixMicro(micros), Name: f[4]}, f[3], true
}
