package workflow

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// benchCadres is how many cadres record steps at once, each in their own
// process, and the pool's size (so that nobody waits for a connection).
const benchCadres = 8

// BenchmarkStepTransition measures recording one step (lock, engine,
// warnings, timers, audit link, outbox event, commit) on the real
// PostgreSQL, with benchCadres cadres each advancing their own process.
// Two phases of b.N steps each:
//
//   - side by side: every cadre alternates a step with a plain INSERT +
//     COMMIT (BEGIN, INSERT of a row, COMMIT) on the same pool, so both
//     see the same machine; reports the step's p50/p99 (p50-ms, p99-ms),
//     the commit's (commit-p50-ms, commit-p99-ms) and p99-ratio, the
//     target's figure (issue 18: ≤ 10);
//
//   - throughput: steps only (transitions/s, target ≥ 1,500).
//
//     go test ./services/workflow -run '^$' -bench StepTransition -benchtime 2000x
func BenchmarkStepTransition(b *testing.B) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(b, testinfra.Postgres(b), clk)
	pool, err := store.Open(ctx, s.Pool.Config().ConnString(), "workflow", store.WithMaxConns(benchCadres))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	s.Pool = pool
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, at timestamptz NOT NULL, body text NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	flow := []struct{ step, role string }{
		{"propose", "secretary"}, {"joint-meeting", "secretary"}, {"plan-posting", "director"},
		{"members-review", "secretary"}, {"representatives-resolution", "director"}, {"result-posting", "director"},
		{"implementation", "director"},
	}
	// cadre is one cadre's process and where it stands.
	type cadreState struct {
		inst *Instance
		i    int
	}
	step := func(c *cadreState) (time.Duration, error) {
		if c.inst == nil || c.i == len(flow) {
			var err error
			if c.inst, err = s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "基准"}); err != nil {
				return 0, err
			}
			c.i = 0
		}
		t0 := time.Now()
		if _, _, err := s.Complete(ctx, cadre(flow[c.i].role), c.inst.ID, flow[c.i].step, CompleteRequest{}); err != nil {
			return 0, err
		}
		c.i++
		return time.Since(t0), nil
	}
	commit := func() (time.Duration, error) {
		t0 := time.Now()
		tx, err := pool.Begin(ctx)
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO bench_commit (at, body) VALUES ($1, $2)`, t0, "基准"); err != nil {
			_ = tx.Rollback(ctx)
			return 0, err
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	// run spreads n iterations of fn over benchCadres goroutines.
	run := func(n int, fn func(c *cadreState) error) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		next := 0
		for range benchCadres {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &cadreState{}
				for {
					mu.Lock()
					if next == n {
						mu.Unlock()
						return
					}
					next++
					mu.Unlock()
					if err := fn(c); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}

	b.ResetTimer()
	var mu sync.Mutex
	var steps, commits []time.Duration
	run(b.N, func(c *cadreState) error {
		d, err := step(c)
		if err != nil {
			return err
		}
		e, err := commit()
		if err != nil {
			return err
		}
		mu.Lock()
		steps, commits = append(steps, d), append(commits, e)
		mu.Unlock()
		return nil
	})
	serverCPU := backendsCPU(b, pool)
	clientCPU := testinfra.ProcessCPU()
	start := time.Now()
	run(b.N, func(c *cadreState) error {
		_, err := step(c)
		return err
	})
	elapsed := time.Since(start)
	clientCPU = testinfra.ProcessCPU() - clientCPU
	if serverCPU >= 0 {
		if after := backendsCPU(b, pool); after >= 0 {
			serverCPU = after - serverCPU
		} else {
			serverCPU = -1
		}
	}
	b.StopTimer()
	if len(steps) == 0 || b.Failed() {
		return
	}
	slices.Sort(steps)
	slices.Sort(commits)
	q := func(ds []time.Duration, p int) float64 { return float64(ds[(len(ds)-1)*p/100].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "transitions/s")
	b.ReportMetric(q(steps, 50), "p50-ms")
	b.ReportMetric(q(steps, 99), "p99-ms")
	b.ReportMetric(q(commits, 50), "commit-p50-ms")
	b.ReportMetric(q(commits, 99), "commit-p99-ms")
	b.ReportMetric(q(steps, 99)/q(commits, 99), "p99-ratio")
	// CPU per step (the throughput phase, starts included): what 2 cores
	// could do at most, whatever else runs on the machine.
	b.ReportMetric(float64(clientCPU.Microseconds())/float64(b.N)/1000, "client-cpu-ms/step")
	if serverCPU >= 0 {
		b.ReportMetric(float64(serverCPU.Microseconds())/float64(b.N)/1000, "server-cpu-ms/step")
	}
	b.Logf("%d steps side by side with %d INSERT+COMMITs, then %d steps alone in %s (%d cadres)", len(steps), len(commits), b.N, elapsed.Round(time.Millisecond), benchCadres)
}

// backendsCPU is the CPU time the PostgreSQL backends of pool's open
// connections used so far, or -1 when it cannot be read.
func backendsCPU(b *testing.B, pool *pgxpool.Pool) time.Duration {
	cpu, ok := testinfra.BackendCPU(b, pool, pool.Config().ConnConfig.RuntimeParams["application_name"])
	if !ok {
		return -1
	}
	var total time.Duration
	for _, t := range cpu {
		total += t
	}
	return total
}
