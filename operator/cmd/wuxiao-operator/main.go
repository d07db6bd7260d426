// Command wuxiao-operator runs the Wuxiao controllers: it turns District, Town,
// Village and PowerCatalog resources into each town's namespace and services.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
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
		pprofAddr        string
		leaderElect      bool
		leaderElectionNS string
		archiveNamespace string
		operatorNS       string
		qps              float64
		burst            int
		ackTimeout       time.Duration
		otlpEndpoint     string
		samplingRatio    float64
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints; 0 disables them")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "address of the Go profiler's /debug/pprof endpoints (heap, CPU), e.g. 127.0.0.1:6060; empty or 0 disables them (the default: they are for measuring, never expose them)")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles at a time")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's namespace)")
	flag.StringVar(&archiveNamespace, "archive-namespace", os.Getenv("POD_NAMESPACE"), "namespace that keeps the archive records of deleted villages (default: $POD_NAMESPACE)")
	flag.StringVar(&operatorNS, "operator-namespace", os.Getenv("POD_NAMESPACE"), "the operator's own namespace when it runs in the cluster: the towns' NetworkPolicies admit it to the services' metrics port, which the rollout gate reads (default: $POD_NAMESPACE; empty when it runs outside the cluster)")
	flag.Float64Var(&qps, "kube-api-qps", controller.DefaultQPS, "requests per second to the API server per kind (client-side limit); -1, the default, sets none and leaves limiting to the API server's priority and fairness")
	flag.IntVar(&burst, "kube-api-burst", controller.DefaultBurst, "burst of requests to the API server above --kube-api-qps (when that is positive)")
	flag.DurationVar(&ackTimeout, "archive-ack-timeout", controller.DefaultArchiveAckTimeout, "how long a deleted village waits for the town's services to acknowledge its archival before it is archived anyway")
	flag.StringVar(&otlpEndpoint, "otlp-endpoint", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTLP/HTTP base URL of the OpenTelemetry Collector receiving the operator's traces, e.g. http://otel-collector.monitoring:4318 (default: $OTEL_EXPORTER_OTLP_ENDPOINT; empty exports none)")
	defaultRatio, ratioErr := envRatio("OTEL_TRACES_SAMPLER_ARG", 1)
	flag.Float64Var(&samplingRatio, "trace-sampling-ratio", defaultRatio, "share of reconciles traced, 0 to 1 (default: $OTEL_TRACES_SAMPLER_ARG, else 1); acknowledgements follow their event's decision")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	setupLog := ctrl.Log.WithName("setup")

	if archiveNamespace == "" {
		fail(setupLog.Error, fmt.Errorf("--archive-namespace (or POD_NAMESPACE) is required: deleted villages are archived there"))
	}
	if ratioErr != nil && !flagSet("trace-sampling-ratio") {
		fail(setupLog.Error, ratioErr)
	}
	stopTracing, err := controller.SetupTracing(context.Background(), controller.TracingOptions{OTLPEndpoint: otlpEndpoint, SamplingRatio: samplingRatio})
	if err != nil {
		fail(setupLog.Error, fmt.Errorf("tracing: %w", err))
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(ctx); err != nil {
			setupLog.Error(err, "flushing traces")
		}
	}()
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
		PprofBindAddress:        pprofAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "wuxiao-operator.wuxiao.io",
		LeaderElectionNamespace: leaderElectionNS,
		// A new leader starts at once when the old one shuts down cleanly.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		fail(setupLog.Error, fmt.Errorf("creating the manager: %w", err))
	}
	if err := controller.Setup(mgr, controller.Options{ArchiveNamespace: archiveNamespace, ArchiveAckTimeout: ackTimeout,
		OperatorNamespace: operatorNS}); err != nil {
		fail(setupLog.Error, fmt.Errorf("setting up controllers: %w", err))
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		fail(setupLog.Error, err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		fail(setupLog.Error, err)
	}
	setupLog.Info("starting manager", "archiveNamespace", archiveNamespace, "leaderElection", leaderElect,
		"otlpEndpoint", otlpEndpoint, "traceSamplingRatio", samplingRatio)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fail(setupLog.Error, fmt.Errorf("manager stopped: %w", err))
	}
}

// envRatio is the number in the environment variable name, else def.
func envRatio(name string, def float64) (float64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return def, fmt.Errorf("%s=%q is not a number between 0 and 1, e.g. 0.25", name, v)
	}
	return f, nil
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) (set bool) {
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func fail(logErr func(error, string, ...any), err error) {
	logErr(err, "cannot run")
	os.Exit(1)
}
