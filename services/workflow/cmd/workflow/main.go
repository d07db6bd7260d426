// Command workflow runs the town's workflow service: every listed power as a
// supervised process, with violation warnings, durable deadline timers, an
// audit trail and flowcharts. Configuration: flags or the environment the
// operator sets (see services/README.md); --help lists everything.
package main

import (
	"context"
	"os"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/settings"

	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/keys"
	"github.com/wuxiao/wuxiao/services/internal/platform"
	"github.com/wuxiao/wuxiao/services/workflow"
)

func main() {
	var (
		base          config.Base
		idHashKey     string
		challengeKey  string
		calendarFile  string
		calReload     time.Duration
		timerInterval time.Duration
		auditKey      *[]byte
	)
	cmd := config.NewRootCommand("workflow", "Runs every listed power as a supervised process", &base,
		func(ctx context.Context) error {
			return run(ctx, &base, idHashKey, *auditKey, calendarFile, calReload, timerInterval, []byte(challengeKey))
		})
	env := base.Env()
	auditKey = base.BindAuditKey()
	env.String(&idHashKey, "id-hash-key", settings.EnvIDHashKey, "", "secret key for hashing ID numbers (payees, relatives); at least 32 characters")
	env.String(&calendarFile, "calendar-file", settings.EnvCalendarFile, "",
		"YAML or JSON file of holidays and adjusted working days over the State Council's schedule (api/workcalendar); re-read when it changes")
	env.String(&challengeKey, "challenge-key", settings.EnvChallengeKey, "",
		"secret key signing the application form's proof-of-work challenges, the same on every replica; at least 32 characters (empty: a random key, one replica only)")
	env.Duration(&calReload, "calendar-reload", "WUXIAO_CALENDAR_RELOAD", workflow.DefaultCalendarReload, "how often the calendar file is looked at for changes")
	env.Duration(&timerInterval, "timer-interval", "WUXIAO_TIMER_INTERVAL", 15*time.Second, "how often due reminders and escalations are fired")
	base.AddCheck(func(p *config.Problems) {
		if len(idHashKey) < 32 {
			p.Addf("id-hash-key", settings.EnvIDHashKey, "must be a secret of at least 32 characters (e.g. from `openssl rand -hex 32`)")
		}
		if challengeKey != "" && len(challengeKey) < 32 {
			p.Addf("challenge-key", settings.EnvChallengeKey, "must be a secret of at least 32 characters (e.g. from `openssl rand -hex 32`)")
		}
		if calReload < time.Second {
			p.Addf("calendar-reload", "WUXIAO_CALENDAR_RELOAD", "%s is too short; use at least 1s", calReload)
		}
		if timerInterval < time.Second {
			p.Addf("timer-interval", "WUXIAO_TIMER_INTERVAL", "%s is too short; use at least 1s", timerInterval)
		}
	})
	cmd.AddCommand(platform.DeadLettersCommand(&base))
	os.Exit(config.Execute(cmd))
}

// challengeKey signs the application form's proof-of-work challenges; nil
// is a random key per process (one replica only).
func run(ctx context.Context, base *config.Base, idHashKey string, auditKey []byte, calendarFile string, calReload, timerInterval time.Duration, challengeKey []byte) error {
	if base.MigrateOnly { // the init container: migrate as the migration role, grant the service's role
		return platform.Migrate(ctx, base, "workflow", workflow.Migrate)
	}
	catalog, err := workflow.LoadCatalog(base.CatalogFile)
	if err != nil {
		return err
	}
	p, err := platform.Open(ctx, base, "workflow", workflow.Migrate)
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	// The official schedule until the file (if any) is read: a missing or
	// bad file is logged and counted, and never stops the service.
	calendar := workflow.OfficialCalendar()
	var watcher *workflow.CalendarWatcher
	if calendarFile != "" {
		watcher = &workflow.CalendarWatcher{Path: calendarFile, Calendar: calendar, Interval: calReload, Log: p.Log}
		if err := watcher.Instrument(p.Tel.MeterProvider); err != nil {
			return err
		}
		_, _ = watcher.Check(ctx) // logged and counted
	}
	first, last := workflow.OfficialYears()
	p.Log.Info("official holiday schedule", "from", first, "to", last, "calendar_file", calendarFile)
	// A regenerated key would make the stored hashes unmatchable, the
	// audit chain unverifiable: refuse to start with one.
	if err := keys.Check(ctx, p.Pool, keys.IDHash.With([]byte(idHashKey)), keys.Audit.With(auditKey)); err != nil {
		return err
	}
	svc := &workflow.Service{Engine: &workflow.Engine{Catalog: catalog, Calendar: calendar}, Pool: p.Pool,
		Town: base.Town, IDHashKey: []byte(idHashKey), AuditKey: auditKey, Log: p.Log,
		ApplicationLimits: workflow.ApplicationLimits{ChallengeKey: challengeKey}}
	p.Log.Info("power list loaded", "catalog", catalog.Name, "version", catalog.Version, "items", len(catalog.Items))
	if err := svc.Instrument(p.Tel.MeterProvider); err != nil {
		return err
	}
	svc.Routes(p.Server)
	loops := []func(context.Context) error{func(ctx context.Context) error { return svc.RunTimers(ctx, timerInterval) }}
	if watcher != nil {
		loops = append(loops, watcher.Run)
	}
	return p.Run(ctx, eventsv1.StreamWorkflow, []platform.Consume{{Stream: eventsv1.StreamTenant, Handler: svc.HandleTenantEvent}}, loops...)
}
