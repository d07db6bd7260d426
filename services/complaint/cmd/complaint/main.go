// Command complaint runs the town's complaint service (码上举报): the public
// intake from the QR page and Open311, the public tracking page, the staff
// routes, and the escalation of overdue complaints.
// Configuration: flags or the environment the operator sets (see
// services/README.md); --help lists everything.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"

	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// options are the complaint service's own settings.
type options struct {
	// ChallengeKey signs proof-of-work challenges, so that every replica
	// verifies the others' challenges.
	ChallengeKey string
	// EscalationInterval is how often overdue complaints are escalated.
	EscalationInterval time.Duration
}

func main() {
	var (
		base config.Base
		opts options
	)
	cmd := config.NewRootCommand("complaint", "Takes villagers' complaints and follows them to their resolution", &base,
		func(ctx context.Context) error { return run(ctx, &base, opts) })
	env := base.Env()
	env.String(&opts.ChallengeKey, "challenge-key", "WUXIAO_CHALLENGE_KEY", "", "secret key signing the intake's proof-of-work challenges, the same on every replica; at least 32 characters")
	env.Duration(&opts.EscalationInterval, "escalation-interval", "WUXIAO_ESCALATION_INTERVAL", time.Minute, "how often overdue complaints are escalated")
	base.AddCheck(func(p *config.Problems) {
		if len(opts.ChallengeKey) < 32 {
			p.Addf("challenge-key", "WUXIAO_CHALLENGE_KEY", "must be a secret of at least 32 characters (e.g. from `openssl rand -hex 32`)")
		}
		if opts.EscalationInterval <= 0 {
			p.Addf("escalation-interval", "WUXIAO_ESCALATION_INTERVAL", "must be positive")
		}
	})
	os.Exit(config.Execute(cmd))
}

// escalationBatch bounds the complaints escalated in one transaction.
const escalationBatch = 100

func run(ctx context.Context, base *config.Base, opts options) error {
	log := base.Logger()
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: base.ServiceName(), Town: base.Town, District: base.District,
		OTLPEndpoint: base.OTLPEndpoint, SamplingRatio: base.SamplingRatio, Logger: log})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()

	pool, err := store.Open(ctx, base.DatabaseURL, "complaint", store.WithTracer(tel.PgxTracer()))
	if err != nil {
		return err
	}
	defer pool.Close()
	_ = tel.RecordPoolStats(pool)
	if err := events.Migrate(ctx, pool); err != nil {
		return err
	}
	if err := complaint.Migrate(ctx, pool); err != nil {
		return err
	}
	svc := &complaint.Service{Pool: pool, Town: base.Town, Log: log}

	auth := identity.New(base.KratosPublicURL, identity.WithLogger(log), identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(*base, log, tel).WithAuthenticator(auth.Require)
	srv.AddReadinessCheck("postgres", pool.Ping)
	api := complaint.NewAPI(svc, []byte(opts.ChallengeKey))
	api.Optional = auth.Optional
	api.Routes(srv)

	topic := eventsv1.Topic(base.Town, eventsv1.StreamComplaint)
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
	g.Go(func() error { escalate(ctx, svc, opts.EscalationInterval); return nil })
	return g.Wait()
}

// escalate runs Escalate every interval until ctx ends; failures are
// logged and retried at the next tick (every replica may run it).
func escalate(ctx context.Context, svc *complaint.Service, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := svc.Escalate(ctx, escalationBatch)
			if err != nil {
				if ctx.Err() == nil {
					svc.Log.ErrorContext(ctx, "escalating overdue complaints", "error", err.Error())
				}
				break
			}
			if n > 0 {
				svc.Log.InfoContext(ctx, "escalated overdue complaints", "count", n)
			}
			if n < escalationBatch {
				break
			}
		}
	}
}
