package complaint

// The complaint service's metrics, as charts/wuxiao-operator/monitoring/
// metrics.md ("Complaint") lists them. Counters count what this replica
// did, after its transaction committed; gauges are read from the town's
// database when Prometheus scrapes, so every replica reports the same
// town-wide value. No label carries a person, a client address, a village
// or a tracking code.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/wuxiao/wuxiao/services/internal/store"
)

// meterName is this package as the instrumentation scope of its metrics.
const meterName = "github.com/wuxiao/wuxiao/services/complaint"

// scrapeTimeout bounds the database read of one scrape.
const scrapeTimeout = 2 * time.Second

// Intake channels (label channel).
const (
	channelPage    = "page"    // the report page, /r/{village}
	channelAPI     = "api"     // the JSON intake
	channelOpen311 = "open311" // Open311 GeoReport v2
)

// Reasons the intake's guards refuse a submission (label reason).
const (
	reasonRateLimit      = "rate-limit"
	reasonFlood          = "flood"
	reasonProofOfWork    = "proof-of-work"
	reasonByteBudget     = "byte-budget"
	reasonUploadSlots    = "upload-slots"
	reasonTooLarge       = "too-large"
	reasonIntakeLimits   = "intake-limits"
	reasonUnknownVillage = "unknown-village"
)

var (
	channels       = []string{channelPage, channelAPI, channelOpen311}
	refusalReasons = []string{reasonRateLimit, reasonFlood, reasonProofOfWork, reasonByteBudget, reasonUploadSlots,
		reasonTooLarge, reasonIntakeLimits, reasonUnknownVillage}
	// openStages are the statuses with a deadline the staff must meet.
	openStages = []Status{StatusReceived, StatusAccepted, StatusInvestigating}
)

// Metric attribute keys.
const (
	attrChannel  = attribute.Key("channel")
	attrCategory = attribute.Key("category")
	attrReason   = attribute.Key("reason")
	attrStage    = attribute.Key("stage")
)

// metrics are the instruments a Service adds to; nil (a Service never
// instrumented, as in most tests) counts nothing.
type metrics struct {
	intakes, refusals, breaches, escalations metric.Int64Counter
}

// Instrument creates the complaint service's metrics in mp (the service's
// telemetry.Telemetry.MeterProvider): the counters this Service and its API
// add to from now on, and the gauges read from its database at each
// collection. Call it once, before serving.
func (s *Service) Instrument(mp metric.MeterProvider) error {
	m := mp.Meter(meterName)
	var (
		errs          [6]error
		ms            metrics
		open, overdue metric.Int64ObservableGauge
	)
	ms.intakes, errs[0] = m.Int64Counter("wuxiao.complaint.intakes",
		metric.WithDescription("Complaints filed, by channel and category"), metric.WithUnit("{complaint}"))
	ms.refusals, errs[1] = m.Int64Counter("wuxiao.complaint.intake_refusals",
		metric.WithDescription("Submissions the intake's guards refused, by channel and reason"), metric.WithUnit("{submission}"))
	ms.breaches, errs[2] = m.Int64Counter("wuxiao.complaint.sla_breaches",
		metric.WithDescription("Complaint deadlines missed, once per complaint, stage and round, by stage"), metric.WithUnit("{complaint}"))
	ms.escalations, errs[3] = m.Int64Counter("wuxiao.complaint.escalations",
		metric.WithDescription("Overdue complaints escalated by the escalation job, by stage"), metric.WithUnit("{complaint}"))
	open, errs[4] = m.Int64ObservableGauge("wuxiao.complaint.open",
		metric.WithDescription("Complaints waiting for staff, by status"), metric.WithUnit("{complaint}"))
	overdue, errs[5] = m.Int64ObservableGauge("wuxiao.complaint.overdue",
		metric.WithDescription("Complaints waiting for staff past their deadline, by status"), metric.WithUnit("{complaint}"))
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("complaint metrics: %w", err)
	}
	// Every series exists from the start at 0, so that dashboards and
	// alerts see a value before the first complaint.
	ctx := context.Background()
	for _, ch := range channels {
		for _, c := range Categories {
			ms.intakes.Add(ctx, 0, metric.WithAttributes(attrChannel.String(ch), attrCategory.String(string(c))))
		}
		for _, r := range refusalReasons {
			ms.refusals.Add(ctx, 0, metric.WithAttributes(attrChannel.String(ch), attrReason.String(r)))
		}
	}
	for _, st := range openStages {
		ms.breaches.Add(ctx, 0, metric.WithAttributes(attrStage.String(string(st))))
		ms.escalations.Add(ctx, 0, metric.WithAttributes(attrStage.String(string(st))))
	}
	if _, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return s.observe(ctx, o, open, overdue)
	}, open, overdue); err != nil {
		return fmt.Errorf("complaint metrics: %w", err)
	}
	s.metrics = &ms
	return nil
}

// observe reads the gauges in one query over the complaints_due index
// (open complaints only).
func (s *Service) observe(ctx context.Context, o metric.Observer, open, overdue metric.Int64ObservableGauge) error {
	// A scrape (every 15-30 s) is background work: at rest it must not
	// keep a connection open for good (store.Background).
	ctx, cancel := context.WithTimeout(store.Background(ctx), scrapeTimeout)
	defer cancel()
	openBy, overdueBy := map[Status]int64{}, map[Status]int64{}
	for _, st := range openStages {
		openBy[st], overdueBy[st] = 0, 0
	}
	// Overdue as Overdue (lifecycle.go) says: the deadline has passed.
	rows, err := s.Pool.Query(ctx, `SELECT status, count(*), count(*) FILTER (WHERE due_at < $1) FROM complaints
		WHERE status IN ('received', 'accepted', 'investigating') GROUP BY status`, s.now())
	if err != nil {
		return fmt.Errorf("reading open complaints: %w", err)
	}
	for rows.Next() {
		var st Status
		var n, late int64
		if err := rows.Scan(&st, &n, &late); err != nil {
			rows.Close()
			return fmt.Errorf("reading open complaints: %w", err)
		}
		openBy[st], overdueBy[st] = n, late
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading open complaints: %w", err)
	}
	for st, n := range openBy {
		o.ObserveInt64(open, n, metric.WithAttributes(attrStage.String(string(st))))
		o.ObserveInt64(overdue, overdueBy[st], metric.WithAttributes(attrStage.String(string(st))))
	}
	return nil
}

// filed counts a complaint filed through channel.
func (m *metrics) filed(ctx context.Context, channel string, c Category) {
	if m == nil {
		return
	}
	m.intakes.Add(ctx, 1, metric.WithAttributes(attrChannel.String(channel), attrCategory.String(string(c))))
}

// refused counts a submission a guard of channel turned away.
func (m *metrics) refused(ctx context.Context, channel, reason string) {
	if m == nil {
		return
	}
	m.refusals.Add(ctx, 1, metric.WithAttributes(attrChannel.String(channel), attrReason.String(reason)))
}

// breached counts missed deadlines of the stages given, escalated ones
// also as escalations.
func (m *metrics) breached(ctx context.Context, stages []Status, escalated bool) {
	if m == nil {
		return
	}
	for _, st := range stages {
		at := metric.WithAttributes(attrStage.String(string(st)))
		m.breaches.Add(ctx, 1, at)
		if escalated {
			m.escalations.Add(ctx, 1, at)
		}
	}
}

// reason is the refusals' label of the abuse guard's refusal.
func (f *refusal) reason() string {
	switch f.status {
	case http.StatusTooManyRequests:
		return reasonRateLimit
	case http.StatusPreconditionRequired:
		return reasonFlood
	default:
		return reasonProofOfWork
	}
}

// refused counts a submission to the API refused for reason.
func (a *API) refused(r *http.Request, channel, reason string) {
	a.Service.metrics.refused(r.Context(), channel, reason)
}
