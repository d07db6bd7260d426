// Command gateway runs the district gateway: the one way in to a district's
// towns for villagers (portals, report pages, follow-ups, Open311) and for
// staff (sign-in, console). It finds towns and their pods by watching the
// cluster's Town objects and EndpointSlices.
//
// Configuration: flags, each defaulting from the environment the operator
// sets (api/gateway); --help lists everything. Outside a cluster give
// --kubeconfig:
//
//	go run ./services/gateway/cmd/gateway --kubeconfig FILE --district fenghua \
//	    --http-addr 127.0.0.1:8080 --kratos-public-url http://127.0.0.1:24433
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	gatewayapi "github.com/wuxiao/wuxiao/api/gateway"
	"github.com/wuxiao/wuxiao/services/gateway"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// settings are the gateway's configuration.
type settings struct {
	District        string
	DistrictName    string
	KratosPublicURL string
	PublicHosts     []string
	StaffHosts      []string
	TrustedProxies  []string
	HTTPAddr        string
	MetricsAddr     string
	ShutdownTimeout time.Duration
	MaxBodyBytes    int64
	OTLPEndpoint    string
	SamplingRatio   float64
	LogLevel        string
	Kubeconfig      string
	TownGroups      string // JSON, group → towns (gatewayapi.EnvTownGroups)

	env *config.Env
	// inCluster reports whether the process runs in a pod (where the
	// API server is found from the service account).
	inCluster func() bool
}

func main() {
	cmd, _ := newCommand(nil)
	os.Exit(config.Execute(cmd))
}

// newCommand returns the gateway's command and the settings it fills,
// reading the environment through lookup (os.LookupEnv when nil).
func newCommand(lookup func(string) (string, bool)) (*cobra.Command, *settings) {
	s := &settings{inCluster: func() bool { return os.Getenv("KUBERNETES_SERVICE_HOST") != "" }}
	cmd := &cobra.Command{
		Use:           "gateway",
		Short:         "Routes villagers and staff to their towns' services",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return &config.UsageError{Err: err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.validate(); err != nil {
				return &config.UsageError{Err: err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); stop() }() // a second signal kills at once
			return run(ctx, s)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &config.UsageError{Err: err} })
	s.bind(config.NewEnv(cmd.Flags(), lookup))
	cmd.Flags().SortFlags = false
	return cmd, s
}

func (s *settings) bind(e *config.Env) {
	s.env = e
	e.String(&s.District, "district", gatewayapi.EnvDistrict, "", "the District object's name; only its towns are routed to")
	e.String(&s.DistrictName, "district-name", gatewayapi.EnvDistrictName, "", "the district's name as people know it, e.g. 奉化区 (default: --district)")
	e.String(&s.KratosPublicURL, "kratos-public-url", gatewayapi.EnvKratosPublicURL, "", "Ory Kratos public API as the gateway reaches it")
	e.StringSlice(&s.PublicHosts, "public-hosts", gatewayapi.EnvPublicHosts, nil, "host names the public pages answer on, comma-separated (default: every host)")
	e.StringSlice(&s.StaffHosts, "staff-hosts", gatewayapi.EnvStaffHosts, nil, "host names sign-in and the console answer on, comma-separated (default: every host)")
	e.StringSlice(&s.TrustedProxies, "trusted-proxies", gatewayapi.EnvTrustedProxies, nil, "CIDRs of the reverse proxies whose X-Forwarded-For is believed, e.g. 10.0.0.0/8 (default: none)")
	e.String(&s.HTTPAddr, "http-addr", gatewayapi.EnvHTTPAddr, ":"+strconv.Itoa(gatewayapi.HTTPPort), "HTTP listen address")
	e.String(&s.MetricsAddr, "metrics-addr", gatewayapi.EnvMetricsAddr, ":"+strconv.Itoa(gatewayapi.MetricsPort), "listen address of /metrics (Prometheus only; the HTTP listener does not serve it)")
	e.Duration(&s.ShutdownTimeout, "shutdown-timeout", config.EnvShutdownTimeout, config.DefaultShutdownTimeout, "time in-flight requests get to finish on shutdown")
	e.Int64(&s.MaxBodyBytes, "max-body-bytes", config.EnvMaxBodyBytes, config.DefaultMaxBodyBytes,
		fmt.Sprintf("largest request body of the gateway's own pages, in bytes (requests passed to a town may be up to %d)", gateway.ProxyMaxBodyBytes))
	e.String(&s.OTLPEndpoint, "otlp-endpoint", gatewayapi.EnvOTLPEndpoint, "", "OTLP/HTTP endpoint for traces, e.g. http://collector:4318 (empty: no export)")
	e.Float64(&s.SamplingRatio, "trace-sampling-ratio", config.EnvSamplerArg, config.DefaultSamplingRatio, "share of new traces sampled, 0 to 1")
	e.String(&s.LogLevel, "log-level", config.EnvLogLevel, config.DefaultLogLevel, "log level: debug, info, warn or error")
	e.String(&s.Kubeconfig, "kubeconfig", "KUBECONFIG", "", "kubeconfig of the cluster (default: the pod's service account)")
	e.String(&s.TownGroups, "town-groups", gatewayapi.EnvTownGroups, "", `the district's groups (片组) as JSON, group → towns, e.g. {"pian-1":["xikou","jinping"]} (default: none)`)
}

var (
	namePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	hostPattern = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// validate checks every setting and reports all problems at once.
func (s *settings) validate() error {
	var p config.Problems
	p = append(p, s.env.Problems()...)
	switch {
	case s.District == "":
		p.Addf("district", gatewayapi.EnvDistrict, "required: the District object's name, e.g. fenghua")
	case len(s.District) > 63 || !namePattern.MatchString(s.District):
		p.Addf("district", gatewayapi.EnvDistrict, "%q is not a name of lower-case letters, digits and '-' (at most 63), e.g. fenghua", s.District)
	}
	if u, err := url.Parse(s.KratosPublicURL); s.KratosPublicURL == "" {
		p.Addf("kratos-public-url", gatewayapi.EnvKratosPublicURL, "required: an http(s) URL, e.g. http://kratos-public.wuxiao-system:4433")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Addf("kratos-public-url", gatewayapi.EnvKratosPublicURL, "%q is not an http(s) URL with a host, e.g. http://kratos-public.wuxiao-system:4433", s.KratosPublicURL)
	}
	if s.OTLPEndpoint != "" {
		if u, err := url.Parse(s.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf("otlp-endpoint", gatewayapi.EnvOTLPEndpoint, "%q is not an http(s) URL with a host, e.g. http://otel-collector.observability:4318", s.OTLPEndpoint)
		}
	}
	for _, hs := range []struct {
		flag, env string
		hosts     []string
	}{{"public-hosts", gatewayapi.EnvPublicHosts, s.PublicHosts}, {"staff-hosts", gatewayapi.EnvStaffHosts, s.StaffHosts}} {
		for _, h := range hs.hosts {
			if len(h) > 253 || !hostPattern.MatchString(h) {
				p.Addf(hs.flag, hs.env, "%q is not a lower-case host name without port, e.g. jiandu.fenghua.gov.cn", h)
			}
		}
	}
	for _, c := range s.TrustedProxies {
		if _, err := config.ParseProxyCIDR(c); err != nil {
			p.Addf("trusted-proxies", gatewayapi.EnvTrustedProxies, "%v", err)
		}
	}
	if _, port, err := net.SplitHostPort(s.HTTPAddr); err != nil || !validPort(port) {
		p.Addf("http-addr", gatewayapi.EnvHTTPAddr, "%q is not a listen address [host]:port, e.g. :8080 or 127.0.0.1:8080", s.HTTPAddr)
	}
	if _, port, err := net.SplitHostPort(s.MetricsAddr); err != nil || !validPort(port) {
		p.Addf("metrics-addr", gatewayapi.EnvMetricsAddr, "%q is not a listen address [host]:port, e.g. :9090", s.MetricsAddr)
	} else if s.MetricsAddr == s.HTTPAddr {
		p.Addf("metrics-addr", gatewayapi.EnvMetricsAddr, "%q is also the HTTP listen address; /metrics needs a port of its own", s.MetricsAddr)
	}
	if s.ShutdownTimeout <= 0 {
		p.Addf("shutdown-timeout", config.EnvShutdownTimeout, "%s is not a positive duration, e.g. 20s", s.ShutdownTimeout)
	}
	if s.MaxBodyBytes <= 0 {
		p.Addf("max-body-bytes", config.EnvMaxBodyBytes, "%d is not a positive number of bytes, e.g. 1048576", s.MaxBodyBytes)
	}
	if s.SamplingRatio < 0 || s.SamplingRatio > 1 {
		p.Addf("trace-sampling-ratio", config.EnvSamplerArg, "%v is not between 0 and 1, e.g. 0.25", s.SamplingRatio)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s.LogLevel)); err != nil {
		p.Addf("log-level", config.EnvLogLevel, "%q is not a log level: debug, info, warn or error", s.LogLevel)
	}
	switch {
	case s.Kubeconfig != "":
		if fi, err := os.Stat(s.Kubeconfig); err != nil {
			p.Addf("kubeconfig", "KUBECONFIG", "%q cannot be read (%v)", s.Kubeconfig, errors.Unwrap(err))
		} else if fi.IsDir() {
			p.Addf("kubeconfig", "KUBECONFIG", "%q is a directory; give the kubeconfig file", s.Kubeconfig)
		}
	case !s.inCluster():
		p.Addf("kubeconfig", "KUBECONFIG", "required outside a cluster (no KUBERNETES_SERVICE_HOST): the kubeconfig of the district's cluster")
	}
	if _, err := gateway.ParseTownGroups(s.TownGroups); err != nil {
		p.Addf("town-groups", gatewayapi.EnvTownGroups, "%v", err)
	}
	if len(p) == 0 {
		return nil
	}
	return &config.ValidationError{Problems: p}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func (s *settings) logger() *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s.LogLevel))
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: l})
	return slog.New(h).With("service", "gateway", "district", s.District)
}

func (s *settings) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if s.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("the cluster's API server: %w", err)
	}
	cfg.UserAgent = "wuxiao-gateway"
	return cfg, nil
}

// run serves until ctx ends: the routing table from the cluster's watches,
// and the HTTP server (ready once the table is built).
func run(ctx context.Context, s *settings) error {
	log := s.logger()
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "wuxiao-gateway", District: s.District,
		OTLPEndpoint: s.OTLPEndpoint, SamplingRatio: s.SamplingRatio, Logger: log})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()
	cfg, err := s.restConfig()
	if err != nil {
		return err
	}
	disc, err := gateway.NewDiscovery(cfg, s.District, log)
	if err != nil {
		return err
	}
	name := s.DistrictName
	if name == "" {
		name = s.District
	}
	groups, _ := gateway.ParseTownGroups(s.TownGroups) // validated
	gw, err := gateway.New(gateway.Config{District: s.District, DistrictName: name, KratosPublicURL: s.KratosPublicURL,
		PublicHosts: s.PublicHosts, StaffHosts: s.StaffHosts, TownGroups: groups}, disc, log)
	if err != nil {
		return err
	}
	srv := httpapi.New(config.Base{Service: "gateway", District: s.District, HTTPAddr: s.HTTPAddr,
		MetricsAddr: s.MetricsAddr, ShutdownTimeout: s.ShutdownTimeout, MaxBodyBytes: s.MaxBodyBytes,
		TrustedProxies: s.TrustedProxies}, log, tel)
	srv.AddReadinessCheck("towns", disc.Ready)
	gw.Register(srv)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return disc.Run(ctx) })
	g.Go(func() error { return srv.Run(ctx) })
	return g.Wait()
}
