// Command workflow runs the town's workflow service: every listed power as a
// supervised process, with violation warnings, durable deadline timers, an
// audit trail and flowcharts. Configuration: flags or the environment the
// operator sets (see services/README.md); --help lists everything.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
	"github.com/wuxiao/wuxiao/services/workflow"
)

func main() {
	var (
		base          config.Base
		idHashKey     string
		calendarFile  string
		timerInterval time.Duration
	)
	cmd := config.NewRootCommand("workflow", "Runs every listed power as a supervised process", &base,
		func(ctx context.Context) error { return run(ctx, &base, idHashKey, calendarFile, timerInterval) })
	env := base.Env()
	env.String(&idHashKey, "id-hash-key", "WUXIAO_ID_HASH_KEY", "", "secret key for hashing ID numbers (payees, relatives); at least 32 characters")
	env.String(&calendarFile, "calendar-file", "WUXIAO_CALENDAR_FILE", "", "JSON file of holidays and adjusted working days (default: weekends only)")
	env.Duration(&timerInterval, "timer-interval", "WUXIAO_TIMER_INTERVAL", 15*time.Second, "how often due reminders and escalations are fired")
	base.AddCheck(func(p *config.Problems) {
		if len(idHashKey) < 32 {
			p.Addf("id-hash-key", "WUXIAO_ID_HASH_KEY", "must be a secret of at least 32 characters (e.g. from `openssl rand -hex 32`)")
		}
		if timerInterval < time.Second {
			p.Addf("timer-interval", "WUXIAO_TIMER_INTERVAL", "%s is too short; use at least 1s", timerInterval)
		}
	})
	os.Exit(config.Execute(cmd))
}

func run(ctx context.Context, base *config.Base, idHashKey, calendarFile string, timerInterval time.Duration) error {
	log := base.Logger()
	catalog, err := workflow.LoadCatalog(base.CatalogFile)
	if err != nil {
		return err
	}
	calendar, err := workflow.LoadCalendar(calendarFile)
	if err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: base.ServiceName(), Town: base.Town, District: base.District,
		OTLPEndpoint: base.OTLPEndpoint, SamplingRatio: base.SamplingRatio, Logger: log})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()

	pool, err := store.Open(ctx, base.DatabaseURL, "workflow", store.WithTracer(tel.PgxTracer()))
	if err != nil {
		return err
	}
	defer pool.Close()
	_ = tel.RecordPoolStats(pool)
	if err := events.Migrate(ctx, pool); err != nil {
		return err
	}
	if err := workflow.Migrate(ctx, pool); err != nil {
		return err
	}
	svc := &workflow.Service{Engine: &workflow.Engine{Catalog: catalog, Calendar: calendar}, Pool: pool,
		Town: base.Town, IDHashKey: []byte(idHashKey), Log: log}
	log.Info("power list loaded", "catalog", catalog.Name, "version", catalog.Version, "items", len(catalog.Items))

	auth := identity.New(base.KratosPublicURL, identity.WithLogger(log), identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(*base, log, tel).WithAuthenticator(auth.Require)
	srv.AddReadinessCheck("postgres", pool.Ping)
	svc.Routes(srv)

	// A missing topic would hold up the whole outbox: create ours (and its
	// dead-letter topic) before publishing. Partitions and replication
	// follow the District's Kafka settings when the operator provisions
	// them; these are the defaults of a one-broker development district.
	topic := eventsv1.Topic(base.Town, eventsv1.StreamWorkflow)
	if err := events.EnsureTopics(ctx, base.KafkaBrokers, 3, 1, topic, eventsv1.DeadLetterTopic(topic)); err != nil {
		return fmt.Errorf("kafka topics: %w", err)
	}
	relay := events.NewRelay(pool, base.KafkaBrokers, events.RelayOptions{Telemetry: events.Telemetry{Logger: log}})
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error {
		if err := relay.Run(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("event relay: %w", err)
		}
		return nil
	})
	g.Go(func() error { return svc.RunTimers(ctx, timerInterval) })
	return g.Wait()
}
