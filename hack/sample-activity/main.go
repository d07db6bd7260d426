// Command sample-activity books a year of ILLUSTRATIVE activity for the
// district's sample villages (config/samples/villages.yaml) through the
// services' own staff and public APIs — never by writing to a database —
// so that a newcomer's portals and console after `make dev` show what a
// real village's would. Per village:
//
//   - a year of wallet entries (income and spending under the ledger's own
//     headings, one mistake reversed with a reason, one entry linked to a
//     process by its tracking number);
//   - subsidy payments to four made-up households (张示例甲, ID numbers born
//     on the 1st with sequence 00n), which the portal shows masked;
//   - seven processes of the power list: two completed (one of them books
//     its spending into the wallet by itself), the others waiting at a
//     village step, at a town approval and at a town finance approval, one
//     at a one-working-day step that falls overdue after the next working
//     day (overdue at once would need a database edit: not done here);
//   - two anonymous complaints through the public report API.
//
// Who booked it is honest: dedicated identities named 样例数据（自动生成）
// (one per role and village, or per role and town), created through the
// Kratos admin API and signed in with the native login flow; the officials
// the operator provisioned are never touched.
//
// It is deterministic (seeded by the village code; only the dates follow
// the day of the run) and idempotent: what is booked already is
// recognised and not booked again, and a village whose year is complete is
// seen as such from its public wallet alone.
//
//	go run ./hack/sample-activity                    # after hack/district.sh up; KUBECONFIG etc. from hack/district.sh env
//	go run ./hack/sample-activity -only 330213100201 # one village
//
// hack/dev.sh (`make dev`) runs it once the district is up. Progress goes
// to stderr; the last line on stdout is the summary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (hack/district.sh env)")
	flag.StringVar(&o.kratosPublic, "kratos-public", os.Getenv("WUXIAO_TEST_KRATOS_PUBLIC_URL"), "Kratos public API base URL")
	flag.StringVar(&o.kratosAdmin, "kratos-admin", os.Getenv("WUXIAO_TEST_KRATOS_ADMIN_URL"), "Kratos admin API base URL")
	flag.StringVar(&o.villages, "villages", "config/samples/villages.yaml", "the sample villages")
	flag.StringVar(&o.only, "only", "", "comma-separated village codes to book (default: every sample village)")
	flag.IntVar(&o.parallel, "parallel", 3, "villages booked at a time (keep it small: the services share the machine)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	summary, err := run(ctx, o)
	if summary != "" {
		fmt.Println(summary)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sample-activity:", err)
		os.Exit(1)
	}
}

type options struct {
	kubeconfig, kratosPublic, kratosAdmin, villages, only string
	parallel                                              int
}

func run(ctx context.Context, o options) (string, error) {
	switch {
	case o.kubeconfig == "":
		return "", errors.New("KUBECONFIG is not set: eval \"$(hack/district.sh env)\" first")
	case o.kratosPublic == "" || o.kratosAdmin == "":
		return "", errors.New("WUXIAO_TEST_KRATOS_PUBLIC_URL / _ADMIN_URL are not set: eval \"$(hack/district.sh env)\" first")
	case o.parallel < 1:
		return "", errors.New("-parallel must be at least 1")
	}
	villages, err := loadVillages(o.villages)
	if err != nil {
		return "", err
	}
	if o.only != "" {
		want := strings.Split(o.only, ",")
		villages = slices.DeleteFunc(villages, func(v Village) bool { return !slices.Contains(want, v.Code) })
		if len(villages) == 0 {
			return "", fmt.Errorf("none of %s is a sample village in %s", o.only, o.villages)
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", o.kubeconfig, err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	people := NewPeople(o.kratosPublic, o.kratosAdmin)
	b := &Booker{Client: client{http: &http.Client{Timeout: 30 * time.Second}},
		Targets: &podTargets{kube: kube, cache: map[string]string{}}, Tokens: people}
	return bookAll(ctx, b, villages, time.Now(), o.parallel, os.Stderr, func() int { return people.Created })
}

// bookAll books every village, parallel at a time, printing a line per
// village to progress, and returns the summary line.
func bookAll(ctx context.Context, b *Booker, villages []Village, today time.Time, parallel int, progress io.Writer, created func() int) (string, error) {
	t0 := time.Now()
	var (
		mu      sync.Mutex
		results []Result
		errs    []error
		skipped []string
		n       int
	)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, v := range villages {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := b.Book(ctx, NewPlan(v, today))
			mu.Lock()
			defer mu.Unlock()
			n++
			head := fmt.Sprintf("sample-activity: [%d/%d] %s %s (%s):", n, len(villages), v.Code, v.Name, v.Town)
			switch {
			case errors.Is(err, errTownDown):
				skipped = append(skipped, v.Town)
				fmt.Fprintln(progress, head, "skipped, the town is not part of this district")
			case err != nil:
				errs = append(errs, err)
				fmt.Fprintln(progress, head, "FAILED:", err)
			case res.Done:
				results = append(results, res)
				fmt.Fprintln(progress, head, "its year is booked already")
			default:
				results = append(results, res)
				pow := ""
				if res.ProofsOfWork > 0 {
					pow = fmt.Sprintf(" (%d with proof of work)", res.ProofsOfWork)
				}
				fmt.Fprintf(progress, "%s booked %d wallet entries (+%d reversal), %d subsidy payments, %d processes started and %d steps recorded (%d completed, %d open), %d complaints%s in %.1fs\n",
					head, res.Entries, res.Reversals, res.Payments, res.Started, res.Steps, res.Completed, res.Open, res.Complaints, pow, res.Took.Seconds())
				for _, d := range res.Deferred {
					fmt.Fprintln(progress, "    note:", d)
				}
			}
		}()
	}
	wg.Wait()
	var total Result
	booked, done := 0, 0
	for _, r := range results {
		if r.Done {
			done++
			continue
		}
		booked++
		total.Entries += r.Entries
		total.Reversals += r.Reversals
		total.Payments += r.Payments
		total.Started += r.Started
		total.Steps += r.Steps
		total.Complaints += r.Complaints
		total.Deferred = append(total.Deferred, r.Deferred...)
	}
	summary := fmt.Sprintf("sample activity: %d of %d sample villages booked now (%d wallet entries, %d reversals, %d subsidy payments, %d processes, %d steps, %d complaints; %d sample-data identities created), %d had their year already",
		booked, len(villages), total.Entries, total.Reversals, total.Payments, total.Started, total.Steps, total.Complaints, created(), done)
	if len(skipped) > 0 {
		slices.Sort(skipped)
		summary += fmt.Sprintf(", %d skipped (towns not up: %s)", len(villages)-booked-done-len(errs), strings.Join(slices.Compact(skipped), ","))
	}
	if len(total.Deferred) > 0 {
		summary += fmt.Sprintf(", %d notes (see above)", len(total.Deferred))
	}
	if len(errs) > 0 {
		summary += fmt.Sprintf(", %d FAILED", len(errs))
	}
	summary += fmt.Sprintf(", in %s", time.Since(t0).Round(100*time.Millisecond))
	return summary, errors.Join(errs...)
}

// loadVillages reads the sample Villages (a multi-document YAML file).
func loadVillages(path string) ([]Village, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Village
	for _, doc := range strings.Split("\n"+string(data), "\n---") {
		if !strings.Contains(doc, "kind: Village") {
			continue
		}
		var v wuxiaov1.Village
		if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		town, ok := strings.CutPrefix(v.Namespace, "town-")
		if !ok || v.Spec.Code == "" {
			return nil, fmt.Errorf("%s: village %q has no town namespace or no code", path, v.Name)
		}
		out = append(out, Village{Code: v.Spec.Code, Name: v.Spec.DisplayName, Town: town})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no Village", path)
	}
	return out, nil
}
