package events

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// BenchmarkLatency measures producer-to-consumer latency one event at a
// time: through outbox, relay and inbox consumer, and through a bare
// kafka-go Writer and group Reader on the same broker (acks=all, one
// synchronous offset commit per message in both, writers configured
// alike). The ratio of the two is the price of the guarantees (issue 18's
// target: ≤ 1.3× at p50 and p99). outbox's producer commits with three
// round trips (Enqueue in store.InTx), outbox-pipelined's with one (a
// pgx.Batch with BEGIN, QueueEnqueue and COMMIT, as workflow steps do).
// turns runs the three side by side in turns of 20 events, so that they
// see the same machine, and reports the ratios. insert-commit is one
// PostgreSQL transaction of one INSERT (BEGIN, INSERT, COMMIT) on the same
// server, the unit the workflow's target is expressed in. Run with e.g.
// -benchtime=300x.
func BenchmarkLatency(b *testing.B) {
	b.Run("insert-commit", func(b *testing.B) {
		pool := openDB(b)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			if err := store.InTx(context.Background(), pool, func(tx pgx.Tx) error {
				_, err := tx.Exec(context.Background(), `INSERT INTO received (event_id, village, n) VALUES ($1, $2, $3)`,
					"insert-"+strconv.Itoa(i), villages[i%len(villages)], i)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		reportQuantiles(b, lat)
	})
	b.Run("outbox", func(b *testing.B) {
		send, got := setupOutbox(b, commitEnqueue)
		measureLatency(b, send, got)
	})
	b.Run("outbox-pipelined", func(b *testing.B) {
		send, got := setupOutbox(b, commitPipelined)
		measureLatency(b, send, got)
	})
	b.Run("bare-kafka-go", func(b *testing.B) {
		send, got := setupBare(b)
		measureLatency(b, send, got)
	})
	// The three paths take turns of 20 events, so that all see the same
	// machine (its load moves within seconds here); b.N events each.
	b.Run("turns", func(b *testing.B) {
		type path struct {
			name string
			send func(int) time.Time
			got  <-chan time.Time
			lat  []time.Duration
		}
		var paths []*path
		for _, p := range []struct {
			name  string
			setup func() (func(int) time.Time, <-chan time.Time)
		}{
			{"outbox", func() (func(int) time.Time, <-chan time.Time) { return setupOutbox(b, commitEnqueue) }},
			{"pipelined", func() (func(int) time.Time, <-chan time.Time) { return setupOutbox(b, commitPipelined) }},
			{"bare", func() (func(int) time.Time, <-chan time.Time) { return setupBare(b) }},
		} {
			send, got := p.setup()
			send(0) // the group's first join is not part of the figure
			<-got
			paths = append(paths, &path{name: p.name, send: send, got: got, lat: make([]time.Duration, 0, b.N)})
		}
		b.ResetTimer()
		for i := 0; i < b.N; {
			n := min(20, b.N-i)
			for _, p := range paths {
				for j := i; j < i+n; j++ {
					start := p.send(j)
					p.lat = append(p.lat, (<-p.got).Sub(start))
				}
			}
			i += n
		}
		b.StopTimer()
		q := map[string][2]float64{}
		for _, p := range paths {
			q[p.name] = [2]float64{quantile(p.lat, 0.5), quantile(p.lat, 0.99)}
			b.ReportMetric(q[p.name][0], p.name+"-p50-ms")
			b.ReportMetric(q[p.name][1], p.name+"-p99-ms")
		}
		b.ReportMetric(q["outbox"][0]/q["bare"][0], "p50-ratio")
		b.ReportMetric(q["outbox"][1]/q["bare"][1], "p99-ratio")
		b.ReportMetric(q["pipelined"][0]/q["bare"][0], "pipelined-p50-ratio")
		b.ReportMetric(q["pipelined"][1]/q["bare"][1], "pipelined-p99-ratio")
	})
}

// commitEnqueue is the producer's transaction as the complaint and
// disclosure services write it: BEGIN, Enqueue, COMMIT (three round trips).
func commitEnqueue(ctx context.Context, pool *pgxpool.Pool, topic string, ev eventsv1.Event) error {
	return store.InTx(ctx, pool, func(tx pgx.Tx) error { return Enqueue(ctx, tx, topic, ev) })
}

// commitPipelined is the same in one pipelined round trip (BEGIN,
// QueueEnqueue, COMMIT), as a workflow step writes its events.
func commitPipelined(ctx context.Context, pool *pgxpool.Pool, topic string, ev eventsv1.Event) error {
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	if err := QueueEnqueue(ctx, batch, topic, ev); err != nil {
		return err
	}
	batch.Queue("COMMIT")
	return pool.SendBatch(ctx, batch).Close()
}

// setupOutbox starts a relay and a consumer on a database and topic of
// their own; send commits event i with commit and returns when it started,
// got receives the time the handler was called.
func setupOutbox(b *testing.B, commit func(ctx context.Context, pool *pgxpool.Pool, topic string, ev eventsv1.Event) error) (send func(int) time.Time, got <-chan time.Time) {
	// As the services' pools (platform.Open): the process's commits of
	// outbox rows wake its relay at once.
	pool := openDB(b, store.WithTracer(WakeTracer()))
	brokers := testinfra.KafkaBrokers(b)
	topic := testinfra.Topic(b, 3)
	ch := make(chan time.Time, 1)
	handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		ch <- time.Now()
		return nil
	}
	background(b, NewRelay(pool, brokers, RelayOptions{Telemetry: Telemetry{Logger: testLogger(b)}}).Run)
	background(b, NewConsumer(pool, brokers, testinfra.UniqueName("g-"), []string{topic}, handler,
		ConsumerOptions{Telemetry: Telemetry{Logger: testLogger(b)}}).Run)
	return func(i int) time.Time {
		start := time.Now()
		if err := commit(context.Background(), pool, topic, testEvent(villages[i%len(villages)], i)); err != nil {
			b.Fatal(err)
		}
		return start
	}, ch
}

// setupBare is setupOutbox for bare kafka-go: a Writer configured as the
// relay's (acks=all, no batching wait) and a group Reader configured as the
// consumer's (MaxWait 2s, one synchronous offset commit per message).
func setupBare(b *testing.B) (send func(int) time.Time, got <-chan time.Time) {
	brokers := testinfra.KafkaBrokers(b)
	topic := testinfra.Topic(b, 3)
	w := testWriter(b, brokers)
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: testinfra.UniqueName("g-"), GroupTopics: []string{topic},
		MaxWait: 2 * time.Second, StartOffset: kafka.FirstOffset, ReadLagInterval: -1})
	ch := make(chan time.Time, 1)
	background(b, func(ctx context.Context) error {
		defer r.Close()
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return nil
			}
			ch <- time.Now()
			if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
				return err
			}
		}
	})
	return func(i int) time.Time {
		start := time.Now()
		if err := w.WriteMessages(context.Background(), kafka.Message{Topic: topic, Key: []byte(villages[i%len(villages)]),
			Value: []byte(`{"n":` + strconv.Itoa(i) + `}`)}); err != nil {
			b.Fatal(err)
		}
		return start
	}, ch
}

func measureLatency(b *testing.B, send func(int) time.Time, got <-chan time.Time) {
	// The first message waits for the group to form: not part of the figure.
	send(0)
	<-got
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := send(i)
		lat = append(lat, (<-got).Sub(start))
	}
	b.StopTimer()
	reportQuantiles(b, lat)
}

func reportQuantiles(b *testing.B, lat []time.Duration) {
	b.ReportMetric(quantile(lat, 0.5), "p50-ms")
	b.ReportMetric(quantile(lat, 0.99), "p99-ms")
}

// quantile is the q-quantile of lat in milliseconds (sorts lat).
func quantile(lat []time.Duration, q float64) float64 {
	slices.Sort(lat)
	return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
}

// BenchmarkRelayThroughput measures how fast the relay empties a full
// outbox (rows enqueued beforehand, 1000 per transaction). Run with e.g.
// -benchtime=20000x.
func BenchmarkRelayThroughput(b *testing.B) {
	pool := openDB(b)
	brokers := testinfra.KafkaBrokers(b)
	topic := testinfra.Topic(b, 3)
	for i := 0; i < b.N; i += 1000 {
		var evs []eventsv1.Event
		for j := i; j < min(i+1000, b.N); j++ {
			evs = append(evs, testEvent(villages[j%len(villages)], j))
		}
		mustEnqueue(b, pool, topic, evs...)
	}
	b.ResetTimer()
	start := time.Now()
	stop := background(b, NewRelay(pool, brokers, RelayOptions{Telemetry: Telemetry{Logger: testLogger(b)}}).Run)
	for count(b, pool, `SELECT count(*) FROM outbox WHERE published_at IS NULL`) > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkConsumerThroughput measures how fast a consumer applies events
// already on the topic (one transaction and one offset commit per event);
// the group's first join is included, so use many, e.g. -benchtime=5000x.
func BenchmarkConsumerThroughput(b *testing.B) {
	b.Run("commit-each", func(b *testing.B) { benchmarkConsumer(b, 0) })
	b.Run("commit-every-100ms", func(b *testing.B) { benchmarkConsumer(b, 100*time.Millisecond) })
}

func benchmarkConsumer(b *testing.B, commitInterval time.Duration) {
	pool := openDB(b)
	brokers := testinfra.KafkaBrokers(b)
	topic := testinfra.Topic(b, 3)
	w := testWriter(b, brokers)
	var msgs []kafka.Message
	for i := 0; i < b.N; i++ {
		m, err := Encode(context.Background(), topic, testEvent(villages[i%len(villages)], i))
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	for c := range slices.Chunk(msgs, 100) {
		if err := w.WriteMessages(context.Background(), c...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	stop := background(b, NewConsumer(pool, brokers, testinfra.UniqueName("g-"), []string{topic}, recordHandler,
		ConsumerOptions{Telemetry: Telemetry{Logger: testLogger(b)}, CommitInterval: commitInterval}).Run)
	for count(b, pool, `SELECT count(*) FROM received`) < b.N {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
