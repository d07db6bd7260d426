package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/villagefile"
)

// BenchmarkImport347 onboards Fenghua's 347 villages (one liaison officer
// each, so one Kratos identity each) into a fresh town until every one is
// Live 4/4, two ways side by side: `kubectl wuxiao villages import` of the
// spreadsheet (validation, server-side apply, watch), and the same Village
// objects in one manifest file applied by the real `kubectl apply
// --server-side -f` as the same town admin, then waited for. Reported:
// seconds per side.
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

		// The same objects as one manifest file, applied by the real
		// kubectl (envtest's, beside kube-apiserver) as the same user.
		other := readyTown(b, d, fmt.Sprintf("kw-bench-b%d", i))
		prefix = other.town.Spec.Code[:9]
		var manifest bytes.Buffer
		for v := range n {
			r := villagefile.Row{Name: fmt.Sprintf("v%s%03d", prefix, v+1), DisplayName: fmt.Sprintf("第%d村", v+1),
				Code: fmt.Sprintf("%s%03d", prefix, v+1), Kind: wuxiaov1.VillageKindVillage,
				Officials: []wuxiaov1.Official{{ID: fmt.Sprintf("p%d", v+1), Name: fmt.Sprintf("联络员%d", v+1), Role: wuxiaov1.RoleLiaisonOfficer, Phone: phone(b)}}}
			y, err := yaml.Marshal(r.Object(other.town.NamespaceName()).Object)
			must(b, err)
			manifest.WriteString("---\n")
			manifest.Write(y)
		}
		dir := b.TempDir()
		must(b, os.WriteFile(filepath.Join(dir, "villages.yaml"), manifest.Bytes(), 0o600))
		must(b, os.WriteFile(filepath.Join(dir, "kubeconfig"), other.kubeconfig, 0o600))
		kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
		start = time.Now()
		out, err := exec.Command(kubectl, "--kubeconfig", filepath.Join(dir, "kubeconfig"),
			"apply", "--server-side", "-f", filepath.Join(dir, "villages.yaml")).CombinedOutput()
		if err != nil {
			b.Fatalf("kubectl apply --server-side: %v\n%s", err, out)
		}
		applied := time.Since(start)
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
		b.ReportMetric(applyTook.Seconds(), "kubectl-apply-s")
		b.Logf("347 villages to Live 4/4: kubectl wuxiao villages import %v; kubectl apply --server-side %v (the apply itself %v)",
			importTook.Round(time.Millisecond), applyTook.Round(time.Millisecond), applied.Round(time.Millisecond))
	}
}
