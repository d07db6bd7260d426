// Command inspection runs the town's inspection service: it consumes the
// workflow's violation warnings, rates every village A to D per assessment
// period, records and announces changes of grade, and issues the warning and
// rectification notices a fall to C or D brings. Configuration: flags or the
// environment the operator sets (see services/README.md); --help lists
// everything.
package main

import (
	"context"
	"os"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/notifications"
	"github.com/wuxiao/wuxiao/api/settings"

	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/keys"
	"github.com/wuxiao/wuxiao/services/internal/platform"
)

func main() {
	var (
		base     config.Base
		townName string
	)
	cmd := config.NewRootCommand("inspection", "Rates villages and issues warning and rectification notices", &base,
		func(ctx context.Context) error { return run(ctx, &base, townName) })
	env := base.Env()
	env.String(&townName, "town-name", settings.EnvTownName, "", "the town's name as notices address and sign it, e.g. 溪口镇 (default: the town's object name)")
	env.String(&issuers.district, "district-issuer", settings.EnvDistrictIssuer, inspection.DefaultNoticeConfig().District,
		"the district discipline commission that heads and signs notices, e.g. 中共宁波市奉化区纪律检查委员会 (District spec.discipline.issuingAuthority)")
	env.String(&issuers.town, "town-issuer", settings.EnvTownIssuer, "",
		"the town discipline commission that signs notices after the district's and receives the answers, e.g. 溪口镇纪委 (default: the town's name followed by 纪委)")
	env.String(&issuers.prefix, "document-prefix", settings.EnvDocumentPrefix, "奉纪",
		"the prefix of notice and order numbers; 预, 整 or 督 follows it (奉纪预〔2026〕3号)")
	env.StringSlice(&district.towns, "district-towns", "WUXIAO_DISTRICT_TOWNS", nil,
		"the district's towns whose inspection and tenant streams feed the district overview (default: discovered from the Kafka topics wuxiao.<town>.inspection)")
	env.Duration(&district.refresh, "district-refresh", "WUXIAO_DISTRICT_REFRESH", 30*time.Second,
		"how often the district's towns are discovered again from the Kafka topics")
	env.String(&district.viewTown, "district-view-town", settings.EnvDistrictViewTown, "",
		"the town whose instance builds the district overview from every town's streams; this instance does only when it is that town; "+inspection.NoDistrictView+": no town's instance does (default: this instance does, as when it runs alone)")
	env.String(&notify.file, "notify-channels-file", notifications.EnvChannelsFile, "",
		"the district's notification channels (JSON, api/notifications; the operator mounts it from a Secret), reloaded when it changes; none: the console inbox only")
	env.Int64(&notify.maxAttempts, "notify-max-attempts", inspection.EnvNotifyMaxAttempts, inspection.DefaultNotifyMaxAttempts,
		"failed sends after which a notification delivery is dead-lettered")
	env.String(&notify.consoleURL, "console-url", "WUXIAO_CONSOLE_URL", "",
		"the console's address (https://wuxiao.example.cn), which makes notifications' links absolute; none: links are paths")
	integrity.register(&base)
	auditKey = base.BindAuditKey()
	rating.register(&base)
	cmd.AddCommand(platform.DeadLettersCommand(&base))
	os.Exit(config.Execute(cmd))
}

// auditKey is the town's audit key (WUXIAO_AUDIT_KEY), registered in
// main; empty in tests calling run (keyed audit entries then verify as
// no-key).
var auditKey = new([]byte)

// issuers holds who signs the notices and how they are numbered
// (registered in main).
var issuers struct{ district, town, prefix string }

// notify holds the notifications' settings registered in main.
var notify struct {
	file, consoleURL string
	maxAttempts      int64
}

// district holds the district projection's settings registered in main.
var district struct {
	towns    []string
	refresh  time.Duration
	viewTown string
}

func run(ctx context.Context, base *config.Base, townName string) error {
	if base.MigrateOnly { // the init container: migrate as the migration role, grant the service's role
		return platform.Migrate(ctx, base, "inspection", inspection.Migrate)
	}
	if townName == "" {
		townName = base.Town
	}
	rules, err := rating.load()
	if err != nil {
		return err
	}
	p, err := platform.Open(ctx, base, "inspection", inspection.Migrate)
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	if err := keys.Check(ctx, p.Pool, keys.IDHash.With([]byte(integrity.idHashKey)), keys.Audit.With(*auditKey)); err != nil {
		return err
	}
	// One instance per district consumes every town's streams (the
	// operator names it): one in every town would open towns x topics x
	// partitions Kafka connections each, quadratic in the towns.
	feedHere := inspection.RunsDistrictView(district.viewTown, base.Town)
	// Village names come from the registry the tenant stream feeds.
	notices, orders, err := inspection.IssuerConfig(issuers.district, issuers.town, issuers.prefix)
	if err != nil {
		return err
	}
	svc := &inspection.Service{Rules: rules, Notices: notices, Orders: orders, Pool: p.Pool,
		Town: base.Town, TownName: townName, Log: p.Log, DistrictWide: feedHere, AuditKey: *auditKey}
	if !feedHere {
		svc.DistrictViewTown = district.viewTown
	}
	if svc.Integrity, err = integrity.config(p.Log); err != nil {
		return err
	}
	// Rules other than those the stored ratings were made with (the
	// district or town changed them) re-grade the period's villages now,
	// before any event is rated.
	if n, err := svc.ApplyRules(ctx); err != nil {
		return err
	} else if n > 0 {
		p.Log.Info("rating rules changed: villages re-graded", "villages", n, "rules", svc.Rules.Hash()[:12])
	}
	if err := svc.Instrument(p.Tel.MeterProvider); err != nil {
		return err
	}
	svc.Routes(p.Server)
	// Violation warnings become rating facts.
	// Accepted and resolved complaints become rating facts too; overdue
	// rectifications and supervision orders escalate every minute.
	// On the district view's instance, every town's inspection and tenant
	// streams feed the district overview, under this instance's own group.
	// Offsets are committed every second (3x the throughput of one commit
	// per event): a crash redelivers at most that second's events, which
	// the inbox skips.
	// Every audit trail is verified against the anchors hourly; a broken
	// one is logged as an error (anchors.go).
	loops := []func(context.Context) error{svc.EscalationLoop(time.Minute), svc.AuditSweepLoop(time.Hour)}
	// Notifications: the channels file is read again every 30 s; every
	// replica runs the delivery worker (notify_delivery.go).
	channels := &inspection.ChannelSource{Path: notify.file, Log: p.Log}
	if err := channels.Reload(); err != nil {
		p.Log.Error("notification channels: only the console inbox until the file is valid", "error", err.Error())
	}
	deliverer := &inspection.Deliverer{Service: svc, Channels: channels, MaxAttempts: int(notify.maxAttempts), ConsoleURL: notify.consoleURL}
	if err := deliverer.Instrument(p.Tel.MeterProvider); err != nil {
		return err
	}
	loops = append(loops, channels.Watch(30*time.Second), deliverer.Run)
	if feedHere {
		feed := &inspection.DistrictFeed{Service: svc, Brokers: base.KafkaBrokers, Group: inspection.DistrictGroup(base.Town),
			Towns: district.towns, Refresh: district.refresh,
			Options: events.ConsumerOptions{Telemetry: events.Telemetry{Logger: p.Log}, CommitInterval: time.Second}}
		loops = append(loops, feed.Run)
	} else if district.viewTown == inspection.NoDistrictView {
		p.Log.Warn("no town's instance builds the district overview (the District names no existing town): not consuming the district's streams")
	} else {
		p.Log.Info("the district overview is built by another town's instance: not consuming the district's streams",
			"districtViewTown", district.viewTown)
	}
	// Workflow steps and complaint escalations also notify people (in the
	// same transaction as the rating, once per event). A fetch's events
	// are applied together (services/inspection/apply_batch.go).
	return p.Run(ctx, eventsv1.StreamInspection, []platform.Consume{
		{Stream: eventsv1.StreamWorkflow, Handler: svc.Notifying(svc.HandleWorkflowEvent), Batch: svc.WorkflowBatch(true)},
		{Stream: eventsv1.StreamComplaint, Handler: svc.Notifying(svc.HandleComplaintEvent), Batch: svc.ComplaintBatch(true)},
		// Subsidy payments are cross-checked against relatives and deaths.
		{Stream: eventsv1.StreamDisclosure, Handler: svc.HandleDisclosureEvent},
		// The operator's villages make the town's registry.
		{Stream: eventsv1.StreamTenant, Handler: svc.HandleTenantEvent}}, loops...)
}
