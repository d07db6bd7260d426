package workflow

// The workflow's metrics, as charts/wuxiao-operator/monitoring/metrics.md
// ("Workflow") lists them. Counters count what this replica did, after its
// transaction committed; gauges are read from the town's database when
// Prometheus scrapes, so every replica reports the same town-wide value.
// No label names a village, a process or a person: per town is what the
// wuxiao_town label of every series gives.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// meterName is this package as the instrumentation scope of its metrics.
const meterName = "github.com/wuxiao/wuxiao/services/workflow"

// scrapeTimeout bounds the database reads of one scrape: a slow database
// must not hold the metrics endpoint (the gauges are then absent, which the
// database alert explains).
const scrapeTimeout = 2 * time.Second

// categoryUnknown labels a process whose item is no longer on the power
// list (it keeps running under the catalog it started with).
const categoryUnknown = "unknown"

// Metric attribute keys.
const (
	attrCategory = attribute.Key("category")
	attrRule     = attribute.Key("rule")
	attrKind     = attribute.Key("kind")
)

var warningRules = []wuxiaov1.ControlType{wuxiaov1.ControlOrder, wuxiaov1.ControlDeadline, wuxiaov1.ControlPostingDuration,
	wuxiaov1.ControlAmountThreshold, wuxiaov1.ControlConflictOfInterest, wuxiaov1.ControlEvidenceRequired}

// metrics are the instruments a Service adds to; nil (a Service never
// instrumented, as in most tests) counts nothing.
type metrics struct {
	stepsCompleted metric.Int64Counter
	warnings       metric.Int64Counter
}

// Instrument creates the workflow's metrics in mp (the service's
// telemetry.Telemetry.MeterProvider): the counters this Service adds to from
// now on, and the gauges read from its database at each collection. Call it
// once, before serving.
func (s *Service) Instrument(mp metric.MeterProvider) error {
	m := mp.Meter(meterName)
	var (
		errs       [6]error
		ms         metrics
		open       metric.Int64ObservableGauge
		overdue    metric.Int64ObservableGauge
		backlog    metric.Int64ObservableGauge
		backlogAge metric.Float64ObservableGauge
	)
	ms.stepsCompleted, errs[0] = m.Int64Counter("wuxiao.workflow.steps.completed",
		metric.WithDescription("Steps of processes recorded as done, by the power item's category"), metric.WithUnit("{step}"))
	ms.warnings, errs[1] = m.Int64Counter("wuxiao.workflow.warnings",
		metric.WithDescription("Violation warnings raised, by rule"), metric.WithUnit("{warning}"))
	open, errs[2] = m.Int64ObservableGauge("wuxiao.workflow.open_steps",
		metric.WithDescription("Steps waiting to be done (the current step of every running process), by category"), metric.WithUnit("{step}"))
	overdue, errs[3] = m.Int64ObservableGauge("wuxiao.workflow.overdue_steps",
		metric.WithDescription("Open steps past their time limit, by category"), metric.WithUnit("{step}"))
	backlog, errs[4] = m.Int64ObservableGauge("wuxiao.workflow.timer_backlog",
		metric.WithDescription("Deadline timers due but not fired yet, by kind"), metric.WithUnit("{timer}"))
	backlogAge, errs[5] = m.Float64ObservableGauge("wuxiao.workflow.timer_backlog.age",
		metric.WithDescription("How long the oldest due, unfired deadline timer has been due; 0 when none"), metric.WithUnit("s"))
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("workflow metrics: %w", err)
	}
	// Every series exists from the start at 0, so that dashboards and
	// alerts see a value before the first step or warning.
	ctx := context.Background()
	for _, c := range s.categories() {
		ms.stepsCompleted.Add(ctx, 0, metric.WithAttributes(attrCategory.String(c)))
	}
	for _, r := range warningRules {
		ms.warnings.Add(ctx, 0, metric.WithAttributes(attrRule.String(string(r))))
	}
	if _, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return s.observe(ctx, o, open, overdue, backlog, backlogAge)
	}, open, overdue, backlog, backlogAge); err != nil {
		return fmt.Errorf("workflow metrics: %w", err)
	}
	s.metrics = &ms
	return nil
}

// categories are the categories of the power list, all of them (a town's
// list may lack one; its series are 0 then).
func (s *Service) categories() []string {
	out := make([]string, len(wuxiaov1.AllCategories))
	for i, c := range wuxiaov1.AllCategories {
		out[i] = string(c)
	}
	return out
}

// categoryOf is the category of an item of the power list.
func (s *Service) categoryOf(itemID string) string {
	if s.Engine == nil || s.Engine.Catalog == nil {
		return categoryUnknown
	}
	if it := s.Engine.Catalog.Item(itemID); it != nil {
		return string(it.Category)
	}
	return categoryUnknown
}

// observe reads the gauges: three indexed queries (running processes by
// item through instances_running, the latest escalation deadline of each
// one's current step through the timers' unique index, due timers through
// timers_due).
func (s *Service) observe(ctx context.Context, o metric.Observer, open, overdue, backlog metric.Int64ObservableGauge, backlogAge metric.Float64ObservableGauge) error {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	// A scrape (every 15-30 s) is background work: at rest it must not
	// keep a connection open for good (store.Background), and its two
	// reads share one connection instead of opening one each.
	conn, err := s.Pool.Acquire(store.Background(ctx))
	if err != nil {
		return fmt.Errorf("reading metrics: %w", err)
	}
	defer conn.Release()
	now := s.now()
	openBy, overdueBy := map[string]int64{}, map[string]int64{}
	for _, c := range s.categories() {
		openBy[c], overdueBy[c] = 0, 0
	}
	// A step is overdue when the escalation deadline of its current visit
	// (the latest of that step: a revisit schedules a later one) has
	// passed; a fired escalation is still overdue until the step is done.
	rows, err := conn.Query(ctx, `SELECT i.item_id, count(*),
			count(*) FILTER (WHERE (SELECT max(t.fire_at) FROM timers t WHERE t.instance_id = i.id
				AND t.step_id = i.current_step AND t.kind = 'escalation') <= $1)
		FROM instances i WHERE i.status = 'running' GROUP BY i.item_id`, now)
	if err != nil {
		return fmt.Errorf("reading open steps: %w", err)
	}
	for rows.Next() {
		var item string
		var n, late int64
		if err := rows.Scan(&item, &n, &late); err != nil {
			rows.Close()
			return fmt.Errorf("reading open steps: %w", err)
		}
		c := s.categoryOf(item)
		openBy[c] += n
		overdueBy[c] += late
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading open steps: %w", err)
	}
	for c, n := range openBy {
		o.ObserveInt64(open, n, metric.WithAttributes(attrCategory.String(c)))
		o.ObserveInt64(overdue, overdueBy[c], metric.WithAttributes(attrCategory.String(c)))
	}

	due := map[string]int64{TimerReminder: 0, TimerEscalation: 0}
	var oldest *time.Time
	rows, err = conn.Query(ctx, `SELECT kind, count(*), min(fire_at) FROM timers
		WHERE fired_at IS NULL AND NOT cancelled AND fire_at <= $1 GROUP BY kind`, now)
	if err != nil {
		return fmt.Errorf("reading due timers: %w", err)
	}
	for rows.Next() {
		var kind string
		var n int64
		var first time.Time
		if err := rows.Scan(&kind, &n, &first); err != nil {
			rows.Close()
			return fmt.Errorf("reading due timers: %w", err)
		}
		due[kind] = n
		if oldest == nil || first.Before(*oldest) {
			oldest = &first
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading due timers: %w", err)
	}
	for kind, n := range due {
		o.ObserveInt64(backlog, n, metric.WithAttributes(attrKind.String(kind)))
	}
	age := 0.0
	if oldest != nil {
		age = max(now.Sub(*oldest).Seconds(), 0)
	}
	o.ObserveFloat64(backlogAge, age)
	return nil
}

// stepCompleted counts a recorded step of a process of category.
func (m *metrics) stepCompleted(ctx context.Context, category string) {
	if m == nil {
		return
	}
	if category == "" {
		category = categoryUnknown
	}
	m.stepsCompleted.Add(ctx, 1, metric.WithAttributes(attrCategory.String(category)))
}

// warned counts warnings raised (stored for the first time).
func (m *metrics) warned(ctx context.Context, ws []Warning) {
	if m == nil {
		return
	}
	for _, w := range ws {
		m.warnings.Add(ctx, 1, metric.WithAttributes(attrRule.String(w.Rule)))
	}
}
