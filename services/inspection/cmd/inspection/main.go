// Command inspection runs the town's inspection service: it consumes the
// workflow's violation warnings, rates every village A to D per assessment
// period, records and announces changes of grade, and issues the warning and
// rectification notices a fall to C or D brings. Configuration: flags or the
// environment the operator sets (see services/README.md); --help lists
// everything.
package main

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sync/errgroup"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"

	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

func main() {
	var (
		base     config.Base
		townName string
	)
	cmd := config.NewRootCommand("inspection", "Rates villages and issues warning and rectification notices", &base,
		func(ctx context.Context) error { return run(ctx, &base, townName) })
	env := base.Env()
	env.String(&townName, "town-name", "WUXIAO_TOWN_NAME", "", "the town's name as notices are signed, e.g. 溪口镇 (default: the town's object name)")
	os.Exit(config.Execute(cmd))
}

func run(ctx context.Context, base *config.Base, townName string) error {
	log := base.Logger()
	if townName == "" {
		townName = base.Town
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: base.ServiceName(), Town: base.Town, District: base.District,
		OTLPEndpoint: base.OTLPEndpoint, SamplingRatio: base.SamplingRatio, Logger: log})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()

	pool, err := store.Open(ctx, base.DatabaseURL, "inspection", store.WithTracer(tel.PgxTracer()))
	if err != nil {
		return err
	}
	defer pool.Close()
	_ = tel.RecordPoolStats(pool)
	if err := events.Migrate(ctx, pool); err != nil {
		return err
	}
	if err := inspection.Migrate(ctx, pool); err != nil {
		return err
	}
	svc := &inspection.Service{Rules: inspection.DefaultRules(), Notices: inspection.DefaultNoticeConfig(), Pool: pool,
		Town: base.Town, TownName: townName, VillageNames: map[string]string{}, Log: log}

	auth := identity.New(base.KratosPublicURL, identity.WithLogger(log), identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(*base, log, tel).WithAuthenticator(auth.Require)
	srv.AddReadinessCheck("postgres", pool.Ping)
	svc.Routes(srv)

	// A missing topic would hold up the outbox or the consumer: create ours
	// (and its dead-letter topic), the workflow's dead-letter topic, where
	// warnings we cannot apply go, and the workflow topic itself, so that
	// the consumer can join its group even before the workflow service has
	// published anything. Existing topics are left as they are.
	topic := eventsv1.Topic(base.Town, eventsv1.StreamInspection)
	workflowTopic := eventsv1.Topic(base.Town, eventsv1.StreamWorkflow)
	if err := events.EnsureTopics(ctx, base.KafkaBrokers, 3, 1, topic, eventsv1.DeadLetterTopic(topic),
		workflowTopic, eventsv1.DeadLetterTopic(workflowTopic)); err != nil {
		return fmt.Errorf("kafka topics: %w", err)
	}
	relay := events.NewRelay(pool, base.KafkaBrokers, events.RelayOptions{Telemetry: events.Telemetry{Logger: log}})
	consumer := events.NewConsumer(pool, base.KafkaBrokers, "wuxiao-inspection-"+base.Town, []string{workflowTopic},
		svc.HandleWorkflowEvent, events.ConsumerOptions{Telemetry: events.Telemetry{Logger: log}})
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error {
		if err := relay.Run(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("event relay: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := consumer.Run(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("workflow consumer: %w", err)
		}
		return nil
	})
	return g.Wait()
}
