package events

// In-process wakeups of the relay (issue 18: no standing relay session at
// rest). A relay at rest holds no session, so it cannot LISTEN; what its
// own process commits wakes it at once through WakeTracer instead, which
// watches the process's pool connections: a transaction that wrote an
// outbox row (enqueueSQL, alone or in a batch) wakes the relays of its
// schema when it ends. A rollback wakes them too, for nothing: they find no
// row. What other processes commit, a relay at rest finds by polling
// (relay_session.go).

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
)

// wakeups: schema (the pool's search_path) → the channels of the relays
// running on it in this process.
var wakeups = struct {
	sync.Mutex
	m map[string]map[chan struct{}]struct{}
}{m: map[string]map[chan struct{}]struct{}{}}

// subscribeWake returns a channel that receives (at most one pending)
// signal whenever this process commits outbox rows in schema.
func subscribeWake(schema string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	wakeups.Lock()
	if wakeups.m[schema] == nil {
		wakeups.m[schema] = map[chan struct{}]struct{}{}
	}
	wakeups.m[schema][ch] = struct{}{}
	wakeups.Unlock()
	return ch, func() {
		wakeups.Lock()
		delete(wakeups.m[schema], ch)
		if len(wakeups.m[schema]) == 0 {
			delete(wakeups.m, schema)
		}
		wakeups.Unlock()
	}
}

func wake(schema string) {
	wakeups.Lock()
	defer wakeups.Unlock()
	for ch := range wakeups.m[schema] {
		select {
		case ch <- struct{}{}:
		default: // a wakeup is pending already
		}
	}
}

// WakeTracer returns the pgx tracer that wakes this process's relays when
// one of its transactions that enqueued events ends (add it to the pool:
// store.WithTracer; platform.Open does). Without it a relay at rest finds
// its own process's events only when it polls.
func WakeTracer() pgx.QueryTracer { return wakeTracer{} }

type wakeTracer struct{}

var _ pgx.BatchTracer = wakeTracer{}

// pendingKey marks (in the connection's CustomData) a transaction that
// wrote outbox rows.
const pendingKey = "wuxiao.events.outbox-pending"

func (wakeTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if data.SQL == enqueueSQL {
		conn.PgConn().CustomData()[pendingKey] = true
	}
	return ctx
}

func (wakeTracer) TraceQueryEnd(_ context.Context, conn *pgx.Conn, _ pgx.TraceQueryEndData) {
	ended(conn)
}

func (wakeTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (wakeTracer) TraceBatchQuery(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	if data.SQL == enqueueSQL {
		conn.PgConn().CustomData()[pendingKey] = true
	}
}

func (wakeTracer) TraceBatchEnd(_ context.Context, conn *pgx.Conn, _ pgx.TraceBatchEndData) {
	ended(conn)
}

// ended wakes the schema's relays once the connection is out of the
// transaction that wrote outbox rows (committed or not).
func ended(conn *pgx.Conn) {
	d := conn.PgConn().CustomData()
	if d[pendingKey] == nil || conn.PgConn().TxStatus() != 'I' {
		return
	}
	delete(d, pendingKey)
	wake(conn.Config().RuntimeParams["search_path"])
}
