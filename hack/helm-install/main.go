// Command helm-install installs or upgrades a chart with the Helm v4 SDK, the
// way `helm upgrade --install --server-side --force-conflicts
// --take-ownership` would, without a helm binary: hack/district.sh uses it to
// run the operator in the local cluster from charts/wuxiao-operator.
//
//	go run ./hack/helm-install -kubeconfig FILE [-namespace wuxiao-system] [-release wuxiao-operator]
//	    [-chart charts/wuxiao-operator] [-f values.yaml] [-set k=v]... [-set-string k=v]...
//
// Idempotent: the first run installs, later runs upgrade (a new revision
// only when something changed is Helm's business; objects are applied
// server-side either way). Objects that exist without Helm's labels (CRDs
// applied with kubectl by hack/district.sh's host mode) are adopted. It does
// not wait for the Deployment: the caller does, with its own progress.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli"
	"helm.sh/helm/v4/pkg/kube"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"helm.sh/helm/v4/pkg/strvals"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	log.SetFlags(0)
	log.SetPrefix("helm-install: ")
	var (
		kubeconfig = flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
		namespace  = flag.String("namespace", "wuxiao-system", "release namespace (created when missing)")
		release    = flag.String("release", "wuxiao-operator", "release name")
		chartDir   = flag.String("chart", "charts/wuxiao-operator", "chart directory")
		valuesFile = flag.String("f", "", "values file (YAML), applied before -set")
		timeout    = flag.Duration("timeout", 3*time.Minute, "timeout of the install or upgrade")
		sets, strs multi
	)
	flag.Var(&sets, "set", "a value, as helm --set (repeatable)")
	flag.Var(&strs, "set-string", "a string value, as helm --set-string (repeatable)")
	flag.Parse()
	if *kubeconfig == "" {
		log.Fatal("no -kubeconfig and no KUBECONFIG")
	}

	vals := map[string]any{}
	if *valuesFile != "" {
		v, err := chartcommon.ReadValuesFile(*valuesFile)
		if err != nil {
			log.Fatalf("reading %s: %v", *valuesFile, err)
		}
		vals = v.AsMap()
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			log.Fatalf("-set %s: %v", s, err)
		}
	}
	for _, s := range strs {
		if err := strvals.ParseIntoString(s, vals); err != nil {
			log.Fatalf("-set-string %s: %v", s, err)
		}
	}
	ch, err := loader.Load(*chartDir)
	if err != nil {
		log.Fatalf("loading %s: %v", *chartDir, err)
	}

	settings := cli.New()
	settings.KubeConfig = *kubeconfig
	settings.SetNamespace(*namespace)
	cfg := action.NewConfiguration()
	if err := cfg.Init(settings.RESTClientGetter(), *namespace, "secret"); err != nil {
		log.Fatalf("helm configuration: %v", err)
	}

	start := time.Now()
	hist := action.NewHistory(cfg)
	hist.Max = 1
	_, err = hist.Run(*release)
	var (
		rel  any
		verb string
	)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		verb = "installed"
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace, in.CreateNamespace = *release, *namespace, true
		in.ServerSideApply, in.ForceConflicts, in.TakeOwnership = true, true, true
		in.WaitStrategy, in.Timeout = kube.HookOnlyStrategy, *timeout
		rel, err = in.Run(ch, vals)
	case err != nil:
		log.Fatalf("reading the history of %s: %v", *release, err)
	default:
		verb = "upgraded"
		up := action.NewUpgrade(cfg)
		up.Namespace = *namespace
		up.ServerSideApply, up.ForceConflicts, up.TakeOwnership = "true", true, true
		up.WaitStrategy, up.Timeout = kube.HookOnlyStrategy, *timeout
		rel, err = up.Run(*release, ch, vals)
	}
	if err != nil {
		log.Fatalf("%s: %v", *release, err)
	}
	r, ok := rel.(*releasev1.Release)
	if !ok {
		log.Fatalf("unexpected release type %T", rel)
	}
	fmt.Fprintf(os.Stderr, "helm-install: %s %s (chart %s-%s) in %s, revision %d, %s\n", verb, r.Name,
		r.Chart.Metadata.Name, r.Chart.Metadata.Version, r.Namespace, r.Version, time.Since(start).Round(time.Millisecond))
}
