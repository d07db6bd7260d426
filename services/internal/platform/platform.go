// Package platform starts what every Wuxiao service runs, so that each
// service's main only adds its own domain: telemetry, the database pool with
// its migrations, the Kratos authenticator, the HTTP server, the Kafka
// topics, the outbox relay and the consumers.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// Platform is a service's running infrastructure.
type Platform struct {
	Base   *config.Base
	Log    *slog.Logger
	Tel    *telemetry.Telemetry
	Pool   *pgxpool.Pool
	Auth   *identity.Authenticator
	Server *httpapi.Server

	health *Health
}

// Open sets up telemetry, opens the service's schema (traced, with pool
// metrics), applies the events migrations and the service's own, and builds
// the authenticator and the HTTP server with a database readiness check.
// Close releases it.
func Open(ctx context.Context, base *config.Base, schema string, migrate func(context.Context, *pgxpool.Pool) error) (*Platform, error) {
	if base.MigrateOnly {
		return nil, errors.New("platform.Open in migrate-only mode: the service's main must call platform.Migrate instead")
	}
	p := &Platform{Base: base, Log: base.Logger()}
	var err error
	p.Tel, err = telemetry.Setup(ctx, telemetry.Options{ServiceName: base.ServiceName(), Town: base.Town, District: base.District,
		OTLPEndpoint: base.OTLPEndpoint, SamplingRatio: base.SamplingRatio, Logger: p.Log})
	if err != nil {
		return nil, err
	}
	// WakeTracer: the process's commits of outbox rows wake its relay,
	// which holds no session at rest (issue 18).
	if p.Pool, err = store.Open(ctx, base.DatabaseURL, schema, store.WithTracer(p.Tel.PgxTracer()), store.WithTracer(events.WakeTracer())); err != nil {
		p.Close(ctx)
		return nil, err
	}
	_ = p.Tel.RecordPoolStats(p.Pool)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{events.Migrate, migrate} {
		if err := m(ctx, p.Pool); err != nil {
			p.Close(ctx)
			return nil, err
		}
	}
	p.Auth = identity.New(base.KratosPublicURL, identity.WithLogger(p.Log), identity.WithErrorWriter(httpapi.WriteStatusProblem),
		identity.WithTownGroup(base.Town, base.TownGroup))
	p.Server = httpapi.New(*base, p.Log, p.Tel).WithAuthenticator(p.Auth.Require)
	p.health = NewHealth(p.Pool, base.KafkaBrokers, HealthOptions{Meter: p.Tel.Meter(scope), Logger: p.Log})
	// The kubelet asks every 10 s: the answer is the background probe's
	// (every 15 s), so that readiness keeps no connection open at rest.
	p.Server.AddReadinessCheck("postgres", p.health.PostgresReady)
	return p, nil
}

// grantWait bounds how long Migrate waits for a table another service's
// migrations create (store.Privileges.Reads): the Deployments' init
// containers start together.
var grantWait = 5 * time.Minute

// Migrate is the init container's mode (config.Base.MigrateOnly): it
// applies the events migrations and the service's own with
// base.DatabaseURL, the town's migration role, which owns the schemas and
// tables; then grants base.DatabaseAppRole, the role the serving container
// connects as, exactly the service's privileges (store.Grant), and returns.
// It uses one connection.
func Migrate(ctx context.Context, base *config.Base, schema string, migrate func(context.Context, *pgxpool.Pool) error) error {
	log := base.Logger()
	pool, err := store.Open(ctx, base.DatabaseURL, schema, store.WithMaxConns(1))
	if err != nil {
		return err
	}
	defer pool.Close()
	for _, m := range []func(context.Context, *pgxpool.Pool) error{events.Migrate, migrate} {
		if err := m(ctx, pool); err != nil {
			return err
		}
	}
	if base.DatabaseAppRole == "" {
		log.Info("migrations applied; no service role to grant (--database-app-role)", "schema", schema)
		return nil
	}
	deadline := time.Now().Add(grantWait)
	for {
		err := store.Grant(ctx, pool, base.DatabaseAppRole)
		var missing *store.MissingTableError
		if !errors.As(err, &missing) || time.Now().After(deadline) {
			if err == nil {
				log.Info("migrations applied and privileges granted", "schema", schema, "role", base.DatabaseAppRole)
			}
			return err
		}
		log.Info("waiting for another service's migrations", "table", missing.Table)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// Close closes the pool and flushes telemetry.
func (p *Platform) Close(ctx context.Context) {
	if p.Pool != nil {
		p.Pool.Close()
	}
	if p.Tel != nil {
		_ = p.Tel.Shutdown(context.WithoutCancel(ctx))
	}
}

// scope names this package as the instrumentation library of its metrics.
const scope = "github.com/wuxiao/wuxiao/services/internal/platform"

// Consume names a town stream the service consumes, with its handler.
type Consume struct {
	Stream  string
	Handler events.Handler
	// Batch, if set, applies a fetch's events together
	// (events.ConsumerOptions.Batch).
	Batch events.BatchHandler
}

// Run creates the topics (the service's stream, the streams it consumes, the
// tenant-acks stream when it consumes the tenant one, and their dead-letter
// topics: a missing topic would hold up the outbox or keep
// a consumer from joining, and starting order between services must not
// matter), then runs the HTTP server, the outbox relay, one consumer per
// Consume (group wuxiao-<service>-<town>) and the extra loops, until ctx ends
// or one of them fails. It also probes PostgreSQL and Kafka in the
// background for the wuxiao_dependency_up gauge (Health). Partitions and replication are those of a one-broker
// development district until the operator provisions topics from the District.
func (p *Platform) Run(ctx context.Context, stream string, consume []Consume, loops ...func(context.Context) error) error {
	town, brokers := p.Base.Town, p.Base.KafkaBrokers
	var topics []string
	produced := append([]string{stream}, streams(consume)...)
	if slices.Contains(produced, eventsv1.StreamTenant) {
		// A service that applies the operator's tenant events acknowledges
		// them (services/internal/tenant) on the tenant-acks stream.
		produced = append(produced, eventsv1.StreamTenantAcks)
	}
	for _, s := range produced {
		t := eventsv1.Topic(town, s)
		topics = append(topics, t, eventsv1.DeadLetterTopic(t))
	}
	// The relay publishes the service's own stream and, for a tenant
	// consumer, its acknowledgements.
	published := []string{eventsv1.Topic(town, stream)}
	if slices.Contains(produced, eventsv1.StreamTenantAcks) {
		published = append(published, eventsv1.Topic(town, eventsv1.StreamTenantAcks))
	}
	if err := events.EnsureTopics(ctx, brokers, 3, 1, topics...); err != nil {
		return fmt.Errorf("kafka topics: %w", err)
	}
	tel := events.Telemetry{Logger: p.Log}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Server.Run(ctx) })
	g.Go(func() error { return p.health.Run(ctx) })
	relay := events.NewRelay(p.Pool, brokers, events.RelayOptions{Telemetry: tel, Topics: published})
	g.Go(func() error { return quiet(ctx, "event relay", relay.Run(ctx)) })
	for _, c := range consume {
		consumer := events.NewConsumer(p.Pool, brokers, "wuxiao-"+p.Base.Service+"-"+town, []string{eventsv1.Topic(town, c.Stream)},
			c.Handler, events.ConsumerOptions{Telemetry: tel, Batch: c.Batch})
		g.Go(func() error { return quiet(ctx, c.Stream+" consumer", consumer.Run(ctx)) })
	}
	for _, loop := range loops {
		g.Go(func() error { return loop(ctx) })
	}
	return g.Wait()
}

func streams(cs []Consume) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Stream
	}
	return out
}

// quiet drops the error a component returns because it was told to stop.
func quiet(ctx context.Context, what string, err error) error {
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Every returns a loop for Run that calls fn at each tick of interval (the
// first after one interval) until ctx ends. fn logs its own failures: a
// periodic job retries at the next tick instead of stopping the service.
// Its database uses are background work (store.Background): at rest a
// connection opened for it goes back to the server at once.
func Every(interval time.Duration, fn func(context.Context)) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx = store.Background(ctx)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			fn(ctx)
		}
	}
}
