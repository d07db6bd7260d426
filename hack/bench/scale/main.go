// Command scale is Wuxiao's operator scale benchmark (not a timed test).
//
// For each scenario (a number of towns and villages) it starts a real
// kube-apiserver and etcd (envtest), runs the operator as a subprocess against
// it, creates every Town and Village from nothing with a bounded worker pool,
// and measures the time until all of them are Ready, the API requests the
// operator made (per village, by verb) and the operator's peak memory. It then
// does the same on a fresh API server with a raw client-go program that
// creates the same objects and writes the same statuses, and reports the
// ratios: the operator's overhead.
//
// envtest runs no controller-manager and no kubelet, so an in-process stand-in
// marks every Deployment rolled out and available.
//
//	go run ./hack/bench/scale -scenarios 12x347,21x20000 -out results.json
//
// See hack/bench/README.md for what the figures mean.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

type scenarioResult struct {
	Name     string     `json:"name"`
	Towns    int        `json:"towns"`
	Villages int        `json:"villages"`
	Operator *runResult `json:"operator,omitempty"`
	Baseline *runResult `json:"baseline,omitempty"`
	// Ratios operator / baseline: time to Ready, and API requests (the
	// operator's requests over the baseline's, leaving out the baseline's
	// Town and Village creates, which in the operator run the benchmark
	// makes as a user would).
	TimeRatio    float64  `json:"timeRatio,omitempty"`
	RequestRatio float64  `json:"requestRatio,omitempty"`
	Errors       []string `json:"errors,omitempty"`
}

type report struct {
	Started   time.Time `json:"started"`
	GoVersion string    `json:"goVersion"`
	CPUs      int       `json:"cpus"`
	Host      string    `json:"host"`
	Workers   int       `json:"workers"`
	// OperatorArgs are the flags added to the operator's defaults.
	OperatorArgs []string         `json:"operatorArgs,omitempty"`
	Scenarios    []scenarioResult `json:"scenarios"`
}

func parseScenarios(s string) ([]layout, error) {
	var ls []layout
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		t, v, ok := strings.Cut(part, "x")
		if !ok {
			return nil, fmt.Errorf("scenario %q: want TOWNSxVILLAGES, e.g. 12x347", part)
		}
		nt, err1 := strconv.Atoi(t)
		nv, err2 := strconv.Atoi(v)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("scenario %q: want TOWNSxVILLAGES, e.g. 12x347", part)
		}
		l := layout{Towns: nt, Villages: nv}
		if err := l.validate(); err != nil {
			return nil, fmt.Errorf("scenario %q: %w", part, err)
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("no scenarios")
	}
	return ls, nil
}

func main() {
	var (
		o         options
		scenarios = flag.String("scenarios", "12x347,21x20000", "comma-separated TOWNSxVILLAGES scenarios; a town holds at most 999 villages")
		towns     = flag.Int("towns", 0, "run one scenario with this many towns (with -villages) instead of -scenarios")
		villages  = flag.Int("villages", 0, "run one scenario with this many villages (with -towns)")
		mode      = flag.String("mode", "both", "what to run: both, operator or baseline")
		out       = flag.String("out", "", "write the results as JSON to this file")
		opArgs    = flag.String("operator-args", "", "extra flags for the operator, space-separated, e.g. \"--kube-api-qps=-1\"")
	)
	flag.StringVar(&o.operatorBin, "operator-bin", "", "operator binary to run (default: build ./operator/cmd/wuxiao-operator)")
	flag.IntVar(&o.workers, "workers", 8, "workers creating objects, in both runs")
	flag.IntVar(&o.kubeletWorkers, "kubelet-workers", 4, "workers of the kubelet stand-in")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up on a run after this long, reporting how far it got")
	flag.DurationVar(&o.steady, "steady", 15*time.Second, "after convergence, watch the operator this long for steady-state requests (0: skip)")
	flag.StringVar(&o.logDir, "logdir", "", "directory for the operator's logs and kubeconfigs (default: a new temporary directory)")
	flag.IntVar(&officialsPerVillage, "officials", 0, "officials per village, each a real Kratos identity the operator provisions (operator runs only: the baseline does not provision identities)")
	flag.Parse()
	// envtest logs through controller-runtime; its messages are not ours.
	ctrllog.SetLogger(logr.Discard())

	o.operatorArgs = strings.Fields(*opArgs)
	if *towns > 0 || *villages > 0 {
		*scenarios = fmt.Sprintf("%dx%d", max(*towns, 1), *villages)
	}
	ls, err := parseScenarios(*scenarios)
	if err != nil {
		fatal(err)
	}
	if *mode != "both" && *mode != "operator" && *mode != "baseline" {
		fatal(fmt.Errorf("-mode must be both, operator or baseline"))
	}
	if officialsPerVillage > 0 && *mode != "operator" {
		fatal(fmt.Errorf("-officials needs -mode operator: the baseline does not provision identities, so a ratio would compare different work"))
	}
	officialsRun = strconv.FormatInt(time.Now().Unix(), 36)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.logDir == "" {
		if o.logDir, err = os.MkdirTemp("", "wuxiao-bench-"); err != nil {
			fatal(err)
		}
	} else if err := os.MkdirAll(o.logDir, 0o750); err != nil {
		fatal(err)
	}
	logf("logs and kubeconfigs go to %s", o.logDir)
	if *mode != "baseline" && o.operatorBin == "" {
		if o.operatorBin, err = buildOperator(ctx, o.logDir); err != nil {
			fatal(err)
		}
	}

	host, _ := os.Hostname()
	rep := report{Started: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Host: host, Workers: o.workers, OperatorArgs: o.operatorArgs}
	for _, l := range ls {
		sr := scenarioResult{Name: fmt.Sprintf("%dx%d", l.Towns, l.Villages), Towns: l.Towns, Villages: l.Villages}
		logf("=== scenario %s: %d towns, %d villages (%d to %d per town)", sr.Name, l.Towns, l.Villages, l.villagesIn(l.Towns-1), l.villagesIn(0))
		if *mode != "baseline" && ctx.Err() == nil {
			r, err := runOperator(ctx, o, l, "operator-"+sr.Name)
			if err != nil {
				logf("operator run failed: %v", err)
				sr.Errors = append(sr.Errors, "operator: "+err.Error())
			}
			sr.Operator = r
		}
		if *mode != "operator" && ctx.Err() == nil {
			r, err := runBaseline(ctx, o, l, "baseline-"+sr.Name)
			if err != nil {
				logf("baseline run failed: %v", err)
				sr.Errors = append(sr.Errors, "baseline: "+err.Error())
			}
			sr.Baseline = r
		}
		if op, b := sr.Operator, sr.Baseline; op != nil && b != nil && op.Completed && b.Completed {
			if b.TimeToReadySeconds > 0 {
				sr.TimeRatio = round2(op.TimeToReadySeconds / b.TimeToReadySeconds)
			}
			if prov := b.Requests.Total - b.UserCreates; prov > 0 {
				sr.RequestRatio = round2(op.Requests.Total / prov)
			}
		}
		rep.Scenarios = append(rep.Scenarios, sr)
		printDetail(os.Stdout, sr)
		if *out != "" {
			writeJSON(*out, rep) // after every scenario, so a later failure keeps earlier results
		}
	}
	printTable(os.Stdout, rep)
	if *out != "" {
		writeJSON(*out, rep)
		logf("results written to %s", *out)
	}
	for _, s := range rep.Scenarios {
		if len(s.Errors) > 0 || (s.Operator != nil && !s.Operator.Completed) || (s.Baseline != nil && !s.Baseline.Completed) {
			os.Exit(1)
		}
	}
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func fatal(err error) {
	logf("ERROR: %v", err)
	os.Exit(2)
}

func writeJSON(path string, rep report) {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		fatal(err)
	}
}

func orDash(ok bool, s string) string {
	if !ok {
		return "-"
	}
	return s
}

// printTable prints one line per scenario.
func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "\nWuxiao operator scale benchmark (%s, %d CPUs, %d workers", rep.GoVersion, rep.CPUs, rep.Workers)
	if len(rep.OperatorArgs) > 0 {
		fmt.Fprintf(w, ", operator %s", strings.Join(rep.OperatorArgs, " "))
	}
	fmt.Fprintf(w, ")\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttowns\tvillages\ttime to Ready\top requests\tper village\treads\twrites\top peak RSS\tbaseline time\tbaseline requests\ttime ratio\trequest ratio\t")
	for _, s := range rep.Scenarios {
		op, b := s.Operator, s.Baseline
		cols := []string{s.Name, strconv.Itoa(s.Towns), strconv.Itoa(s.Villages)}
		if op != nil {
			t := fmt.Sprintf("%.1fs", op.TimeToReadySeconds)
			if !op.Completed {
				t = "DNF " + op.Progress.String()
			}
			cols = append(cols, t,
				fmt.Sprintf("%.0f", op.Requests.Total), fmt.Sprintf("%.2f", op.Requests.PerVillage),
				fmt.Sprintf("%.0f", op.Requests.Reads), fmt.Sprintf("%.0f", op.Requests.Writes),
				mib(max(op.PeakRSSBytes, op.VmHWMBytes)))
		} else {
			cols = append(cols, "-", "-", "-", "-", "-", "-")
		}
		if b != nil {
			t := fmt.Sprintf("%.1fs", b.TimeToReadySeconds)
			if !b.Completed {
				t = "DNF"
			}
			cols = append(cols, t, fmt.Sprintf("%.0f (%.0f excl. user creates)", b.Requests.Total, b.Requests.Total-b.UserCreates))
		} else {
			cols = append(cols, "-", "-")
		}
		cols = append(cols, orDash(s.TimeRatio > 0, fmt.Sprintf("%.2fx", s.TimeRatio)), orDash(s.RequestRatio > 0, fmt.Sprintf("%.2fx", s.RequestRatio)))
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
}

// printDetail prints the breakdown of one scenario.
func printDetail(w io.Writer, s scenarioResult) {
	fmt.Fprintf(w, "\n--- scenario %s: %d towns, %d villages\n", s.Name, s.Towns, s.Villages)
	for _, e := range s.Errors {
		fmt.Fprintf(w, "  ERROR %s\n", e)
	}
	if op := s.Operator; op != nil {
		fmt.Fprintf(w, "operator: completed=%v time-to-Ready %.1fs (all towns Ready %.1fs, last create %.1fs; village create->Ready p50 %.2fs p95 %.2fs max %.2fs)\n",
			op.Completed, op.TimeToReadySeconds, op.TownsReadySeconds, op.AllCreatedSeconds, op.VillageLatencyP50, op.VillageLatencyP95, op.VillageLatencyMax)
		if !op.Completed {
			fmt.Fprintf(w, "  NOT converged: %s; %s\n", op.Error, op.Progress)
			for k, n := range op.Progress.NotReady {
				fmt.Fprintf(w, "    %d x %s, e.g. %s\n", n.Count, k, n.Example)
			}
		}
		fmt.Fprintf(w, "  peak RSS %s (sampled every 200ms), VmHWM %s, RSS at Ready %s\n", mib(op.PeakRSSBytes), mib(op.VmHWMBytes), mib(op.RSSAtReadyBytes))
		fmt.Fprintf(w, "  operator CPU %.1fs in the run; machine CPU busy %.0f%% of all cores\n", op.OperatorCPUSeconds, op.MachineCPUBusy*100)
		printFigures(w, "  requests, first create to all Ready", op.Requests)
		if op.StartupRequests != nil {
			printFigures(w, fmt.Sprintf("  requests at startup (%.1fs, before the first create)", op.StartupSeconds), *op.StartupRequests)
		}
		if op.SteadyRequests != nil {
			printFigures(w, fmt.Sprintf("  requests in steady state (%.1fs after all Ready)", op.SteadySeconds), *op.SteadyRequests)
		}
		fmt.Fprintf(w, "  benchmark's own requests in the run window (subtracted): %.0f; kubelet stand-in status updates: %d; create errors: %d\n",
			op.BenchRequests.Total, op.KubeletUpdates, op.CreateErrors)
		for _, e := range op.FirstCreateErrors {
			fmt.Fprintf(w, "    %s\n", e)
		}
		fmt.Fprintf(w, "  operator log: %s (%d lines at --zap-log-level=error)\n", op.LogFile, op.LogLines)
		if op.HeapProfile != "" {
			fmt.Fprintf(w, "  operator heap at all Ready: go tool pprof -top %s\n", op.HeapProfile)
		}
		for _, l := range op.LogExcerpt {
			fmt.Fprintf(w, "    | %s\n", l)
		}
	}
	if b := s.Baseline; b != nil {
		fmt.Fprintf(w, "baseline (raw client-go): completed=%v time-to-Ready %.1fs (all towns Ready %.1fs, last create %.1fs; village create->Ready p50 %.2fs p95 %.2fs max %.2fs)\n",
			b.Completed, b.TimeToReadySeconds, b.TownsReadySeconds, b.AllCreatedSeconds, b.VillageLatencyP50, b.VillageLatencyP95, b.VillageLatencyMax)
		if !b.Completed {
			fmt.Fprintf(w, "  NOT converged: %s; %s\n", b.Error, b.Progress)
		}
		fmt.Fprintf(w, "  machine CPU busy %.0f%% of all cores\n", b.MachineCPUBusy*100)
		printFigures(w, fmt.Sprintf("  requests (client-side; %.0f of them create the Towns and Villages)", b.UserCreates), b.Requests)
		if b.UnattributedRequests != nil {
			fmt.Fprintf(w, "  check: server-counted requests nobody claims: %.0f (the operator figures assume this is ~0)\n", b.UnattributedRequests.Total)
			for k, v := range b.UnattributedRequests.ByKind {
				fmt.Fprintf(w, "    %6.0f %s\n", v, k)
			}
		}
		for _, e := range b.FirstCreateErrors {
			fmt.Fprintf(w, "    %s\n", e)
		}
	}
	if s.TimeRatio > 0 {
		fmt.Fprintf(w, "ratios operator/baseline: time %.2fx, requests %.2fx\n", s.TimeRatio, s.RequestRatio)
	}
}

func printFigures(w io.Writer, title string, f requestFigures) {
	per := ""
	if f.PerVillage != 0 {
		per = fmt.Sprintf(", %.2f per village", f.PerVillage)
	}
	fmt.Fprintf(w, "%s: %.0f%s; reads %.0f, writes %.0f\n", title, f.Total, per, f.Reads, f.Writes)
	var verbs []string
	for _, v := range []string{"GET", "LIST", "WATCH", "CREATE", "UPDATE", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"} {
		if n := f.ByVerb[v]; n != 0 {
			verbs = append(verbs, fmt.Sprintf("%s %.0f", v, n))
		}
	}
	if len(verbs) > 0 {
		fmt.Fprintf(w, "    by verb: %s\n", strings.Join(verbs, ", "))
	}
	type kv struct {
		k string
		v float64
	}
	var kinds []kv
	for k, v := range f.ByKind {
		kinds = append(kinds, kv{k, v})
	}
	sortKV := func(a, b kv) bool {
		if a.v != b.v {
			return a.v > b.v
		}
		return a.k < b.k
	}
	for i := 1; i < len(kinds); i++ {
		for j := i; j > 0 && sortKV(kinds[j], kinds[j-1]); j-- {
			kinds[j], kinds[j-1] = kinds[j-1], kinds[j]
		}
	}
	for i, e := range kinds {
		if i == 20 {
			fmt.Fprintf(w, "    ... %d more kinds\n", len(kinds)-20)
			break
		}
		fmt.Fprintf(w, "    %8.0f %s\n", e.v, e.k)
	}
	var codes []string
	for c, n := range f.ByCode {
		if !strings.HasPrefix(c, "2") {
			codes = append(codes, fmt.Sprintf("%s: %.0f", c, n))
		}
	}
	if len(codes) > 0 {
		fmt.Fprintf(w, "    non-2xx responses: %s\n", strings.Join(codes, ", "))
	}
}
