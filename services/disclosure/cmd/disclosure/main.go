// Command disclosure runs the town's disclosure service: the village wallets
// ("我们的钱包"), booked by town finance staff and from completed workflow
// processes, and subsidy payments, published with people masked.
// Configuration: flags or the environment the operator sets (see
// services/README.md); --help lists everything.
package main

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sync/errgroup"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"

	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

func main() {
	var (
		base      config.Base
		idHashKey string
	)
	cmd := config.NewRootCommand("disclosure", "Publishes village wallets and subsidy payments", &base,
		func(ctx context.Context) error { return run(ctx, &base, idHashKey) })
	env := base.Env()
	env.String(&idHashKey, "id-hash-key", "WUXIAO_ID_HASH_KEY", "", "secret key for hashing households' ID numbers; at least 32 characters")
	base.AddCheck(func(p *config.Problems) {
		if len(idHashKey) < 32 {
			p.Addf("id-hash-key", "WUXIAO_ID_HASH_KEY", "must be a secret of at least 32 characters (e.g. from `openssl rand -hex 32`)")
		}
	})
	os.Exit(config.Execute(cmd))
}

// consumerGroup names the Kafka consumer group (and the inbox consumer) of
// the town's disclosure service.
func consumerGroup(town string) string { return "wuxiao-disclosure-" + town }

func run(ctx context.Context, base *config.Base, idHashKey string) error {
	log := base.Logger()
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: base.ServiceName(), Town: base.Town, District: base.District,
		OTLPEndpoint: base.OTLPEndpoint, SamplingRatio: base.SamplingRatio, Logger: log})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()

	pool, err := store.Open(ctx, base.DatabaseURL, "disclosure", store.WithTracer(tel.PgxTracer()))
	if err != nil {
		return err
	}
	defer pool.Close()
	_ = tel.RecordPoolStats(pool)
	if err := events.Migrate(ctx, pool); err != nil {
		return err
	}
	if err := disclosure.Migrate(ctx, pool); err != nil {
		return err
	}
	svc := &disclosure.Service{Pool: pool, Town: base.Town, IDHashKey: []byte(idHashKey), Log: log}

	auth := identity.New(base.KratosPublicURL, identity.WithLogger(log), identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(*base, log, tel).WithAuthenticator(auth.Require)
	srv.AddReadinessCheck("postgres", pool.Ping)
	svc.Routes(srv)

	// Our stream and its dead-letter topic, and the dead-letter topic of the
	// workflow stream we consume (the consumer dead-letters there); the
	// workflow topic itself is the workflow service's, created here too so
	// that starting order does not matter.
	topic := eventsv1.Topic(base.Town, eventsv1.StreamDisclosure)
	workflowTopic := eventsv1.Topic(base.Town, eventsv1.StreamWorkflow)
	if err := events.EnsureTopics(ctx, base.KafkaBrokers, 3, 1, topic, eventsv1.DeadLetterTopic(topic),
		workflowTopic, eventsv1.DeadLetterTopic(workflowTopic)); err != nil {
		return fmt.Errorf("kafka topics: %w", err)
	}
	relay := events.NewRelay(pool, base.KafkaBrokers, events.RelayOptions{Telemetry: events.Telemetry{Logger: log}})
	consumer := events.NewConsumer(pool, base.KafkaBrokers, consumerGroup(base.Town), []string{workflowTopic},
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
