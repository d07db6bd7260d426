// Command brokenrelease is the bad version of the e2e rollout test
// (hack/e2e/rollout_test.go): built and loaded under each service's name
// with a tag of its own, it stands in for a release that starts, passes
// its readiness probe and then answers every request with 500 Internal
// Server Error. Its requests are measured the way the services measure
// theirs (otelhttp through the OpenTelemetry Prometheus exporter, the
// health paths left out) and served on the metrics port, so the operator's
// rollout gate reads the same series from it as from a real service. As
// the init container (WUXIAO_MIGRATE_ONLY=true) it has nothing to migrate
// and exits at once.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/wuxiao/wuxiao/api/settings"
)

func main() {
	if os.Getenv(settings.EnvMigrateOnly) == "true" {
		return
	}
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/readyz", ok)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken release", http.StatusInternalServerError)
	})
	quiet := map[string]bool{"/healthz": true, "/readyz": true}
	app := otelhttp.NewHandler(mux, "brokenrelease", otelhttp.WithMeterProvider(mp),
		otelhttp.WithFilter(func(r *http.Request) bool { return !quiet[r.URL.Path] }))

	addr := func(env, def string) string {
		if v := os.Getenv(env); v != "" {
			return v
		}
		return def
	}
	servers := []*http.Server{
		{Addr: addr(settings.EnvHTTPAddr, settings.DefaultHTTPAddr), Handler: app, ReadHeaderTimeout: 5 * time.Second},
		{Addr: addr(settings.EnvMetricsAddr, ":9090"), Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second},
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errs <- s.ListenAndServe() }()
	}
	select {
	case err := <-errs:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
		}
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
}
