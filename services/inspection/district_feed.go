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
	"regexp"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/settings"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

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
	// halt stops the running consumer and waits for it; done is nil
	// afterwards, so that a consumer is waited for only once.
	halt := func() error {
		stop()
		if done == nil {
			return nil
		}
		err := <-done
		done = nil
		return err
	}
	defer func() {
		// A consumer returns nil once its context ends; an error while
		// the feed itself stops has nothing left to restart.
		_ = halt()
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
			if err := halt(); err != nil {
				return err
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
