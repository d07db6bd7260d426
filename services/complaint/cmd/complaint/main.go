// Command complaint runs the town's complaint service (码上举报): the public
// intake from the QR page and Open311, the public tracking page, the staff
// routes, and the escalation of overdue complaints.
// Configuration: flags or the environment the operator sets (see
// services/README.md); --help lists everything.
package main

import (
	"context"
	"os"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/settings"

	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/keys"
	"github.com/wuxiao/wuxiao/services/internal/platform"
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
	env.String(&opts.ChallengeKey, "challenge-key", settings.EnvChallengeKey, "", "secret key signing the intake's proof-of-work challenges, the same on every replica; at least 32 characters")
	env.Duration(&opts.EscalationInterval, "escalation-interval", "WUXIAO_ESCALATION_INTERVAL", time.Minute, "how often overdue complaints are escalated")
	base.AddCheck(func(p *config.Problems) {
		if len(opts.ChallengeKey) < 32 {
			p.Addf("challenge-key", settings.EnvChallengeKey, "must be a secret of at least 32 characters (e.g. from `openssl rand -hex 32`)")
		}
		if opts.EscalationInterval <= 0 {
			p.Addf("escalation-interval", "WUXIAO_ESCALATION_INTERVAL", "must be positive")
		}
	})
	cmd.AddCommand(platform.DeadLettersCommand(&base))
	os.Exit(config.Execute(cmd))
}

// escalationBatch bounds the complaints escalated in one transaction.
const escalationBatch = 100

func run(ctx context.Context, base *config.Base, opts options) error {
	if base.MigrateOnly { // the init container: migrate as the migration role, grant the service's role
		return platform.Migrate(ctx, base, "complaint", complaint.Migrate)
	}
	// MAX_BODY_BYTES stays the limit of the JSON routes; the server itself
	// must let the report page's uploads (3 × 5 MiB) through.
	bodyLimit := base.MaxBodyBytes
	base.MaxBodyBytes = max(base.MaxBodyBytes, complaint.IntakeMaxBodyBytes)
	p, err := platform.Open(ctx, base, "complaint", complaint.Migrate)
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	if err := keys.Check(ctx, p.Pool, keys.Challenge.With([]byte(opts.ChallengeKey))); err != nil {
		return err
	}
	svc := &complaint.Service{Pool: p.Pool, Town: base.Town, Log: p.Log}
	if err := svc.Instrument(p.Tel.MeterProvider); err != nil {
		return err
	}
	api := complaint.NewAPI(svc, []byte(opts.ChallengeKey))
	api.Optional = p.Auth.Optional
	api.BodyLimit = bodyLimit
	api.Routes(p.Server)
	// The report page names the village the operator registered.
	consume := []platform.Consume{{Stream: eventsv1.StreamTenant, Handler: svc.HandleTenantEvent},
		// The notice board's postings, for objections (objection.go).
		{Stream: eventsv1.StreamWorkflow, Handler: svc.HandleWorkflowEvent}}
	return p.Run(ctx, eventsv1.StreamComplaint, consume,
		escalationLoop(svc, opts.EscalationInterval))
}

// escalationLoop runs escalate every interval until ctx ends; failures
// are logged and retried at the next tick (every replica may run it).
func escalationLoop(svc *complaint.Service, interval time.Duration) func(context.Context) error {
	return platform.Every(interval, func(ctx context.Context) { escalate(ctx, svc) })
}

// escalate escalates the overdue complaints and sweeps staged uploads once.
func escalate(ctx context.Context, svc *complaint.Service) {
	// One call walks every overdue complaint, escalationBatch per
	// transaction.
	n, err := svc.Escalate(ctx, escalationBatch)
	if err != nil && ctx.Err() == nil {
		svc.Log.ErrorContext(ctx, "escalating overdue complaints", "error", err.Error())
	}
	if n > 0 {
		svc.Log.InfoContext(ctx, "escalated overdue complaints", "count", n)
	}
	// Uploads a crashed process left staged (a request deletes its own).
	if _, err := svc.SweepUploads(ctx, time.Hour); err != nil && ctx.Err() == nil {
		svc.Log.ErrorContext(ctx, "sweeping staged uploads", "error", err.Error())
	}
}
