package events

import (
	"fmt"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The broker goes down while events keep being enqueued: nothing committed
// is lost, nothing is applied twice, and each village's order holds.
func TestBrokerOutageLosesNothing(t *testing.T) {
	pool := openDB(t)
	begin := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(begin).Seconds(), what) }
	step("starting a private broker")
	brokers, stopBroker, startBroker := testinfra.PrivateKafka(t)
	step("private broker up")
	topic := testinfra.UniqueName("wuxiao.test.outage.")
	testinfra.CreateTopics(t, brokers, 3, topic)

	ropts := fastRelay(t)
	ropts.WriteTimeout = 2 * time.Second
	background(t, NewRelay(pool, brokers, ropts).Run)
	copts := fastConsumer(t)
	copts.SessionTimeout = 6 * time.Second // the broker's minimum: rejoin sooner after the restart
	background(t, NewConsumer(pool, brokers, testinfra.UniqueName("g-"), []string{topic}, recordHandler, copts).Run)

	next := 0
	enqueueRound := func(rounds int) {
		for i := 0; i < rounds; i++ {
			for _, v := range villages {
				mustEnqueue(t, pool, topic, testEvent(v, next))
			}
			next++
		}
	}
	applied := func(want int) func() (bool, string) {
		return func() (bool, string) {
			n := count(t, pool, `SELECT count(*) FROM received`)
			return n >= want, fmt.Sprintf("%d of %d applied", n, want)
		}
	}

	const N, M = 10, 10 // rounds, each one event per village
	enqueueRound(N)
	eventually(t, "the events before the outage", applied(N*len(villages)))

	step("stopping the broker")
	stopBroker()
	enqueueRound(M)
	// The relay keeps trying; the rows stay, with the failures recorded.
	eventually(t, "failed attempts recorded on every new row", func() (bool, string) {
		failed := count(t, pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL AND attempts > 0 AND last_error <> ''`)
		return failed == M*len(villages), fmt.Sprintf("%d of %d rows with failed attempts", failed, M*len(villages))
	})
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL`); n != M*len(villages) {
		t.Errorf("%d unpublished rows during the outage, want %d", n, M*len(villages))
	}

	step("starting the broker again")
	startBroker()
	step("broker up")
	total := (N + M) * len(villages)
	eventually(t, "every event after the broker is back", applied(total))
	eventually(t, "the outbox drained", func() (bool, string) {
		n := count(t, pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL`)
		return n == 0, fmt.Sprintf("%d unpublished", n)
	})
	step("all applied")
	receivedInOrder(t, pool, total)
}
