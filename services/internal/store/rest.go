package store

// Background work at rest (issue 18: a district at rest holds at most half
// of PostgreSQL's connections). A service's periodic work — the health
// probe, timers, escalations, notification polls, the outbox relay's look
// for rows — runs every few seconds. On a pool that keeps an idle
// connection IdleConnTimeout (30 s), any of it keeps one connection open
// for good, in every replica of every service. So a pool use whose context
// is marked Background gives its connection back to the server when it is
// done, unless requests used that connection within IdleConnTimeout (it is
// warm, and then idles out as it would anyway). At rest such work costs a
// short-lived connection per run instead of a standing one; under traffic
// it rides on the warm ones for free.

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type backgroundKey struct{}

// Background marks ctx's pool uses as periodic background work: a
// connection the pool had to open for it is closed when it is released.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// IsBackground reports whether ctx was marked by Background.
func IsBackground(ctx context.Context) bool {
	b, _ := ctx.Value(backgroundKey{}).(bool)
	return b
}

// CustomData keys of a pooled connection (used only while it is acquired).
const (
	useKey     = "wuxiao.store.background" // bool: the current use is background work
	trafficKey = "wuxiao.store.traffic"    // time.Time: the last use that was not
)

// restTracer implements the policy with pgxpool's acquire and release
// hooks. Release is the only synchronous hook before a connection goes
// back to the pool (AfterRelease returns it from a goroutine, so a query
// right after a release would open a second connection): closing the
// connection there makes the pool destroy it.
type restTracer struct{}

var (
	_ pgxpool.AcquireTracer = restTracer{}
	_ pgxpool.ReleaseTracer = restTracer{}
	_ pgx.QueryTracer       = restTracer{}
)

func (restTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return ctx
}

func (restTracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, data pgxpool.TraceAcquireEndData) {
	if data.Conn == nil {
		return
	}
	d := data.Conn.PgConn().CustomData()
	bg := IsBackground(ctx)
	d[useKey] = bg
	if !bg {
		d[trafficKey] = time.Now()
	}
}

func (restTracer) TraceRelease(pool *pgxpool.Pool, data pgxpool.TraceReleaseData) {
	conn := data.Conn
	if conn == nil || conn.IsClosed() {
		return
	}
	d := conn.PgConn().CustomData()
	if bg, _ := d[useKey].(bool); !bg {
		return
	}
	if last, ok := d[trafficKey].(time.Time); ok && time.Since(last) < pool.Config().MaxConnIdleTime {
		return // warm from requests: it idles out on its own
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx) // the pool destroys a closed connection
}

// A pgx.QueryTracer only so that it can be combined with others
// (multitracer takes QueryTracers); it traces no query.
func (restTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (restTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
