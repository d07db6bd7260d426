// Command wuxiao-operator runs the Wuxiao controllers: it turns District, Town,
// Village and PowerCatalog resources into each town's namespace and services.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/wuxiao/wuxiao/operator/internal/controller"
)

func main() {
	var (
		metricsAddr      string
		probeAddr        string
		leaderElect      bool
		leaderElectionNS string
		archiveNamespace string
		qps              float64
		burst            int
		ackTimeout       time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints; 0 disables them")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles at a time")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's namespace)")
	flag.StringVar(&archiveNamespace, "archive-namespace", os.Getenv("POD_NAMESPACE"), "namespace that keeps the archive records of deleted villages (default: $POD_NAMESPACE)")
	flag.Float64Var(&qps, "kube-api-qps", controller.DefaultQPS, "requests per second to the API server (client-side limit)")
	flag.IntVar(&burst, "kube-api-burst", controller.DefaultBurst, "burst of requests to the API server above --kube-api-qps")
	flag.DurationVar(&ackTimeout, "archive-ack-timeout", controller.DefaultArchiveAckTimeout, "how long a deleted village waits for the town's services to acknowledge its archival before it is archived anyway")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	setupLog := ctrl.Log.WithName("setup")

	if archiveNamespace == "" {
		fail(setupLog.Error, fmt.Errorf("--archive-namespace (or POD_NAMESPACE) is required: deleted villages are archived there"))
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(setupLog.Error, fmt.Errorf("no Kubernetes configuration (in-cluster, --kubeconfig or KUBECONFIG): %w", err))
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  controller.NewScheme(),
		Cache:                   controller.CacheOptions(),
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "wuxiao-operator.wuxiao.io",
		LeaderElectionNamespace: leaderElectionNS,
		// A new leader starts at once when the old one shuts down cleanly.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		fail(setupLog.Error, fmt.Errorf("creating the manager: %w", err))
	}
	if err := controller.Setup(mgr, controller.Options{ArchiveNamespace: archiveNamespace, ArchiveAckTimeout: ackTimeout}); err != nil {
		fail(setupLog.Error, fmt.Errorf("setting up controllers: %w", err))
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		fail(setupLog.Error, err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		fail(setupLog.Error, err)
	}
	setupLog.Info("starting manager", "archiveNamespace", archiveNamespace, "leaderElection", leaderElect)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fail(setupLog.Error, fmt.Errorf("manager stopped: %w", err))
	}
}

func fail(logErr func(error, string, ...any), err error) {
	logErr(err, "cannot run")
	os.Exit(1)
}
