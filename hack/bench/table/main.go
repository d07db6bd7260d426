// Command table prints the performance targets of issue 18 as one table:
// target, measured, ratio, met. It reads the output of `go test -bench
// -json` (or plain `go test -bench`) of the benchmarks that carry a target,
// from the files named on the command line (stdin without any), and, with
// -scale, the JSON of the operator's scale benchmark (hack/bench/scale).
// See hack/bench/README.md; `make bench` runs it all.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// results maps a benchmark's name (without the -GOMAXPROCS suffix) to its
// metrics by unit ("ns/op", "p50-ms", "ratio", ...).
type results map[string]map[string]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark result lines, from go test -json events or plain
// text. A result line is "BenchmarkName-N <iterations> (<value> <unit>)*".
func parse(r io.Reader, into results) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var pending string // -json splits a result line over events
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "{") {
			var ev struct{ Action, Output string }
			if json.Unmarshal([]byte(line), &ev) != nil || ev.Action != "output" {
				continue
			}
			pending += ev.Output
			if !strings.HasSuffix(pending, "\n") {
				continue
			}
			line, pending = strings.TrimSuffix(pending, "\n"), ""
		}
		parseLine(line, into)
	}
	return sc.Err()
}

func parseLine(line string, into results) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return
	}
	if _, err := strconv.Atoi(f[1]); err != nil {
		return
	}
	name := procSuffix.ReplaceAllString(f[0], "")
	m := map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return
		}
		m[f[i+1]] = v
	}
	into[name] = m // the last run of a name wins (b.N=1 probes come first)
}

func (r results) get(name, unit string) (float64, bool) {
	v, ok := r[name][unit]
	return v, ok
}

// row is one target.
type row struct {
	target   string
	measured string
	ratio    string
	met      string
}

const missing = "not run"

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// atMost and atLeast make a row comparing x with a limit.
func atMost(target string, x, limit float64, measured, unit string) row {
	return row{target, measured, fmt.Sprintf("%.2f%s", x, unit), yes(x <= limit)}
}

func atLeast(target string, x, limit float64, measured, unit string) row {
	return row{target, measured, fmt.Sprintf("%.2f%s", x, unit), yes(x >= limit)}
}

func rows(r results, scale *scaleFile) []row {
	var out []row
	// Events: outbox → relay → inbox vs bare kafka-go: side by side (the
	// paths' turns) when run, else one path after the other.
	for _, q := range []string{"p50", "p99"} {
		t := fmt.Sprintf("Events latency %s ≤ 1.3× bare kafka-go", q)
		o, ok1 := r.get("BenchmarkLatency/turns", "outbox-"+q+"-ms")
		k, ok2 := r.get("BenchmarkLatency/turns", "bare-"+q+"-ms")
		how := " (side by side)"
		if !ok1 || !ok2 {
			o, ok1 = r.get("BenchmarkLatency/outbox", q+"-ms")
			k, ok2 = r.get("BenchmarkLatency/bare-kafka-go", q+"-ms")
			how = ""
		}
		if !ok1 || !ok2 || k == 0 {
			out = append(out, row{t, missing, "", ""})
			continue
		}
		out = append(out, atMost(t, o/k, 1.3, fmt.Sprintf("%.2f ms vs %.2f ms%s", o, k, how), "×"))
	}
	// Workflow.
	if p99, ok := r.get("BenchmarkStepTransition", "p99-ms"); ok {
		t := "Workflow step p99 ≤ 10× INSERT+COMMIT p99"
		if c, ok := r.get("BenchmarkStepTransition", "commit-p99-ms"); ok && c > 0 {
			// Side by side: every cadre alternates a step and an INSERT+COMMIT.
			out = append(out, atMost(t, p99/c, 10, fmt.Sprintf("%.2f ms vs %.2f ms (side by side, 8 cadres)", p99, c), "×"))
		} else if c, ok := r.get("BenchmarkLatency/insert-commit", "p99-ms"); ok && c > 0 {
			row := atMost(t, p99/c, 10, fmt.Sprintf("%.2f ms vs %.2f ms (INSERT+COMMIT from the events run, not side by side)", p99, c), "×")
			out = append(out, row)
		} else {
			out = append(out, row{t, fmt.Sprintf("%.2f ms; no INSERT+COMMIT figure", p99), "", ""})
		}
	} else {
		out = append(out, row{"Workflow step p99 ≤ 10× INSERT+COMMIT p99", missing, "", ""})
	}
	if n, ok := r.get("BenchmarkStepTransition", "transitions/s"); ok {
		out = append(out, atLeast("Workflow ≥ 1,500 steps/s", n/1500, 1, fmt.Sprintf("%.0f steps/s", n), "× target"))
	} else {
		out = append(out, row{"Workflow ≥ 1,500 steps/s", missing, "", ""})
	}
	// Portal.
	if x, ok := r.get("BenchmarkPortalVsFileServer", "ratio"); ok {
		p, _ := r.get("BenchmarkPortalVsFileServer", "portal-req/s")
		f, _ := r.get("BenchmarkPortalVsFileServer", "fileserver-req/s")
		out = append(out, atLeast("Portal page ≥ 0.9× http.FileServer (req/s)", x, 0.9, fmt.Sprintf("%.0f vs %.0f req/s", p, f), "×"))
		if c, ok := r.get("BenchmarkPortalVsFileServer", "cpu-ratio"); ok {
			pc, _ := r.get("BenchmarkPortalVsFileServer", "portal-cpu-us/req")
			fc, _ := r.get("BenchmarkPortalVsFileServer", "fileserver-cpu-us/req")
			out = append(out, atLeast("Portal page ≥ 0.9× http.FileServer (CPU per request)", c, 0.9,
				fmt.Sprintf("%.0f vs %.0f µs/req", pc, fc), "×"))
		}
	} else {
		out = append(out, row{"Portal page ≥ 0.9× http.FileServer", missing, "", ""})
	}
	// Portal through the gateway (its page cache included, as villagers
	// get it).
	if x, ok := r.get("BenchmarkPortalGatewayVsFileServer", "ratio"); ok {
		g, _ := r.get("BenchmarkPortalGatewayVsFileServer", "gateway-req/s")
		f, _ := r.get("BenchmarkPortalGatewayVsFileServer", "fileserver-req/s")
		out = append(out, atLeast("Portal page through the gateway ≥ 0.8× http.FileServer (req/s)", x, 0.8, fmt.Sprintf("%.0f vs %.0f req/s", g, f), "×"))
		if c, ok := r.get("BenchmarkPortalGatewayVsFileServer", "cpu-ratio"); ok {
			gc, _ := r.get("BenchmarkPortalGatewayVsFileServer", "gateway-cpu-us/req")
			fc, _ := r.get("BenchmarkPortalGatewayVsFileServer", "fileserver-cpu-us/req")
			out = append(out, atLeast("Portal page through the gateway ≥ 0.8× http.FileServer (CPU per request)", c, 0.8,
				fmt.Sprintf("%.0f vs %.0f µs/req", gc, fc), "×"))
		}
	} else {
		out = append(out, row{"Portal page through the gateway ≥ 0.8× http.FileServer", missing, "", ""})
	}
	// Inspection.
	if n, ok := r.get("BenchmarkConsumeWarnings/batched", "events/s"); ok {
		measured := fmt.Sprintf("%.0f events/s", n)
		if one, ok := r.get("BenchmarkConsumeWarnings/one-at-a-time", "events/s"); ok {
			measured += fmt.Sprintf(" (one at a time, same run: %.0f)", one)
		}
		out = append(out, atLeast("Inspection ≥ 2,000 warnings/s", n/2000, 1, measured, "× target"))
	} else {
		out = append(out, row{"Inspection ≥ 2,000 warnings/s", missing, "", ""})
	}
	// Operator, from the scale benchmark's latest file.
	if scale != nil {
		for _, s := range scale.Scenarios {
			src := fmt.Sprintf(" (bench-scale %s)", scale.Started[:min(len(scale.Started), 10)])
			if !s.Operator.Completed {
				out = append(out, row{"Operator " + s.Name + src, "did not converge", "", "not met"})
				continue
			}
			mib := float64(s.Operator.PeakRSSBytes) / (1 << 20)
			if s.Villages <= 1000 {
				out = append(out,
					atMost("Operator "+s.Name+" time ≤ 1.5× client-go"+src, s.TimeRatio, 1.5, fmt.Sprintf("%.1f s", s.Operator.TimeToReady), "×"),
					atMost("Operator "+s.Name+" requests ≤ 1.5× client-go"+src, s.RequestRatio, 1.5, "", "×"),
					atMost("Operator "+s.Name+" peak memory ≤ 150 MiB"+src, mib/150, 1, fmt.Sprintf("%.0f MiB", mib), "× limit"))
			} else {
				out = append(out, atMost("Operator "+s.Name+" peak memory ≤ 400 MiB"+src, mib/400, 1, fmt.Sprintf("%.0f MiB", mib), "× limit"))
			}
		}
	}
	return out
}

// scaleFile is the part of hack/bench/scale's JSON the table uses.
type scaleFile struct {
	Started   string `json:"started"`
	Scenarios []struct {
		Name         string  `json:"name"`
		Villages     int     `json:"villages"`
		TimeRatio    float64 `json:"timeRatio"`
		RequestRatio float64 `json:"requestRatio"`
		Operator     struct {
			Completed    bool    `json:"completed"`
			TimeToReady  float64 `json:"timeToReadySeconds"`
			PeakRSSBytes int64   `json:"peakRSSBytes"`
		} `json:"operator"`
	} `json:"scenarios"`
}

func main() {
	scalePath := flag.String("scale", "", "JSON of hack/bench/scale (-out) to add the operator's rows from")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: table [-scale scale.json] [go-test-bench-output ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	r := results{}
	if flag.NArg() == 0 {
		if err := parse(os.Stdin, r); err != nil {
			fail(err)
		}
	}
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fail(err)
		}
		err = parse(f, r)
		f.Close()
		if err != nil {
			fail(fmt.Errorf("%s: %w", name, err))
		}
	}
	var scale *scaleFile
	if *scalePath != "" {
		data, err := os.ReadFile(*scalePath)
		if err != nil {
			fail(err)
		}
		scale = &scaleFile{}
		if err := json.Unmarshal(data, scale); err != nil {
			fail(fmt.Errorf("%s: %w", *scalePath, err))
		}
	}
	fmt.Println("| target | measured | ratio | met |")
	fmt.Println("|---|---|---|---|")
	for _, x := range rows(r, scale) {
		fmt.Printf("| %s | %s | %s | %s |\n", x.target, x.measured, x.ratio, x.met)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "table:", err)
	os.Exit(1)
}
