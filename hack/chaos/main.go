// Command chaos is the fault-injection suite (`make chaos`, issue 18): on
// the real one-node cluster of hack/district.sh it drives a steady load —
// in every town a process of the sample catalog advancing step by step,
// reports filed on the public report page, village portals read — while it
// injects one fault at a time into one town (the victim; the other towns
// carry the same load as a control). After each fault it waits for the
// district to recover (every Town, Village and pod Ready, every kind of
// request succeeding again), lets the outboxes drain and the consumers catch
// up, and checks the books: every accepted request's effect exists exactly
// once (instances, steps in the audit trail and on the portal, reports,
// events published and in every consumer's inbox), the audit chains verify
// against the inspection service's anchors, and no effect is there twice.
// It prints one table — fault, requests accepted, lost, applied twice,
// recovery time — and writes it to hack/chaos/RESULTS.md, which the
// README carries.
//
//	hack/chaos/run.sh                       # make chaos: every fault but the shared ones
//	CHAOS_SHARED=1 hack/chaos/run.sh        # also Kafka stopped for 60 s and PostgreSQL restarted
//	hack/chaos/run.sh -faults kill-workflow,pg-terminate
//
// The load talks to the towns' pods on the pod bridge (the host is a
// trusted proxy of the towns, as the gateway is), so that it keeps running
// while the API server is stopped. Needs root (the pod's network namespace,
// signals to the cluster's processes) and the district's environment
// (hack/district.sh env).
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

type suite struct {
	c            *cluster
	g            *loadgen
	kr           kratosAdmin
	led          *ledger
	town         string   // the victim
	towns        []string // loaded
	townCode     string
	pgURL        string
	run          string
	discipline   map[string]string
	trails       map[string]int
	brokenTrails int
	partitioned  int  // pid whose network namespace has the partition rules
	readOnly     bool // the victim's database was left read-only
	villageBase  int
	warm, after  time.Duration
	kafkaDown    time.Duration // how long kafka-stop-60s keeps the broker down
	deadline     time.Duration
	rolloutSoak  time.Duration // the District's soak during operator-mid-rollout
	ro           *rolloutRun   // operator-mid-rollout's rollout, until put back
}

type row struct {
	fault                          string
	accepted, lost, twice, unknown int
	recovery, settle               time.Duration
	reads, readFails               int64
	note                           string
	failures                       string // the failed requests by town, kind and reason
	audit                          string // audit trails broken of those verified
	err                            error
}

// failures sums up the requests that failed (no answer, 5xx, refusals),
// the portal reads' failures among them.
func failures(ops []op, reads map[string]int) string {
	n := map[string]int{}
	for k, v := range reads {
		n[k] += v
	}
	for _, o := range ops {
		if o.outcome != accepted {
			n[fmt.Sprintf("%s %s %s", o.town, o.kind, o.why)]++
		}
	}
	var parts []string
	for k, v := range n {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func main() { os.Exit(run()) }

func run() int {
	var (
		only     = flag.String("faults", "", "comma-separated faults to run (default: all; the shared ones only with CHAOS_SHARED=1)")
		town     = flag.String("town", "xikou", "the town the faults hit")
		out      = flag.String("out", "hack/chaos/RESULTS.md", "where the table is written")
		workers  = flag.Int("workers", 1, "process workers per town")
		warm     = flag.Duration("warm", 10*time.Second, "load before each fault")
		after    = flag.Duration("after", 10*time.Second, "load after recovery")
		deadline = flag.Duration("deadline", 5*time.Minute, "recovery and drain deadline (generous: the figure is what is measured)")
		soak     = flag.Duration("rollout-soak", 30*time.Second, "the District's rollout soak during operator-mid-rollout (instead of its 5m: two waves soak, one twice)")
		list     = flag.Bool("list", false, "list the faults and exit")
		readme   = flag.String("readme", "README.md", "the file whose <!-- chaos:begin/end --> block gets the table (empty: none)")
	)
	flag.Parse()
	all := faults()
	if *list {
		for _, f := range all {
			fmt.Printf("%-28s %s%s\n", f.name, f.what, map[bool]string{true: " (shared: CHAOS_SHARED=1)"}[f.shared])
		}
		return 0
	}
	shared := os.Getenv("CHAOS_SHARED") == "1"
	var chosen []fault
	for _, f := range all {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), f.name) {
			continue
		}
		if f.shared && !shared {
			fmt.Printf("chaos: %s left out (stops shared infrastructure; CHAOS_SHARED=1 runs it)\n", f.name)
			continue
		}
		chosen = append(chosen, f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := setup(ctx, *town)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	s.warm, s.after, s.deadline, s.rolloutSoak = *warm, *after, *deadline, *soak
	// Whatever happens, nothing is left broken: the partition lifted, the
	// database writable, the API server running, the operator running.
	defer func() {
		for _, f := range all {
			if f.cleanup != nil {
				f.cleanup(s)
			}
		}
	}()
	fmt.Printf("chaos: run %s, faults on town %s, load on %s\n", s.run, s.town, strings.Join(s.towns, ","))
	var rows []row
	for _, f := range chosen {
		if ctx.Err() != nil {
			break
		}
		r := s.phase(ctx, f, *workers)
		if f.cleanup != nil {
			f.cleanup(s)
		}
		rows = append(rows, r)
		fmt.Println(formatRow(r))
	}
	previous, _ := os.ReadFile(*out)
	table := render(rows, s, string(previous))
	fmt.Print("\n" + table)
	if err := os.WriteFile(*out, []byte(table), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
	if *readme != "" && len(rows) > 0 {
		if err := carry(*readme, table); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
		}
	}
	for _, r := range rows {
		if r.err != nil || r.lost > 0 || r.twice > 0 {
			return 1
		}
	}
	return 0
}

func setup(ctx context.Context, town string) (*suite, error) {
	root, _ := os.Getwd()
	c, err := newCluster(root)
	if err != nil {
		return nil, err
	}
	pgURL := os.Getenv("WUXIAO_TEST_POSTGRES_URL")
	pub, adm := os.Getenv("WUXIAO_TEST_KRATOS_PUBLIC_URL"), os.Getenv("WUXIAO_TEST_KRATOS_ADMIN_URL")
	if pgURL == "" || pub == "" || adm == "" {
		return nil, fmt.Errorf("WUXIAO_TEST_POSTGRES_URL and the Kratos URLs are not set: eval \"$(hack/district.sh env)\"")
	}
	var towns wuxiaov1.TownList
	if err := c.kube.List(ctx, &towns); err != nil {
		return nil, err
	}
	s := &suite{c: c, town: town, pgURL: pgURL, discipline: map[string]string{}, trails: map[string]int{},
		run: time.Now().UTC().Format("0102t1504") + "-" + strings.ToLower(rand.Text()[:4]), led: &ledger{},
		villageBase: 300 + 30*(time.Now().Minute()%3), kafkaDown: time.Minute}
	for _, t := range towns.Items {
		// Towns of this district that are up (the e2e story's town may be
		// gone or going).
		if t.DeletionTimestamp == nil && t.Status.Conditions != nil {
			s.towns = append(s.towns, t.Name)
		}
		if t.Name == town {
			s.townCode = t.Spec.Code
		}
	}
	if s.townCode == "" {
		return nil, fmt.Errorf("town %s is not in the cluster", town)
	}
	if env := os.Getenv("WUXIAO_E2E_TOWNS"); env != "" {
		s.towns = strings.Split(env, ",")
	}
	if !slices.Contains(s.towns, town) {
		s.towns = append(s.towns, town)
	}
	if _, err := c.waitReady(ctx, 3*time.Minute); err != nil {
		return nil, fmt.Errorf("the district is not Ready before the faults: %w", err)
	}
	s.kr = newKratosAdmin(pub, adm)
	s.g = newLoadgen(c, s.led, s.run, s.towns, s.kr)
	if err := s.g.signIn(ctx, 3); err != nil {
		return nil, err
	}
	return s, nil
}

// phase runs the load, injects f, waits for recovery, drains and checks
// the books.
func (s *suite) phase(ctx context.Context, f fault, workers int) (r row) {
	r.fault = f.name
	fmt.Printf("chaos: %s: %s\n", f.name, f.what)
	since := time.Now().Add(-time.Second)
	s.g.phase.Store(f.name)
	s.led.reads.Store(0)
	s.led.readFails.Store(0)
	lctx, stopLoad := context.WithCancel(ctx)
	wg := s.g.start(lctx, workers)
	defer func() {
		stopLoad()
		wg.Wait()
	}()
	sleep(ctx, s.warm)
	heal, note, err := f.inject(ctx, s)
	r.note = note
	if err != nil {
		r.err = fmt.Errorf("injecting: %w", err)
		return r
	}
	// Recovered: the district Ready and every stream of the load (per
	// town: starts, steps, reports, reads) successful again after heal.
	var streams []string
	for _, t := range s.towns {
		streams = append(streams, t+"/start", t+"/step", t+"/complaint", t+"/read")
	}
	deadline := s.deadline
	if f.longer != nil {
		deadline += f.longer(s)
	}
	rctx, cancel := context.WithTimeout(ctx, deadline)
	readyAt, err := s.c.waitReady(rctx, deadline)
	if err == nil && f.await != nil {
		if err = f.await(rctx, s); err == nil {
			readyAt, err = s.c.waitReady(rctx, deadline)
		}
	}
	var last time.Time
	for err == nil {
		first := s.led.firstOK(streams, heal)
		if len(first) == len(streams) {
			for _, t := range first {
				last = later(last, t)
			}
			break
		}
		if rctx.Err() != nil {
			err = fmt.Errorf("no success after the fault within %s: %d of %d streams", deadline, len(first), len(streams))
			break
		}
		sleep(rctx, 200*time.Millisecond)
	}
	cancel()
	if err != nil {
		r.err = fmt.Errorf("recovery: %w", err)
	}
	r.recovery = later(readyAt, last).Sub(heal)
	sleep(ctx, s.after)
	s.g.stopping.Store(true)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute): // a step still retrying: given up
		stopLoad()
		<-done
	}
	r.reads, r.readFails = s.led.reads.Load(), s.led.readFails.Load()
	settle, derr := s.drain(ctx, since, s.deadline)
	r.settle = settle
	if derr != nil && r.err == nil {
		r.err = derr // the books below count what is missing
	}
	broken := s.brokenTrails
	b, err := s.check(ctx, s.led.of(f.name), since)
	if err != nil {
		r.err = fmt.Errorf("books: %w", err)
		return r
	}
	if f.verify != nil {
		summary, err := f.verify(ctx, s, b)
		if err != nil && r.err == nil {
			r.err = err
		}
		r.note = strings.TrimPrefix(r.note+"; "+summary, "; ")
	}
	r.accepted, r.lost, r.twice, r.unknown = b.accepted, b.lost, b.twice, b.unknown
	r.failures = failures(s.led.of(f.name), s.led.readFailures(f.name))
	trails := 0
	for _, n := range s.trails {
		trails += n
	}
	r.audit = fmt.Sprintf("%d of %d", s.brokenTrails-broken, trails)
	for _, p := range b.problems {
		fmt.Println("  chaos:", p)
	}
	return r
}

func formatRow(r row) string {
	status := "ok"
	if r.err != nil {
		status = "ERROR: " + r.err.Error()
	}
	return fmt.Sprintf("chaos: %-26s accepted %d, lost %d, twice %d, unknown %d, recovery %s, settled %s, reads %d/%d failed; %s %s\n  failed requests: %s",
		r.fault, r.accepted, r.lost, r.twice, r.unknown, r.recovery.Round(100*time.Millisecond), r.settle.Round(100*time.Millisecond), r.readFails, r.reads, r.note, status, r.failures)
}

// render is the table RESULTS.md holds: this run's rows, and the rows of
// earlier runs for the faults this one left out (so that a run of a few
// faults, such as the shared ones, keeps the others' latest figures).
func render(rows []row, s *suite, previous string) string {
	load, _ := os.ReadFile("/proc/loadavg")
	when := fmt.Sprintf("%s, load %s", time.Now().UTC().Format("2006-01-02 15:04"), strings.Fields(string(load))[0])
	lines, fails := map[string]string{}, map[string]string{}
	for _, l := range strings.Split(previous, "\n") {
		if c := strings.Split(l, " | "); strings.HasPrefix(l, "| ") && len(c) > 1 {
			lines[strings.TrimPrefix(c[0], "| ")] = l
		} else if name, _, ok := strings.Cut(strings.TrimPrefix(l, "- "), ": "); ok && strings.HasPrefix(l, "- ") {
			fails[name] = l
		}
	}
	for _, r := range rows {
		note := r.note
		if r.err != nil {
			note = strings.TrimSpace(note + " ERROR: " + r.err.Error())
		}
		note = strings.ReplaceAll(note, "|", "/")
		lines[r.fault] = fmt.Sprintf("| %s | %d | %d | %d | %s | %d | %s | %s | %d of %d | %s | %s |", r.fault, r.accepted, r.lost, r.twice,
			r.recovery.Round(100*time.Millisecond), r.unknown, r.settle.Round(100*time.Millisecond), r.audit, r.readFails, r.reads, when, note)
		f := r.failures
		if f == "" {
			f = "none"
		}
		fails[r.fault] = fmt.Sprintf("- %s: %s", r.fault, f)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Faults on town %s, the same load on %s as a control; each row from the run named in it.\n\n", s.town, strings.Join(s.towns, ", "))
	b.WriteString("| fault | requests accepted | lost | applied twice | recovery time | failed (5xx or no answer) | books settled | audit trails broken | portal reads failed | run (UTC, load average) | note |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range faults() {
		if l, ok := lines[f.name]; ok {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("\nFailed requests (town, kind, reason × count; a step is retried until answered, so one step may fail several times):\n\n")
	for _, f := range faults() {
		if l, ok := fails[f.name]; ok {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// carry puts the table between the README's chaos markers.
func carry(file, table string) error {
	const begin, end = "<!-- chaos:begin -->\n", "<!-- chaos:end -->"
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s...%s block", file, strings.TrimSpace(begin), end)
	}
	return os.WriteFile(file, []byte(s[:i+len(begin)]+table+s[j:]), 0o600) //nolint:gosec // G703: the -readme file
}
