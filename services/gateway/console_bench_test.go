package gateway

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/workflow"
)

// BenchmarkConsolePages: 50 signed-in staff (40 cadres of one village in
// every village role, 10 town officials and finance staff) use the console
// at once against the real services, each loading its pages in turn: 待办,
// 流程, a process, 我的村/村情, an item to start. b.N is the total number of
// page loads; the p50 and p99 page latencies are reported (target: p99 <
// 300 ms on the 2-core CI machine).
//
// Two loads: back-to-back (each person opens the next page as soon as the
// last one arrives: a saturation test, latency is mostly queueing) and
// think-1s (each person reads for about a second between pages).
//
//	go test ./services/gateway -run '^$' -bench ConsolePages -benchtime 3000x
func BenchmarkConsolePages(b *testing.B) {
	env := startConsole(b)
	ctx := context.Background()
	roles := []string{"secretary", "director", "committee-member", "accountant", "cashier", "supervision-chair", "liaison-officer"}
	var people []*staff
	for i := range 40 {
		people = append(people, signIn(b, env.URL, roles[i%len(roles)], conTown, conVillage))
	}
	for i := range 10 {
		role := "town-official"
		if i%2 == 1 {
			role = "town-finance"
		}
		people = append(people, signIn(b, env.URL, role, conTown, ""))
	}
	// A village's year of processes, at various steps.
	member := workflow.Actor{ID: "bench-member", Role: "committee-member", Town: conTown, Village: conVillage}
	director := workflow.Actor{ID: "bench-director", Role: "director", Town: conTown, Village: conVillage}
	var ids []string
	for i := range 60 {
		v := conVillage
		if i%3 == 2 {
			v = conVillageB
		}
		member.Village, director.Village = v, v
		inst, err := env.WF.Start(ctx, member, v, workflow.StartRequest{ItemID: "funds-expenditure", Title: fmt.Sprintf("支出 %d", i), AmountFen: int64(10000 + i)})
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			if _, _, err := env.WF.Complete(ctx, member, inst.ID, "apply", workflow.CompleteRequest{Note: "申请"}); err != nil {
				b.Fatal(err)
			}
		}
		ids = append(ids, inst.ID)
	}
	pages := func(s *staff, n int) string {
		switch n % 5 {
		case 0:
			return "/console"
		case 1:
			return "/console/processes"
		case 2:
			return "/console/processes/" + ids[n%len(ids)/3*3] // village A's
		case 3:
			return "/console/village"
		}
		return "/console/start/funds-expenditure"
	}
	// Warm up: every session resolved once, connections open.
	for _, s := range people {
		if p := s.get("/console"); p.status != 200 {
			b.Fatalf("%s: %d", s.role, p.status)
		}
	}

	b.Run("back-to-back", func(b *testing.B) { loadConsole(b, people, pages, 0) })
	// People read a page before opening the next: each of the 50 opens
	// one every second or so.
	b.Run("think-1s", func(b *testing.B) { loadConsole(b, people, pages, time.Second) })
}

// loadConsole has every person load pages until b.N pages are loaded, each
// waiting think (±50%) after a page, and reports the latencies.
func loadConsole(b *testing.B, people []*staff, pages func(*staff, int) string, think time.Duration) {
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var failures atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, s := range people {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if think > 0 {
				// People do not all click in the same millisecond.
				time.Sleep(time.Duration(rand.Int64N(int64(think))))
			}
			for {
				n := int(next.Add(1)) - 1
				if n >= b.N {
					return
				}
				req, _ := http.NewRequest("GET", s.base+pages(s, n), nil)
				t0 := time.Now()
				res, err := s.http.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				d := time.Since(t0)
				if err != nil || res.StatusCode != 200 {
					failures.Add(1)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				if think > 0 {
					time.Sleep(think/2 + time.Duration(rand.Int64N(int64(think))))
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d page loads failed", f, b.N)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.Logf("%d page loads by %d concurrent staff: p50 %s, p99 %s, max %s", len(lat), len(people), pct(0.5), pct(0.99), lat[len(lat)-1])
}
