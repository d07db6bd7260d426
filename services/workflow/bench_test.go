package workflow

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// BenchmarkStepTransition measures recording one step (lock, engine,
// warnings, timers, audit link, outbox event, commit) on the real
// PostgreSQL, with parallel cadres each advancing their own process.
// Reports transitions/s and p50/p99 latency.
//
//	go test ./services/workflow -run '^$' -bench StepTransition -benchtime 2000x
func BenchmarkStepTransition(b *testing.B) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(b, testinfra.Postgres(b), clk)
	flow := []struct{ step, role string }{
		{"propose", "secretary"}, {"joint-meeting", "secretary"}, {"plan-posting", "director"},
		{"members-review", "secretary"}, {"representatives-resolution", "director"}, {"result-posting", "director"},
		{"implementation", "director"},
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var inst *Instance
		i := 0
		for pb.Next() {
			if inst == nil || i == len(flow) {
				var err error
				if inst, err = s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "基准"}); err != nil {
					b.Error(err)
					return
				}
				i = 0
			}
			t0 := time.Now()
			if _, _, err := s.Complete(ctx, cadre(flow[i].role), inst.ID, flow[i].step, CompleteRequest{}); err != nil {
				b.Error(err)
				return
			}
			d := time.Since(t0)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			i++
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "transitions/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
