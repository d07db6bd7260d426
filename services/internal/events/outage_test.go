package events

import (
	"bytes"
	"fmt"
	"net"
	"runtime/pprof"
	"strings"
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
	// Registered after the relay and consumer, so it runs before they are
	// stopped: a failure shows where they were (a CI run once saw the relay
	// record nothing for 4 minutes).
	t.Cleanup(func() {
		if t.Failed() {
			logStacks(t, "events.(*Relay)", "events.(*Consumer)")
		}
	})

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
		published := count(t, pool, `SELECT count(*) FROM outbox WHERE published_at IS NOT NULL`)
		return failed == M*len(villages), fmt.Sprintf("%d of %d rows with failed attempts; %d rows published in all (%d before the outage); broker port %s",
			failed, M*len(villages), published, N*len(villages), portState(brokers[0]))
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

// portState says whether anything accepts connections at addr.
func portState(addr string) string {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "closed (" + err.Error() + ")"
	}
	_ = c.Close()
	return "open"
}

// logStacks logs the stacks of the goroutines running any of the given
// functions.
func logStacks(t *testing.T, funcs ...string) {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	for _, g := range strings.Split(buf.String(), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				t.Logf("goroutine in %s:\n%s", f, g)
				break
			}
		}
	}
}
