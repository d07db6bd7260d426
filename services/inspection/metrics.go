package inspection

// The inspection service's metrics, as charts/wuxiao-operator/monitoring/
// metrics.md ("Inspection") lists them. All are read from the town's
// database when Prometheus scrapes, counters included: a grade change or a
// notice is written in the transaction of the fact that caused it, often
// a consumer's or a caller's, which this package cannot follow to its
// commit; the rows are never deleted, so their counts are counters that
// survive restarts. Every replica therefore reports the same town-wide
// values (aggregate with max, not sum).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// meterName is this package as the instrumentation scope of its metrics.
const meterName = "github.com/wuxiao/wuxiao/services/inspection"

// scrapeTimeout bounds the database reads of one scrape.
const scrapeTimeout = 2 * time.Second

// Metric attribute keys.
const (
	attrFrom  = attribute.Key("from")
	attrTo    = attribute.Key("to")
	attrKind  = attribute.Key("kind")
	attrGrade = attribute.Key("grade")
)

var grades = []Grade{GradeA, GradeB, GradeC, GradeD}

// instruments are the inspection's observable instruments.
type instruments struct {
	gradeChanges, notices metric.Int64ObservableCounter
	villageGrades         metric.Int64ObservableGauge
	known, covered        metric.Int64ObservableGauge
	coverage              metric.Float64ObservableGauge
}

// Instrument creates the inspection's metrics in mp (the service's
// telemetry.Telemetry.MeterProvider), read from its database at each
// collection. Call it once.
func (s *Service) Instrument(mp metric.MeterProvider) error {
	m := mp.Meter(meterName)
	var (
		errs [6]error
		in   instruments
	)
	in.gradeChanges, errs[0] = m.Int64ObservableCounter("wuxiao.inspection.grade_changes",
		metric.WithDescription("Changes of a village's grade, by the grades before and after"), metric.WithUnit("{change}"))
	in.notices, errs[1] = m.Int64ObservableCounter("wuxiao.inspection.notices.issued",
		metric.WithDescription("Warning and rectification notices issued, by kind"), metric.WithUnit("{notice}"))
	in.villageGrades, errs[2] = m.Int64ObservableGauge("wuxiao.inspection.village_grades",
		metric.WithDescription("Villages at each grade in the current rating period"), metric.WithUnit("{village}"))
	in.known, errs[3] = m.Int64ObservableGauge("wuxiao.inspection.villages.known",
		metric.WithDescription("Villages of the town that inspection tours must cover"), metric.WithUnit("{village}"))
	in.covered, errs[4] = m.Int64ObservableGauge("wuxiao.inspection.villages.covered",
		metric.WithDescription("Villages of the town an inspection tour visited this calendar year"), metric.WithUnit("{village}"))
	in.coverage, errs[5] = m.Float64ObservableGauge("wuxiao.inspection.coverage",
		metric.WithDescription("Share of the town's villages an inspection tour visited this calendar year"), metric.WithUnit("1"))
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("inspection metrics: %w", err)
	}
	if _, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return s.observe(ctx, o, in)
	}, in.gradeChanges, in.notices, in.villageGrades, in.known, in.covered, in.coverage); err != nil {
		return fmt.Errorf("inspection metrics: %w", err)
	}
	return nil
}

// observe reads every series. The tables read are the town's few villages,
// ratings, visits, grade changes and notices: small, and read whole.
func (s *Service) observe(ctx context.Context, o metric.Observer, in instruments) error {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	// A scrape (every 15-30 s) is background work: at rest it must not
	// keep a connection open for good (store.Background), and its five
	// reads share one connection instead of opening one each.
	conn, err := s.Pool.Acquire(store.Background(ctx))
	if err != nil {
		return fmt.Errorf("reading metrics: %w", err)
	}
	defer conn.Release()

	// Every change between two grades and every kind of notice has a
	// series, 0 until it happens.
	changes := map[[2]string]int64{}
	for _, from := range grades {
		for _, to := range grades {
			if from != to {
				changes[[2]string{string(from), string(to)}] = 0
			}
		}
	}
	if err := countRows(ctx, conn, `SELECT from_grade, to_grade, count(*) FROM grade_changes GROUP BY 1, 2`, func(r pgx.Rows) error {
		var from, to string
		var n int64
		err := r.Scan(&from, &to, &n)
		changes[[2]string{from, to}] = n
		return err
	}); err != nil {
		return fmt.Errorf("reading grade changes: %w", err)
	}
	for k, n := range changes {
		o.ObserveInt64(in.gradeChanges, n, metric.WithAttributes(attrFrom.String(k[0]), attrTo.String(k[1])))
	}
	notices := map[string]int64{string(NoticeWarning): 0, string(NoticeRectification): 0}
	if err := countRows(ctx, conn, `SELECT kind, count(*) FROM notices WHERE number IS NOT NULL GROUP BY kind`, func(r pgx.Rows) error {
		var kind string
		var n int64
		err := r.Scan(&kind, &n)
		notices[kind] = n
		return err
	}); err != nil {
		return fmt.Errorf("reading notices: %w", err)
	}
	for kind, n := range notices {
		o.ObserveInt64(in.notices, n, metric.WithAttributes(attrKind.String(kind)))
	}

	// Grades and coverage as the district overview lays the town out
	// (buildTown), visits counted in this calendar year.
	now := s.now()
	period := s.Rules.PeriodOf(now)
	rated := map[string]townGrade{}
	if err := countRows(ctx, conn, `SELECT village, grade, points FROM ratings WHERE period = $1`, func(r pgx.Rows) error {
		var v string
		var g townGrade
		err := r.Scan(&v, &g.grade, &g.points)
		rated[v] = g
		return err
	}, period.String()); err != nil {
		return fmt.Errorf("reading ratings: %w", err)
	}
	known, err := s.knownVillages(ctx, conn)
	if err != nil {
		return fmt.Errorf("reading villages: %w", err)
	}
	visited, err := s.visitedVillages(ctx, conn, now.In(tz.Shanghai).Year())
	if err != nil {
		return fmt.Errorf("reading visits: %w", err)
	}
	t := s.buildTown(s.Town, s.TownName, period, known, rated, visited)
	for _, g := range grades {
		o.ObserveInt64(in.villageGrades, int64(t.Grades[string(g)]), metric.WithAttributes(attrGrade.String(string(g))))
	}
	o.ObserveInt64(in.known, int64(t.Coverage.Total))
	o.ObserveInt64(in.covered, int64(t.Coverage.Covered))
	ratio := 0.0
	if t.Coverage.Total > 0 {
		ratio = float64(t.Coverage.Covered) / float64(t.Coverage.Total)
	}
	o.ObserveFloat64(in.coverage, ratio)
	return nil
}

// countRows runs query and calls scan for each row.
func countRows(ctx context.Context, q rowsQuerier, query string, scan func(pgx.Rows) error, args ...any) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
