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
	"github.com/jackc/pgx/v5/pgxpool"
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
// Three consumers, one after the other on the same machine: "batched"
// (as the service runs: the messages a fetch brought applied in one
// transaction by the batch handler, WorkflowBatch, apply_batch.go; the
// target's row), "batched-per-event" (one transaction per fetch, the
// handler called per event: before the batch handler) and "one-at-a-time"
// (BatchSize 1: a transaction and an offset commit per event, as before
// issue 18). Besides events/s each reports the CPU an event cost the test
// process (consumer, Kafka client) and the consumer's PostgreSQL backends
// (from /proc: the server runs on this machine), which bound what 2 cores
// can do whatever else runs.
//
// "batched-2-replicas" is "batched" with two consumers in the group, each
// with its own pool, as the operator deploys a town's service by default
// (2 replicas): Kafka gives each some of the topic's 3 partitions.
func BenchmarkConsumeWarnings(b *testing.B) {
	b.Run("batched", func(b *testing.B) { benchmarkConsume(b, 0, true, 1) })
	b.Run("batched-2-replicas", func(b *testing.B) { benchmarkConsume(b, 0, true, 2) })
	b.Run("batched-per-event", func(b *testing.B) { benchmarkConsume(b, 0, false, 1) })
	b.Run("one-at-a-time", func(b *testing.B) { benchmarkConsume(b, 1, false, 1) })
}

func benchmarkConsume(b *testing.B, batchSize int, batchHandler bool, replicas int) {
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
	opts := events.ConsumerOptions{Telemetry: events.Telemetry{Logger: benchLogger()}, BatchSize: batchSize}
	consumers := make([]*events.Consumer, replicas)
	for i := range consumers {
		r := s
		if i > 0 { // another replica: a pool of its own
			pool, err := store.Open(ctx, s.Pool.Config().ConnString(), "inspection")
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			r = &Service{Rules: s.Rules, Notices: s.Notices, Pool: pool, Town: s.Town, TownName: s.TownName,
				VillageNames: s.VillageNames, Log: s.Log, Now: s.Now}
		}
		if batchHandler {
			opts.Batch = r.WorkflowBatch(false)
		}
		consumers[i] = events.NewConsumer(r.Pool, brokers, group, []string{topic}, r.HandleWorkflowEvent, opts)
	}
	// Progress is read on a connection of its own, whose backend's CPU is
	// not counted.
	wcfg := s.Pool.Config().ConnConfig.Copy()
	wcfg.RuntimeParams["application_name"] = "bench-watch"
	watch, err := pgx.ConnectConfig(ctx, wcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer watch.Close(context.Background())
	backends := map[int32]time.Duration{} // the consumer's backends' CPU at start
	b.ResetTimer()
	t0, cpu0 := time.Now(), testinfra.ProcessCPU()
	done := make(chan error, replicas)
	for _, c := range consumers {
		go func() { done <- c.Run(ctx) }()
	}
	for {
		backendsCPU(b, watch, s.Pool, backends, false)
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM inbox WHERE consumer = $1`, group).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n >= b.N {
			break
		}
		select {
		case err := <-done:
			b.Fatalf("consumer stopped after %d events: %v", n, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	elapsed, clientCPU := time.Since(t0), testinfra.ProcessCPU()-cpu0
	serverCPU := backendsCPU(b, watch, s.Pool, backends, true)
	b.StopTimer()
	cancel()
	for range replicas {
		if err := <-done; err != nil {
			b.Fatalf("consumer: %v", err)
		}
	}
	if n := count(b, s.Pool, `SELECT count(*) FROM facts`); n != b.N {
		b.Fatalf("%d facts for %d events", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(clientCPU.Microseconds())/float64(b.N), "client-cpu-us/event")
	if serverCPU >= 0 {
		b.ReportMetric(float64(serverCPU.Microseconds())/float64(b.N), "server-cpu-us/event")
	}
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

// backendsCPU samples the CPU time of pool's PostgreSQL backends (by
// application name, read on watch), remembering in seen each backend's
// time when first sampled; at the end it returns what they used since (-1
// when /proc has not got them: a server elsewhere). Sampled while the run
// goes, a backend opened and closed between two samples is missed; the
// consumer's stay open.
func backendsCPU(b *testing.B, watch *pgx.Conn, pool *pgxpool.Pool, seen map[int32]time.Duration, end bool) time.Duration {
	cpu, ok := testinfra.BackendCPU(b, watch, pool.Config().ConnConfig.RuntimeParams["application_name"])
	if !ok {
		return -1
	}
	var total time.Duration
	for pid, now := range cpu {
		if _, ok := seen[pid]; !ok {
			seen[pid] = now
			if end {
				seen[pid] = 0 // opened during the run
			}
		}
		total += now - seen[pid]
	}
	return total
}

func benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
