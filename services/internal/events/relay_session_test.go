package events

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// A relay at rest holds no database session, neither its own nor one of
// its pool's (issue 18), and still publishes what its own process commits
// at once (woken in-process: with RestPoll an hour, nothing else could
// wake it) and what another process commits within RestPoll.
func TestRelayAtRest(t *testing.T) {
	brokers := testinfra.KafkaBrokers(t)
	tests := []struct {
		name        string
		sameProcess bool // the writer's pool carries WakeTracer
		restPoll    time.Duration
	}{
		{"its own process's commit wakes it", true, time.Hour},
		{"another process's commit is found by polling", false, 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			url := testinfra.Postgres(t)
			topic := testinfra.Topic(t, 1)
			relayPool, err := store.Open(ctx, url, "svc", store.WithTracer(WakeTracer()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(relayPool.Close)
			if err := Migrate(ctx, relayPool); err != nil {
				t.Fatal(err)
			}
			relayPool.Reset() // the migrations' connection is no rest poll's
			var writerOpts []store.Option
			if tc.sameProcess {
				writerOpts = append(writerOpts, store.WithTracer(WakeTracer()))
			}
			writer, err := store.Open(ctx, url, "svc", writerOpts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(writer.Close)

			o := fastRelay(t)
			o.PollInterval, o.RestPoll = 200*time.Millisecond, tc.restPoll
			r := NewRelay(relayPool, brokers, o)
			background(t, r.Run)
			atRest := func() (bool, string) {
				sessions := count(t, writer, `SELECT count(*) FROM pg_stat_activity
					WHERE application_name = 'wuxiao-svc-relay' AND datname = current_database()`)
				pooled := relayPool.Stat().TotalConns()
				return !r.Active() && sessions == 0 && pooled == 0,
					fmt.Sprintf("active %v, %d relay sessions, %d pool connections", r.Active(), sessions, pooled)
			}
			for i := range 3 {
				eventually(t, "the relay at rest", atRest)
				ev := testEvent(villages[0], i)
				mustEnqueue(t, writer, topic, ev)
				eventually(t, "the relay to publish "+ev.ID, func() (bool, string) {
					return count(t, writer, `SELECT count(*) FROM outbox WHERE event_id = $1 AND published_at IS NOT NULL`, ev.ID) == 1, "unpublished"
				})
			}
			eventually(t, "the relay at rest again", atRest)
		})
	}
}
