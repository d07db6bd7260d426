package testinfra

import (
	"slices"
	"time"
)

// Turns is the outcome of RotatingTurns: per target, the requests served,
// the wall time and the process CPU spent on them, and each turn's rates.
type Turns struct {
	Served []int
	Spent  []time.Duration
	CPU    []time.Duration
	rates  [][]float64 // per turn, per target: requests per second
}

// RotatingTurns compares servers on a shared, noisy machine: each target
// (serve(n) sends n requests to one server and checks them) gets turns of
// burst requests, the order rotating every turn, until the first one has
// served total. Short turns make all servers see the same machine.
func RotatingTurns(total, burst int, serve ...func(n int) error) (*Turns, error) {
	t := &Turns{Served: make([]int, len(serve)), Spent: make([]time.Duration, len(serve)), CPU: make([]time.Duration, len(serve))}
	for k := 0; t.Served[0] < total; k++ {
		n := min(burst, total-t.Served[0])
		rates := make([]float64, len(serve))
		for j := range serve {
			i := (j + k) % len(serve)
			start, cpu0 := time.Now(), ProcessCPU()
			if err := serve[i](n); err != nil {
				return nil, err
			}
			d := time.Since(start)
			t.CPU[i] += ProcessCPU() - cpu0
			t.Spent[i] += d
			t.Served[i] += n
			rates[i] = float64(n) / d.Seconds()
		}
		t.rates = append(t.rates, rates)
	}
	return t, nil
}

// Rate is target i's requests per second over the time spent on it.
func (t *Turns) Rate(i int) float64 { return float64(t.Served[i]) / t.Spent[i].Seconds() }

// CPUPerRequest is the process CPU (servers and clients) per request of
// target i, in seconds: steadier than Rate, since a saturated loopback
// benchmark's req/s is CPU time ÷ CPU per request.
func (t *Turns) CPUPerRequest(i int) float64 { return t.CPU[i].Seconds() / float64(t.Served[i]) }

// TurnRatios are target a's rate ÷ target b's in each turn, sorted (their
// quartiles show how much the machine moved the comparison).
func (t *Turns) TurnRatios(a, b int) []float64 {
	out := make([]float64, 0, len(t.rates))
	for _, r := range t.rates {
		out = append(out, r[a]/r[b])
	}
	slices.Sort(out)
	return out
}
