package events

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// BenchmarkLatency measures producer-to-consumer latency one event at a
// time: through outbox, relay and inbox consumer, and through a bare
// kafka-go Writer and group Reader on the same broker (acks=all, one commit
// per message in both, writers configured alike). The ratio of the two is
// the price of the guarantees (issue 18's target: ≤ 1.3× at p50 and p99).
// insert-commit is one PostgreSQL transaction of one INSERT (BEGIN, INSERT,
// COMMIT) on the same server, the unit the workflow's target is expressed
// in. Run with e.g. -benchtime=300x.
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
		pool := openDB(b)
		brokers := testinfra.KafkaBrokers(b)
		topic := testinfra.Topic(b, 3)
		got := make(chan time.Time, 1)
		handler := func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
			got <- time.Now()
			return nil
		}
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
			return start
		}
		measureLatency(b, send, got)
	})
	b.Run("bare-kafka-go", func(b *testing.B) {
		brokers := testinfra.KafkaBrokers(b)
		topic := testinfra.Topic(b, 3)
		w := testWriter(b, brokers)
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: testinfra.UniqueName("g-"), GroupTopics: []string{topic},
			MaxWait: 2 * time.Second, StartOffset: kafka.FirstOffset, ReadLagInterval: -1})
		got := make(chan time.Time, 1)
		background(b, func(ctx context.Context) error {
			defer r.Close()
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return nil
				}
				got <- time.Now()
				if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
					return err
				}
			}
		})
		send := func(i int) time.Time {
			start := time.Now()
			if err := w.WriteMessages(context.Background(), kafka.Message{Topic: topic, Key: []byte(villages[i%len(villages)]),
				Value: []byte(`{"n":` + strconv.Itoa(i) + `}`)}); err != nil {
				b.Fatal(err)
			}
			return start
		}
		measureLatency(b, send, got)
	})
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
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
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
