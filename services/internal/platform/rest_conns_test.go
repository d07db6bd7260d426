package platform_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/platform"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestTownAtRestHoldsFewConnections is a stand-in for a town (issue 18):
// four services' pools on one database, each with its relay and health
// probe at their production defaults, publish an event each, then rest.
// Sampled every second for 30 s once at rest, PostgreSQL sees at most one
// of their sessions at a time (a rest poll's or a probe's, closed at once);
// before this change the same held 8 (a relay session and a warm pool
// connection per service).
func TestTownAtRestHoldsFewConnections(t *testing.T) {
	url := testinfra.Postgres(t)
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.Topic(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	services := []string{"workflow", "complaint", "inspection", "disclosure"}
	for _, svc := range services {
		pool, err := store.Open(ctx, url, svc, store.WithTracer(events.WakeTracer()))
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if err := events.Migrate(ctx, pool); err != nil {
			t.Fatal(err)
		}
		relay := events.NewRelay(pool, brokers, events.RelayOptions{})
		health := platform.NewHealth(pool, brokers, platform.HealthOptions{})
		wg.Go(func() { _ = relay.Run(ctx) })
		wg.Go(func() { _ = health.Run(ctx) })
		ev := eventsv1.Event{ID: testinfra.UniqueName("ev-"), Source: "/towns/xikou/" + svc, Type: "cn.wuxiao.test.rest.ended.v1",
			Subject: "x", Time: time.Now(), Town: "xikou", Village: "330206001001", Data: []byte(`{}`)}
		if err := store.InTx(ctx, pool, func(tx pgx.Tx) error { return events.Enqueue(ctx, tx, topic, ev) }); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	sessions := func() int {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'wuxiao-%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var unpublished int
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		unpublished = 0
		for _, svc := range services {
			var n int
			if err := admin.QueryRow(ctx, `SELECT count(*) FROM `+svc+`.outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			unpublished += n
		}
		if unpublished == 0 || time.Now().After(deadline) {
			break
		}
	}
	if unpublished > 0 {
		t.Fatalf("%d events unpublished", unpublished)
	}
	busy := sessions()
	// At rest: the relays' 2 × PollInterval, the pools' idle timeout and check.
	time.Sleep(2*5*time.Second + store.IdleConnTimeout + store.IdleCheckPeriod)
	// Sessions opened (pg_stat_database.sessions): the short-lived ones.
	opened := func() int64 {
		var n int64
		if err := admin.QueryRow(ctx, `SELECT sessions FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	peak, sum, samples := 0, 0, 0
	start, opened0 := time.Now(), opened()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		n := sessions()
		peak, sum, samples = max(peak, n), sum+n, samples+1
	}
	// The admin's own sampling connection is one session, opened before.
	rate := float64(opened()-opened0) / time.Since(start).Seconds()
	t.Logf("4 services: %d sessions while publishing; at rest over %d samples: peak %d, mean %.2f; %.2f sessions opened a second",
		busy, samples, peak, float64(sum)/float64(samples), rate)
	if peak > 1 {
		t.Errorf("at rest PostgreSQL saw up to %d sessions of the four services, want at most 1", peak)
	}
}
