package platform

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/wuxiao/wuxiao/services/internal/store"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// HealthOptions tune Health; zero values take the defaults in brackets.
type HealthOptions struct {
	// Interval is how often each dependency is probed [15s].
	Interval time.Duration
	// Timeout bounds one probe; a dependency that does not answer within
	// it counts as down [5s].
	Timeout time.Duration
	// Meter makes the wuxiao_dependency_up gauge [none: no metric].
	Meter  metric.Meter
	Logger *slog.Logger
}

// Health probes the service's two dependencies, PostgreSQL (a round trip
// on the service's own pool) and Kafka (a metadata request on a fresh
// connection to a broker), in the background, and reports the last
// outcomes as the gauge wuxiao_dependency_up{dependency="postgres"|"kafka"}
// (1 answered, 0 not). A scrape only reads the stored outcomes, so it never
// waits on a dependency in trouble. Until a dependency's first probe ends
// it has no series.
type Health struct {
	pool    *pgxpool.Pool
	brokers []string
	opts    HealthOptions
	log     *slog.Logger
	up      metric.Int64ObservableGauge

	mu   sync.Mutex
	last map[string]bool      // dependency -> last probe succeeded
	at   map[string]time.Time // dependency -> when the last probe ended
}

// Dependency label values.
const (
	DependencyPostgres = "postgres"
	DependencyKafka    = "kafka"
)

// NewHealth returns the prober of pool's database and of the brokers.
func NewHealth(pool *pgxpool.Pool, brokers []string, opts HealthOptions) *Health {
	if opts.Interval <= 0 {
		opts.Interval = 15 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Health{pool: pool, brokers: brokers, opts: opts, last: map[string]bool{}, at: map[string]time.Time{},
		log: opts.Logger.With("component", "dependency-health")}
}

// Run probes every Interval until ctx ends, then returns nil.
func (h *Health) Run(ctx context.Context) error {
	if h.opts.Meter != nil {
		var err error
		h.up, err = h.opts.Meter.Int64ObservableGauge("wuxiao.dependency.up",
			metric.WithDescription("1 if the service's last probe of a dependency (postgres, kafka) got an answer within its timeout, else 0; probed in the background (every 15s by default)"))
		if err == nil {
			var reg metric.Registration
			if reg, err = h.opts.Meter.RegisterCallback(h.observe, h.up); err == nil {
				defer func() { _ = reg.Unregister() }()
			}
		}
		if err != nil {
			h.log.Warn("registering the dependency gauge", "err", err)
		}
	}
	// One loop per dependency: a probe hanging until its timeout does not
	// delay the other's.
	var wg sync.WaitGroup
	for dep, probe := range map[string]func(context.Context) error{DependencyPostgres: h.probePostgres, DependencyKafka: h.probeKafka} {
		wg.Go(func() {
			t := time.NewTicker(h.opts.Interval)
			defer t.Stop()
			for {
				h.check(ctx, dep, probe)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
	return nil
}

func (h *Health) check(ctx context.Context, dep string, probe func(context.Context) error) {
	pctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	err := probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return // stopping: the failure is ours, not the dependency's
	}
	h.mu.Lock()
	was, seen := h.last[dep]
	h.last[dep] = err == nil
	h.at[dep] = time.Now()
	h.mu.Unlock()
	switch {
	case err != nil && (was || !seen):
		h.log.Warn("dependency unreachable", "dependency", dep, "err", err)
	case err == nil && seen && !was:
		h.log.Info("dependency reachable again", "dependency", dep)
	}
}

func (h *Health) observe(_ context.Context, o metric.Observer) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for dep, ok := range h.last {
		v := int64(0)
		if ok {
			v = 1
		}
		o.ObserveInt64(h.up, v, metric.WithAttributes(attribute.String("dependency", dep)))
	}
	return nil
}

// probePostgres is a round trip on a pooled connection (an empty query,
// which the pgx tracer does not turn into a span every interval), as
// background work: at rest the connection goes back to the server at once
// (store.Background; issue 18).
func (h *Health) probePostgres(ctx context.Context) error { return h.pool.Ping(store.Background(ctx)) }

// PostgresReady is the readiness check of the database: the outcome of the
// background probe while it is fresh (younger than Interval + Timeout),
// else a probe now. The kubelet's probes thus open no connection of their
// own at rest, and still fail within one interval of the database going
// away.
func (h *Health) PostgresReady(ctx context.Context) error {
	h.mu.Lock()
	ok, seen := h.last[DependencyPostgres]
	fresh := time.Since(h.at[DependencyPostgres]) < h.opts.Interval+h.opts.Timeout
	h.mu.Unlock()
	if seen && fresh {
		if ok {
			return nil
		}
		return errors.New("the last probe of PostgreSQL got no answer")
	}
	return h.probePostgres(ctx)
}

// probeKafka asks every broker at once for the cluster's metadata, each on
// a connection of its own (a shared kafka.Transport would answer from its
// metadata cache): Kafka is up if one answers, so a broker whose host drops
// packets does not use up the others' time.
func (h *Health) probeKafka(ctx context.Context) error {
	if len(h.brokers) == 0 {
		return errors.New("no Kafka brokers")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the others stop at the first answer
	d := &kafka.Dialer{Timeout: h.opts.Timeout}
	results := make(chan error, len(h.brokers))
	for _, b := range h.brokers {
		go func() {
			results <- func() error {
				conn, err := d.DialContext(ctx, "tcp", b)
				if err != nil {
					return err
				}
				defer conn.Close()
				if dl, ok := ctx.Deadline(); ok {
					_ = conn.SetDeadline(dl)
				}
				// The deadline does not see ctx end early (the service
				// stopping, another broker answering).
				stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
				defer stop()
				_, err = conn.Brokers()
				return err
			}()
		}()
	}
	var errs []error
	for range h.brokers {
		err := <-results
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
