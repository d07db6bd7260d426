package inspection

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// BenchmarkConsumeWarnings pushes b.N workflow warnings for the district's
// 347 villages through a real Kafka topic (3 partitions, keyed by village)
// into the real consumer (events.NewConsumer: inbox, offsets committed
// after the database's commit) running the inspection handler on PostgreSQL: each event is
// recorded as a fact, its village rerated from all its facts of the year,
// and grade changes and notices stored and enqueued. Events are on the
// topic before the clock starts; the group's first join is included, so
// use many events:
//
//	go test ./services/inspection -run '^$' -bench ConsumeWarnings -benchtime 20000x
//
// Two consumers, one after the other on the same machine: "batched" (the
// default: the messages a fetch brought applied in one transaction, offsets
// committed after it; the target's row) and "one-at-a-time" (BatchSize 1:
// a transaction and an offset commit per event, as before issue 18).
func BenchmarkConsumeWarnings(b *testing.B) {
	b.Run("batched", func(b *testing.B) { benchmarkConsume(b, 0) })
	b.Run("one-at-a-time", func(b *testing.B) { benchmarkConsume(b, 1) })
}

func benchmarkConsume(b *testing.B, batchSize int) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 12, 31, 9, 0, 0, 0, Shanghai))
	s := newService(b, testinfra.Postgres(b), svcTown, clk)
	s.Rules = DefaultRules()
	brokers := testinfra.KafkaBrokers(b)
	topic := testinfra.Topic(b, 3)

	villages, _ := districtFacts(2026)
	rules := []string{"deadline", "deadline", "evidence-required", "order", "posting-duration", "amount-threshold", "conflict-of-interest"}
	rng := rand.New(rand.NewPCG(7, 347))
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, Shanghai)
	msgs := make([]kafka.Message, 0, b.N)
	for range b.N {
		ev := warningEvent(b, svcTown, villages[rng.IntN(len(villages))], rules[rng.IntN(len(rules))], start.Add(time.Duration(rng.IntN(364*24))*time.Hour))
		m, err := events.Encode(context.Background(), topic, ev)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll,
		BatchSize: 500, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer wcancel()
	for c := range slices.Chunk(msgs, 500) {
		// A topic just created may not be known to the broker's metadata yet.
		for {
			err := w.WriteMessages(wctx, c...)
			if err == nil {
				break
			}
			if wctx.Err() != nil {
				b.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	group := testinfra.UniqueName("bench-")
	consumer := events.NewConsumer(s.Pool, brokers, group, []string{topic}, s.HandleWorkflowEvent,
		events.ConsumerOptions{Telemetry: events.Telemetry{Logger: benchLogger()}, BatchSize: batchSize})
	b.ResetTimer()
	t0 := time.Now()
	done := make(chan error, 1)
	go func() { done <- consumer.Run(ctx) }()
	for {
		n := count(b, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1`, group)
		if n >= b.N {
			break
		}
		select {
		case err := <-done:
			b.Fatalf("consumer stopped after %d events: %v", n, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatalf("consumer: %v", err)
	}
	if n := count(b, s.Pool, `SELECT count(*) FROM facts`); n != b.N {
		b.Fatalf("%d facts for %d events", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(count(b, s.Pool, `SELECT count(*) FROM notices`)), "notices")
	b.ReportMetric(float64(count(b, s.Pool, `SELECT count(*) FROM grade_changes`)), "grade-changes")
}

// BenchmarkRerateDistrictFromPostgres is BenchmarkRateDistrict with the
// database: it reads a year of facts of the 347 villages (about 14,000)
// from PostgreSQL, rates every village, and stores the 347 ratings in one
// transaction, as a rerating after a change of rules would.
//
//	go test ./services/inspection -run '^$' -bench RerateDistrictFromPostgres -benchtime 20x
func BenchmarkRerateDistrictFromPostgres(b *testing.B) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 12, 31, 9, 0, 0, 0, Shanghai))
	s := newService(b, testinfra.Postgres(b), svcTown, clk)
	s.Rules = DefaultRules()
	ctx := context.Background()
	villages, facts := districtFacts(2026)
	rows := make([][]any, len(facts))
	for i, f := range facts {
		rows[i] = []any{f.ID, f.Village, svcTown, string(f.Kind), f.Subkind, f.At, f.Ref, f.Note}
	}
	if _, err := s.Pool.CopyFrom(ctx, pgx.Identifier{"facts"}, []string{"id", "village", "town", "kind", "subkind", "at", "ref", "note"},
		pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	period := Period{Year: 2026}
	b.ResetTimer()
	for b.Loop() {
		err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
			r, err := tx.Query(ctx, `SELECT id, village, kind, subkind, at, ref, note FROM facts WHERE at >= $1 AND at < $2`, period.Start(), period.End())
			if err != nil {
				return err
			}
			loaded, err := pgx.CollectRows(r, func(row pgx.CollectableRow) (Fact, error) {
				var f Fact
				var kind string
				err := row.Scan(&f.ID, &f.Village, &kind, &f.Subkind, &f.At, &f.Ref, &f.Note)
				f.Kind = FactKind(kind)
				return f, err
			})
			if err != nil {
				return err
			}
			if len(loaded) != len(facts) {
				return fmt.Errorf("%d facts loaded, want %d", len(loaded), len(facts))
			}
			ratings := RateAll(s.Rules, period, villages, loaded)
			for _, v := range villages {
				if err := saveRating(ctx, tx, ratings[v], s.now()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(facts)), "facts/op")
	b.ReportMetric(float64(districtVillages)*float64(b.N)/b.Elapsed().Seconds(), "villages/s")
}

func benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
