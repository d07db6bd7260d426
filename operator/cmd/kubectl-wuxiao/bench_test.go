package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/villagefile"
)

// BenchmarkImport347 onboards Fenghua's 347 villages (one liaison officer
// each, so one Kratos identity each) into a fresh town until every one is
// Live 4/4, two ways side by side: `kubectl wuxiao villages import` of the
// spreadsheet (validation, server-side apply, watch), and the same Village
// objects applied one by one with server-side apply as `kubectl apply
// --server-side -f` does, then waited for. Reported: seconds per side.
//
//	go test ./operator/cmd/kubectl-wuxiao/ -run '^$' -bench Import347 -benchtime 1x -timeout 20m
func BenchmarkImport347(b *testing.B) {
	const n = 347
	d := district(b)
	for i := 0; b.Loop(); i++ {
		// kubectl wuxiao villages import, as the town's IT person.
		it := readyTown(b, d, fmt.Sprintf("kw-bench-a%d", i))
		prefix := it.town.Spec.Code[:9]
		var csv strings.Builder
		csv.WriteString("村名,村代码,监察联络员\n")
		for v := range n {
			fmt.Fprintf(&csv, "第%d村,%s%03d,联络员%d %s\n", v+1, prefix, v+1, v+1, phone(b))
		}
		file := b.TempDir() + "/villages.csv"
		must(b, writeFileTB(file, csv.String()))
		start := time.Now()
		stdout, stderr, err := kw(b, it.cfg, "villages", "import", file, "--town", it.town.Name, "--timeout", "15m")
		importTook := time.Since(start)
		if err != nil || !strings.Contains(stdout, fmt.Sprintf("创建 %d", n)) {
			b.Fatalf("import: %v\n%s\n%s", err, stdout, stderr)
		}

		// The same objects with server-side apply, one by one.
		other := readyTown(b, d, fmt.Sprintf("kw-bench-b%d", i))
		prefix = other.town.Spec.Code[:9]
		var objs []client.Object
		for v := range n {
			r := villagefile.Row{Name: fmt.Sprintf("v%s%03d", prefix, v+1), DisplayName: fmt.Sprintf("第%d村", v+1),
				Code: fmt.Sprintf("%s%03d", prefix, v+1), Kind: wuxiaov1.VillageKindVillage,
				Officials: []wuxiaov1.Official{{ID: fmt.Sprintf("p%d", v+1), Name: fmt.Sprintf("联络员%d", v+1), Role: wuxiaov1.RoleLiaisonOfficer, Phone: phone(b)}}}
			objs = append(objs, r.Object(other.town.NamespaceName()))
		}
		c, err := (&app{config: other.cfg}).client()
		must(b, err)
		ctx := context.Background()
		start = time.Now()
		for _, o := range objs {
			//nolint:staticcheck // what kubectl apply --server-side sends
			must(b, c.Patch(ctx, o, client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership))
		}
		eventually(b, 15*time.Minute, func() error {
			live := 0
			for _, v := range villages(b, other.town.NamespaceName()) {
				if liveDone(v.Status.Live) {
					live++
				}
			}
			if live < n {
				return fmt.Errorf("%d/%d live", live, n)
			}
			return nil
		})
		applyTook := time.Since(start)
		b.ReportMetric(importTook.Seconds(), "import-s")
		b.ReportMetric(applyTook.Seconds(), "ssa-apply-s")
		b.Logf("347 villages to Live 4/4: kubectl wuxiao villages import %v, server-side apply one by one %v", importTook.Round(time.Millisecond), applyTook.Round(time.Millisecond))
	}
}
