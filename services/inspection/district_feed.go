package inspection

// District projection: one instance per district (RunsDistrictView: the
// town the operator names) consumes the tenant and inspection streams of
// every town of the district into the district_* tables, under its own
// consumer group, and shows district staff the whole district.
//
// Which towns: the topics wuxiao.<town>.inspection found in the Kafka
// metadata, looked up again every Refresh (30 s), so a town the operator
// onboards joins every instance's view without a redeploy; or, when set,
// the fixed list --district-towns (WUXIAO_DISTRICT_TOWNS), for a cluster
// that denies listing topics. A town's tenant topic is consumed when it
// exists (its inspection instance creates it).

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/settings"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// HandleDistrictEvent is the events.Handler of the district projection: a
// village registered in any town, a change of grade, a visit, an order
// issued or an interview recorded updates the district tables. Each row is
// keyed by what it counts and later facts replace earlier ones only when
// newer (generation, time), so redelivery, republication and reordering
// count nothing twice. Other types are ignored.
func (s *Service) HandleDistrictEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	town := ev.Town
	village := func(code string) error {
		if !identity.ValidVillage(code) {
			return events.Permanent(fmt.Errorf("event %s (%s): village %q is not a 12-digit code", ev.ID, ev.Type, code))
		}
		// The envelope's village is the one the topic's town published
		// the event for: data naming another is not trusted.
		if ev.Village != "" && ev.Village != code {
			return events.Permanent(fmt.Errorf("event %s (%s): data names village %q, the envelope %q", ev.ID, ev.Type, code, ev.Village))
		}
		return nil
	}
	switch ev.Type {
	case eventsv1.TypeVillageRegistered:
		v, err := decodeVillageRegistered(ev)
		if err != nil {
			return events.Permanent(err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO district_villages (town, code, name, kind, generation) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (town, code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, generation = EXCLUDED.generation
			WHERE district_villages.generation < EXCLUDED.generation`, town, v.Code, v.Name, v.Kind, v.Generation)
		return err
	case eventsv1.TypeVillageArchived:
		// An archived village leaves the district's coverage; its rows stay.
		var v eventsv1.VillageArchived
		if err := ev.Decode(&v); err != nil {
			return events.Permanent(err)
		}
		if err := village(v.Code); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE district_villages SET archived_at = $3 WHERE town = $1 AND code = $2 AND archived_at IS NULL`,
			town, v.Code, ev.Time)
		return err
	case eventsv1.TypeRatingChanged:
		var d eventsv1.RatingChanged
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		if err := village(d.Village); err != nil {
			return err
		}
		if _, err := ParsePeriod(d.Period); err != nil || !validGrade(d.To) {
			return events.Permanent(fmt.Errorf("event %s: period %q or grade %q is invalid", ev.ID, d.Period, d.To))
		}
		at := d.At
		if at.IsZero() {
			at = ev.Time
		}
		_, err := tx.Exec(ctx, `INSERT INTO district_grades (town, village, period, grade, points, at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (town, village, period) DO UPDATE SET grade = EXCLUDED.grade, points = EXCLUDED.points, at = EXCLUDED.at
			WHERE district_grades.at <= EXCLUDED.at`, town, d.Village, d.Period, d.To, d.Points, at)
		return err
	case eventsv1.TypeVisitRecorded:
		var d eventsv1.VisitRecorded
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		if err := village(d.Village); err != nil {
			return err
		}
		day, err := time.Parse(time.DateOnly, d.Date)
		if err != nil || d.TourID == "" {
			return events.Permanent(fmt.Errorf("event %s: visit of tour %q on %q is invalid", ev.ID, d.TourID, d.Date))
		}
		_, err = tx.Exec(ctx, `INSERT INTO district_visits (town, tour_id, village, visited_on, at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (town, tour_id, village) DO UPDATE SET visited_on = EXCLUDED.visited_on, at = EXCLUDED.at
			WHERE district_visits.at <= EXCLUDED.at`, town, d.TourID, d.Village, day, ev.Time)
		return err
	case eventsv1.TypeOrderIssued:
		var d eventsv1.OrderIssued
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		if err := village(d.Village); err != nil {
			return err
		}
		if d.Number == "" || d.IssuedAt.IsZero() {
			return events.Permanent(fmt.Errorf("event %s: order without number or issue time", ev.ID))
		}
		_, err := tx.Exec(ctx, `INSERT INTO district_orders (town, number, village, colour, year, issued_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT DO NOTHING`, town, d.Number, d.Village, d.Colour, d.IssuedAt.In(Shanghai).Year(), d.IssuedAt)
		return err
	case eventsv1.TypeInterviewRecorded:
		var d eventsv1.InterviewRecorded
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		if err := village(d.Village); err != nil {
			return err
		}
		if d.InterviewID == "" || d.HeldAt.IsZero() {
			return events.Permanent(fmt.Errorf("event %s: interview without id or time", ev.ID))
		}
		_, err := tx.Exec(ctx, `INSERT INTO district_interviews (town, id, village, held_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, town, d.InterviewID, d.Village, d.HeldAt)
		return err
	}
	return nil
}

var _ events.Handler = (*Service)(nil).HandleDistrictEvent

func validGrade(g string) bool { return g == "A" || g == "B" || g == "C" || g == "D" }

// DistrictFeed runs the district projection's consumer over the towns'
// topics, restarting it (same group, so committed offsets stay) when the
// set of topics changes.
type DistrictFeed struct {
	Service *Service
	Brokers []string
	// Group is the consumer group, one per instance:
	// wuxiao-inspection-<town>-district.
	Group string
	// Towns, when set, is the fixed list of the district's towns; empty,
	// towns are discovered from the topics every Refresh [30s].
	Towns   []string
	Refresh time.Duration
	// Match, when set, keeps only the discovered towns it accepts (tests
	// share one broker with other districts' topics).
	Match   func(town string) bool
	Options events.ConsumerOptions
}

// NoDistrictView and RunsDistrictView are the contract of
// WUXIAO_DISTRICT_VIEW_TOWN with the operator, which sets it (api/settings).
const NoDistrictView = settings.NoDistrictView

// RunsDistrictView tells whether town's instance runs the district
// projection (settings.RunsDistrictView).
func RunsDistrictView(viewTown, town string) bool { return settings.RunsDistrictView(viewTown, town) }

// DistrictGroup is the projection's consumer group of a town's instance.
func DistrictGroup(town string) string { return "wuxiao-inspection-" + town + "-district" }

var districtTopic = regexp.MustCompile(`^wuxiao\.([a-z0-9]([a-z0-9-]*[a-z0-9])?)\.(inspection|tenant)$`)

// DistrictTopics lists the tenant and inspection topics of the district's
// towns found in the cluster's metadata: every town with an inspection
// topic (accepted by match, when set), its tenant topic if there is one.
// The result is sorted.
func DistrictTopics(ctx context.Context, brokers []string, match func(string) bool) ([]string, error) {
	t := &kafka.Transport{DialTimeout: 5 * time.Second}
	defer t.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: t, Timeout: 10 * time.Second}
	res, err := c.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, err
	}
	inspection, tenant := map[string]bool{}, map[string]bool{}
	for _, topic := range res.Topics {
		m := districtTopic.FindStringSubmatch(topic.Name)
		if m == nil || topic.Error != nil || len(topic.Partitions) == 0 || (match != nil && !match(m[1])) {
			continue
		}
		if m[3] == eventsv1.StreamInspection {
			inspection[m[1]] = true
		} else {
			tenant[m[1]] = true
		}
	}
	var out []string
	for town := range inspection {
		out = append(out, eventsv1.Topic(town, eventsv1.StreamInspection))
		if tenant[town] {
			out = append(out, eventsv1.Topic(town, eventsv1.StreamTenant))
		}
	}
	slices.Sort(out)
	return out, nil
}

// topics returns the topics to consume now.
func (f *DistrictFeed) topics(ctx context.Context) ([]string, error) {
	if len(f.Towns) == 0 {
		return DistrictTopics(ctx, f.Brokers, f.Match)
	}
	var out []string
	for _, town := range f.Towns {
		out = append(out, eventsv1.Topic(town, eventsv1.StreamInspection), eventsv1.Topic(town, eventsv1.StreamTenant))
	}
	// The fixed towns' topics may not exist yet (a town not started): create
	// them, as every service does for the streams it reads.
	if err := events.EnsureTopics(ctx, f.Brokers, 3, 1, out...); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// Run consumes until ctx ends. A failed topic lookup keeps the current
// consumer and is retried at the next refresh.
func (f *DistrictFeed) Run(ctx context.Context) error {
	if f.Service == nil || len(f.Brokers) == 0 || f.Group == "" {
		return errors.New("district feed: service, brokers and group are required")
	}
	refresh := f.Refresh
	if refresh <= 0 {
		refresh = 30 * time.Second
	}
	log := f.Service.log().With("component", "district-feed", "group", f.Group)
	var (
		current []string
		stop    context.CancelFunc = func() {}
		done    chan error
	)
	defer func() {
		stop()
		if done != nil {
			<-done
		}
	}()
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	for {
		topics, err := f.topics(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("listing the district's topics failed; retrying at the next refresh", "err", err)
		case !slices.Equal(topics, current) && len(topics) > 0:
			stop()
			if done != nil {
				if err := <-done; err != nil {
					return err
				}
			}
			log.Info("consuming the district's topics", "topics", topics)
			current = topics
			cctx, cancel := context.WithCancel(ctx)
			stop = cancel
			done = make(chan error, 1)
			c := events.NewConsumer(f.Service.Pool, f.Brokers, f.Group, topics, f.Service.HandleDistrictEvent, f.Options)
			go func() { done <- c.Run(cctx) }()
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-done:
			// The consumer stops by itself only when its reader failed
			// for good: let the service restart.
			done = nil
			if err == nil && ctx.Err() == nil {
				err = errors.New("district feed: consumer stopped")
			}
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-tick.C:
		}
	}
}
