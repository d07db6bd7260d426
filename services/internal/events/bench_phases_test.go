package events

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// phaseLog collects the phases (probe points) each event went through,
// with their times since the event was sent. Events go one at a time, so
// a point belongs to the event in flight; the relay's mark and the
// consumer's commits of one event land in the next one's list (they
// overlap it), which is worth seeing too.
type phaseLog struct {
	mu     sync.Mutex
	start  time.Time
	points []phasePoint
}

type phasePoint struct {
	name string
	at   time.Duration
}

func (l *phaseLog) record(name string) {
	now := time.Now()
	l.mu.Lock()
	l.points = append(l.points, phasePoint{name, now.Sub(l.start)})
	l.mu.Unlock()
}

// next starts the list of the event sent at start and returns the last one's.
func (l *phaseLog) next(start time.Time) []phasePoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev := l.points
	l.start, l.points = start, nil
	return prev
}

// BenchmarkLatencyPhases is BenchmarkLatency's outbox path with each
// event's phases timed (relay woken, row read, produced, marked; consumer
// fetched, BEGIN + inbox row, handler, COMMIT, offset commit) and GC
// cycles counted: p50 and p99 of each phase, and the slowest events in
// full (-v). The probes cost a little, so the figures for the target come
// from BenchmarkLatency.
func BenchmarkLatencyPhases(b *testing.B) {
	b.Run("outbox", benchmarkOutboxPhases)
	b.Run("bare-kafka-go", benchmarkBarePhases)
}

func benchmarkOutboxPhases(b *testing.B) {
	pool := openDB(b, store.WithTracer(WakeTracer())) // as setupOutbox
	brokers := testinfra.KafkaBrokers(b)
	topic := testinfra.Topic(b, 3)
	log := &phaseLog{}
	got := make(chan time.Time, 1)
	handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		log.record("handler")
		got <- time.Now()
		return nil
	}
	probe = log.record
	b.Cleanup(func() { probe = nil }) // after the relay and consumer stopped (cleanups run last first)
	background(b, NewRelay(pool, brokers, RelayOptions{Telemetry: Telemetry{Logger: testLogger(b)}}).Run)
	background(b, NewConsumer(pool, brokers, testinfra.UniqueName("g-"), []string{topic}, handler,
		ConsumerOptions{Telemetry: Telemetry{Logger: testLogger(b)}}).Run)
	send := func(i int) time.Time {
		start := time.Now()
		if err := store.InTx(context.Background(), pool, func(tx pgx.Tx) error {
			return Enqueue(context.Background(), tx, topic, testEvent(villages[i%len(villages)], i))
		}); err != nil {
			b.Fatal(err)
		}
		log.record("producer.committed")
		return start
	}
	path := []string{"producer.committed", "relay.read", "relay.sent", "consumer.fetched", "consumer.begun", "handler"}
	measurePhases(b, log, send, got, path, func() []int {
		var pids []int
		rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
		if err == nil {
			pids, _ = pgx.CollectRows(rows, pgx.RowTo[int])
		}
		return pids
	})
}

// benchmarkBarePhases is BenchmarkLatency's bare-kafka-go path with its
// phases timed alike: produced, fetched, handler, offset committed.
func benchmarkBarePhases(b *testing.B) {
	brokers := testinfra.KafkaBrokers(b)
	topic := testinfra.Topic(b, 3)
	w := testWriter(b, brokers)
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: testinfra.UniqueName("g-"), GroupTopics: []string{topic},
		MaxWait: 2 * time.Second, StartOffset: kafka.FirstOffset, ReadLagInterval: -1})
	log := &phaseLog{}
	got := make(chan time.Time, 1)
	background(b, func(ctx context.Context) error {
		defer r.Close()
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return nil
			}
			log.record("consumer.fetched")
			log.record("handler")
			got <- time.Now()
			if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
				return err
			}
			log.record("consumer.offset")
		}
	})
	send := func(i int) time.Time {
		start := time.Now()
		if err := w.WriteMessages(context.Background(), kafka.Message{Topic: topic, Key: []byte(villages[i%len(villages)]),
			Value: []byte(`{"n":` + strconv.Itoa(i) + `}`)}); err != nil {
			b.Fatal(err)
		}
		log.record("relay.sent")
		return start
	}
	measurePhases(b, log, send, got, []string{"relay.sent", "consumer.fetched", "handler"}, func() []int { return nil })
}

// measurePhases sends b.N events one at a time and reports the latency's
// p50 and p99, each phase's (from the previous point of path), and the
// slowest events in full.
func measurePhases(b *testing.B, log *phaseLog, send func(int) time.Time, got <-chan time.Time, path []string, backends func() []int) {
	gcs := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	send(0)
	<-got
	pids := backends()
	type event struct {
		total  time.Duration
		points []phasePoint
		gc     uint64
		// Time the process's threads and the database's backends spent
		// runnable but waiting for a CPU during the event.
		goWait, pgWait time.Duration
	}
	evs := make([]event, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		metrics.Read(gcs)
		gc0 := gcs[0].Value.Uint64()
		go0, pg0 := runDelay(os.Getpid(), true), pidsDelay(pids)
		// Points from here on are this event's (and the overlapping end
		// of the previous one's path).
		pts := log.next(time.Now())
		if i > 0 {
			evs[i-1].points = append(evs[i-1].points, pts...)
		}
		start := send(i)
		end := <-got
		metrics.Read(gcs)
		evs = append(evs, event{total: end.Sub(start), gc: gcs[0].Value.Uint64() - gc0,
			goWait: runDelay(os.Getpid(), true) - go0, pgWait: pidsDelay(pids) - pg0})
	}
	b.StopTimer()
	evs[len(evs)-1].points = log.next(time.Now())

	// Each phase's duration: from the previous point of the event's path.
	durs := map[string][]time.Duration{}
	at := func(ps []phasePoint, name string) (time.Duration, bool) {
		for _, p := range ps {
			if p.name == name {
				return p.at, true
			}
		}
		return 0, false
	}
	for _, ev := range evs {
		prev := time.Duration(0)
		for _, name := range path {
			t, ok := at(ev.points, name)
			if !ok {
				continue
			}
			durs[name] = append(durs[name], t-prev)
			prev = t
		}
	}
	if b.N == 1 {
		return // go test's first round, to size b.N
	}
	q := func(d []time.Duration, f float64) float64 {
		slices.Sort(d)
		return float64(d[int(f*float64(len(d)-1))].Microseconds()) / 1000
	}
	for _, name := range path {
		if d := durs[name]; len(d) > 0 {
			b.Logf("%-20s p50 %7.2f ms  p99 %7.2f ms  (%d events)", "→ "+name, q(d, 0.5), q(d, 0.99), len(d))
		}
	}
	totals := make([]time.Duration, len(evs))
	for i, ev := range evs {
		totals[i] = ev.total
	}
	b.ReportMetric(q(totals, 0.5), "p50-ms")
	b.ReportMetric(q(slices.Clone(totals), 0.99), "p99-ms")
	slices.SortFunc(evs, func(a, b event) int { return int(b.total - a.total) })
	// The five slowest and, for comparison, the median one.
	for _, ev := range append(evs[:min(5, len(evs)):min(5, len(evs))], evs[len(evs)/2]) {
		var sb strings.Builder
		for _, p := range ev.points {
			fmt.Fprintf(&sb, " %s@%.2f", p.name, float64(p.at.Microseconds())/1000)
		}
		b.Logf("slow event: %.2f ms, %d GC cycles, waiting for a CPU: this process %.2f ms, its %d PostgreSQL backends %.2f ms:%s",
			float64(ev.total.Microseconds())/1000, ev.gc, float64(ev.goWait.Microseconds())/1000,
			len(pids), float64(ev.pgWait.Microseconds())/1000, sb.String())
	}
}

// runDelay is how long pid's threads (all of them, or its main one) have
// waited on a run queue (the second field of /proc/…/schedstat).
func runDelay(pid int, threads bool) time.Duration {
	files := []string{fmt.Sprintf("/proc/%d/schedstat", pid)}
	if threads {
		files, _ = filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	}
	var total time.Duration
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if fields := strings.Fields(string(data)); len(fields) >= 2 {
			ns, _ := strconv.ParseInt(fields[1], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

func pidsDelay(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		total += runDelay(pid, false)
	}
	return total
}
