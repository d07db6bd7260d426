package events

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/telemetry/metricstest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The event pipeline's metrics as Prometheus sees them on a service's
// /metrics: a stuck outbox (Kafka unreachable) shows its backlog and the
// age of its oldest row; once relayed, the backlog is 0 and the events are
// counted per topic; a blocked consumer shows its lag per topic and group,
// and a dead-lettered event is counted.
func TestPipelineMetrics(t *testing.T) {
	pool := openDB(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 3)
	testinfra.CreateTopics(t, brokers, 1, eventsv1.DeadLetterTopic(topic))
	tel := metricstest.Setup(t, "xikou", "fenghua")
	metrics := tel.MetricsHandler()
	tt := Telemetry{MeterProvider: tel.MeterProvider, TracerProvider: tel.TracerProvider, Logger: testLogger(t)}

	// Five events, of which one is older than the others by 90 s.
	const events = 5
	for n := range events {
		mustEnqueue(t, pool, topic, testEvent(villages[n%len(villages)], n/len(villages)))
	}
	if _, err := pool.Exec(context.Background(), `UPDATE outbox SET created_at = now() - interval '90 seconds'
		WHERE seq = (SELECT min(seq) FROM outbox)`); err != nil {
		t.Fatal(err)
	}

	// Stuck: the relay holds the lock but no broker answers.
	ropts := fastRelay(t)
	ropts.Telemetry = tt
	ropts.WriteTimeout = 500 * time.Millisecond
	ropts.Topics = []string{topic}
	stopStuck := background(t, NewRelay(pool, []string{testinfra.FreeAddr(t)}, ropts).Run)
	var page metricstest.Page
	eventually(t, "the stuck outbox on /metrics", func() (bool, string) {
		page = metricstest.Scrape(t, metrics)
		pending, okP := page.Value("wuxiao_events_outbox_pending", "wuxiao_town", "xikou", "wuxiao_district", "fenghua")
		age, okA := page.Value("wuxiao_events_outbox_oldest_age_seconds")
		active, _ := page.Value("wuxiao_events_relay_active")
		failures, _ := page.Value("wuxiao_events_outbox_publish_failures_total")
		// Nothing quarantined, but the series is there for increase().
		quarantined, okQ := page.Value("wuxiao_events_outbox_quarantined_total", "messaging_destination_name", topic)
		return okP && pending == events && okA && age >= 90 && active == 1 && failures >= events && okQ && quarantined == 0,
			fmt.Sprintf("pending %v (%v), oldest age %v s (%v), active %v, failures %v, quarantined %v (%v)", pending, okP, age, okA, active, failures, quarantined, okQ)
	})
	for family, typ := range map[string]string{
		"wuxiao_events_outbox_pending":                "gauge",
		"wuxiao_events_outbox_oldest_age_seconds":     "gauge",
		"wuxiao_events_relay_active":                  "gauge",
		"wuxiao_events_outbox_publish_failures_total": "counter",
		"wuxiao_events_outbox_quarantined_total":      "counter",
	} {
		if page.Types[family] != typ {
			t.Errorf("# TYPE %s is %q, want %s", family, page.Types[family], typ)
		}
	}
	stopStuck()

	// Relayed: backlog 0, events counted per topic.
	ropts.WriteTimeout = 0
	background(t, NewRelay(pool, brokers, ropts).Run)
	eventually(t, "the relayed outbox on /metrics", func() (bool, string) {
		page = metricstest.Scrape(t, metrics)
		pending, okP := page.Value("wuxiao_events_outbox_pending")
		age, _ := page.Value("wuxiao_events_outbox_oldest_age_seconds")
		published, _ := page.Value("wuxiao_events_outbox_published_total", "messaging_destination_name", topic)
		return okP && pending == 0 && age == 0 && published == events,
			fmt.Sprintf("pending %v (%v), oldest age %v, published %v", pending, okP, age, published)
	})
	// At rest (no relay holds the lock) the backlog still has its series:
	// dashboards and WuxiaoOutboxStuck read it whatever the relays do.
	eventually(t, "the outbox at rest on /metrics", func() (bool, string) {
		page = metricstest.Scrape(t, metrics)
		active, okR := page.Value("wuxiao_events_relay_active")
		pending, okP := page.Value("wuxiao_events_outbox_pending")
		_, okA := page.Value("wuxiao_events_outbox_oldest_age_seconds")
		return okR && active == 0 && okP && pending == 0 && okA,
			fmt.Sprintf("active %v (%v), pending %v (%v), oldest age there: %v", active, okR, pending, okP, okA)
	})

	// A consumer blocked in its handler: the events wait, the lag shows them.
	group := testinfra.UniqueName("g-")
	entered := make(chan struct{}, events)
	release := make(chan struct{})
	handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		var p payload
		if err := ev.Decode(&p); err != nil {
			return Permanent(err)
		}
		if p.Village == villages[0] && p.N == 0 {
			return Permanent(errors.New("this consumer refuses the first event"))
		}
		return recordHandler(ctx, tx, ev)
	}
	copts := fastConsumer(t)
	copts.Telemetry = tt
	copts.LagInterval = 100 * time.Millisecond
	background(t, NewConsumer(pool, brokers, group, []string{topic}, handler, copts).Run)
	<-entered
	lagLabels := []string{"messaging_destination_name", topic, "messaging_consumer_group_name", group}
	// Nothing is committed while the handler holds the first event.
	eventually(t, "the blocked consumer's lag on /metrics", func() (bool, string) {
		page = metricstest.Scrape(t, metrics)
		lag, ok := page.Value("wuxiao_events_consumer_lag", lagLabels...)
		return ok && lag == events, fmt.Sprintf("lag %v (%v), want %d", lag, ok, events)
	})
	if n, ok := page.Value("wuxiao_events_consumed_total", append(lagLabels, "outcome", "dead-lettered")...); !ok || n != 0 {
		t.Errorf("dead-lettered before any: %v (%v), want a series at 0", n, ok)
	}
	close(release)
	eventually(t, "the consumed events on /metrics", func() (bool, string) {
		page = metricstest.Scrape(t, metrics)
		lag, okL := page.Value("wuxiao_events_consumer_lag", lagLabels...)
		dead, _ := page.Value("wuxiao_events_consumed_total", append(lagLabels, "outcome", "dead-lettered")...)
		applied, _ := page.Value("wuxiao_events_consumed_total", append(lagLabels, "outcome", "applied")...)
		latency, _ := page.Value("wuxiao_events_delivery_latency_seconds_count", lagLabels...)
		retries, _ := page.Value("wuxiao_events_consumer_retries_total", lagLabels...)
		return okL && lag == 0 && dead == 1 && applied == events-1 && latency == events-1 && retries == 1,
			fmt.Sprintf("lag %v (%v), dead-lettered %v, applied %v, latency count %v, retries %v", lag, okL, dead, applied, latency, retries)
	})
	for family, typ := range map[string]string{
		"wuxiao_events_consumer_lag":             "gauge",
		"wuxiao_events_consumed_total":           "counter",
		"wuxiao_events_consumer_retries_total":   "counter",
		"wuxiao_events_delivery_latency_seconds": "histogram",
		"wuxiao_events_outbox_published_total":   "counter",
	} {
		if page.Types[family] != typ {
			t.Errorf("# TYPE %s is %q, want %s", family, page.Types[family], typ)
		}
	}
	for _, s := range page.Samples {
		if len(s.Name) > 14 && s.Name[:14] == "wuxiao_events_" && (s.Labels["wuxiao_town"] != "xikou" || s.Labels["wuxiao_district"] != "fenghua") {
			t.Errorf("%s%v lacks the town and district labels", s.Name, s.Labels)
		}
	}
	if testing.Verbose() {
		for _, s := range page.Samples {
			if len(s.Name) > 7 && s.Name[:7] == "wuxiao_" {
				t.Logf("%s %v %v", s.Name, s.Labels, s.Value)
			}
		}
	}
}
