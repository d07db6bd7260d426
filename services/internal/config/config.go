// Package config holds the settings every Wuxiao service shares, read from
// flags that default from the environment the operator sets (named in
// api/settings; see operator/internal/resources/town.go, serviceEnv), and validated at once so
// that a misconfigured pod fails with one message listing every problem.
//
// A service's main is a few lines:
//
//	func main() {
//		var base config.Base
//		cmd := config.NewRootCommand("workflow", "Runs listed powers as supervised processes", &base,
//			func(ctx context.Context) error { return run(ctx, &base) })
//		os.Exit(config.Execute(cmd))
//	}
//
// Service-specific flags are bound through base.Env() after NewRootCommand,
// and checked with base.AddCheck, so that their problems appear in the same
// error.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/api/settings"
)

// Environment variable names. The first group is set by the operator
// (api/settings, the contract of both).
const (
	EnvService         = settings.EnvService
	EnvDistrict        = settings.EnvDistrict
	EnvTown            = settings.EnvTown
	EnvTownCode        = settings.EnvTownCode
	EnvTownGroup       = settings.EnvTownGroup
	EnvCatalogFile     = settings.EnvCatalogFile
	EnvPortalBaseURL   = settings.EnvPortalBaseURL
	EnvDatabaseURL     = settings.EnvDatabaseURL
	EnvKafkaBrokers    = settings.EnvKafkaBrokers
	EnvKratosPublicURL = settings.EnvKratosPublicURL
	EnvOTLPEndpoint    = settings.EnvOTLPEndpoint
	EnvSamplerArg      = settings.EnvTracesSamplerArg
	EnvHTTPAddr        = settings.EnvHTTPAddr
	EnvMetricsAddr     = settings.EnvMetricsAddr
	EnvTrustedProxies  = settings.EnvTrustedProxies
	EnvMigrateOnly     = settings.EnvMigrateOnly
	EnvDatabaseAppRole = settings.EnvDatabaseAppRole

	EnvShutdownTimeout = "SHUTDOWN_TIMEOUT"
	EnvMaxBodyBytes    = "MAX_BODY_BYTES"
	EnvLogLevel        = "LOG_LEVEL"
)

// Defaults of the settings the operator does not set.
const (
	DefaultHTTPAddr        = settings.DefaultHTTPAddr
	DefaultMetricsAddr     = settings.DefaultMetricsAddr
	DefaultShutdownTimeout = 20 * time.Second
	DefaultMaxBodyBytes    = 1 << 20
	DefaultLogLevel        = "info"
	DefaultSamplingRatio   = 1.0
)

// Base is the configuration every service shares.
type Base struct {
	Service         string   // workflow, disclosure, complaint or inspection
	District        string   // District object name
	Town            string   // Town object name
	TownCode        string   // 12-digit administrative division code
	TownGroup       string   // the 片组 the town is in ("" none); see identity.WithTownGroup
	CatalogFile     string   // resolved power catalog (JSON)
	PortalBaseURL   string   // public portal address
	DatabaseURL     string   // PostgreSQL URL of the town's database
	KafkaBrokers    []string // host:port
	KratosPublicURL string
	HTTPAddr        string
	// MetricsAddr is the listener of /metrics alone, kept off HTTPAddr so
	// that neither the gateway nor the Internet reaches it (the
	// NetworkPolicy opens it to the monitoring namespace only).
	MetricsAddr     string
	ShutdownTimeout time.Duration // how long in-flight requests get to finish
	MaxBodyBytes    int64         // request body limit
	OTLPEndpoint    string        // OTLP/HTTP base URL; empty exports no traces
	SamplingRatio   float64       // share of new traces sampled, 0 to 1
	LogLevel        string        // debug, info, warn or error
	// TrustedProxies are the CIDRs of the reverse proxies (the ingress)
	// whose X-Forwarded-For is believed (see httpapi.ClientIP); none by
	// default, so a client cannot claim another address.
	TrustedProxies []string
	// MigrateOnly is the mode of the Deployments' init container: apply
	// the migrations with DatabaseURL (the town's migration role, which
	// owns the schemas), grant DatabaseAppRole the service's privileges
	// (services/internal/store, Grant) and exit. The serving container then
	// connects with DatabaseAppRole's URL and runs no DDL. Without it a
	// service migrates with its one URL at start-up (dev, tests).
	MigrateOnly     bool
	DatabaseAppRole string

	env    *Env
	checks []func(*Problems)
}

// BindFlags registers every setting on fs, each defaulting from its
// environment variable read through lookup (os.LookupEnv when nil).
func (b *Base) BindFlags(fs *pflag.FlagSet, lookup func(string) (string, bool)) {
	e := NewEnv(fs, lookup)
	b.env = e
	e.String(&b.Service, "service", EnvService, b.Service, "service name: workflow, disclosure, complaint or inspection")
	e.String(&b.District, "district", EnvDistrict, "", "District this instance serves")
	e.String(&b.Town, "town", EnvTown, "", "Town this instance serves")
	e.String(&b.TownCode, "town-code", EnvTownCode, "", "the town's 12-digit administrative division code")
	e.String(&b.TownGroup, "town-group", EnvTownGroup, "", "the district group (片组) the town is in (empty: none); district officials limited to another group are refused")
	e.String(&b.CatalogFile, "catalog-file", EnvCatalogFile, "", "path of the resolved power catalog (JSON)")
	e.String(&b.PortalBaseURL, "portal-base-url", EnvPortalBaseURL, "", "public portal address")
	e.String(&b.DatabaseURL, "database-url", EnvDatabaseURL, "", "PostgreSQL URL of the town's database")
	e.StringSlice(&b.KafkaBrokers, "kafka-brokers", EnvKafkaBrokers, nil, "Kafka bootstrap servers, host:port,...")
	e.String(&b.KratosPublicURL, "kratos-public-url", EnvKratosPublicURL, "", "Ory Kratos public API URL")
	e.String(&b.HTTPAddr, "http-addr", EnvHTTPAddr, DefaultHTTPAddr, "HTTP listen address")
	e.String(&b.MetricsAddr, "metrics-addr", EnvMetricsAddr, DefaultMetricsAddr, "listen address of /metrics (Prometheus only, not the public listener)")
	e.Duration(&b.ShutdownTimeout, "shutdown-timeout", EnvShutdownTimeout, DefaultShutdownTimeout, "time in-flight requests get to finish on shutdown")
	e.Int64(&b.MaxBodyBytes, "max-body-bytes", EnvMaxBodyBytes, DefaultMaxBodyBytes, "largest request body accepted, in bytes")
	e.String(&b.OTLPEndpoint, "otlp-endpoint", EnvOTLPEndpoint, "", "OTLP/HTTP endpoint for traces, e.g. http://collector:4318 (empty: no export)")
	e.Float64(&b.SamplingRatio, "trace-sampling-ratio", EnvSamplerArg, DefaultSamplingRatio, "share of new traces sampled, 0 to 1")
	e.String(&b.LogLevel, "log-level", EnvLogLevel, DefaultLogLevel, "log level: debug, info, warn or error")
	e.StringSlice(&b.TrustedProxies, "trusted-proxies", EnvTrustedProxies, nil,
		"comma-separated CIDRs of the reverse proxies whose X-Forwarded-For is believed, e.g. 10.0.0.0/8 (default: none)")
	e.Bool(&b.MigrateOnly, "migrate-only", EnvMigrateOnly, false,
		"apply the database migrations with --database-url (the migration role), grant --database-app-role its privileges, and exit")
	e.String(&b.DatabaseAppRole, "database-app-role", EnvDatabaseAppRole, "",
		"with --migrate-only: the PostgreSQL role the serving container connects as, granted exactly what the service needs")
}

// Env is the binder BindFlags used; services bind their own flags with it so
// that unparsable environment values are reported by Validate.
func (b *Base) Env() *Env { return b.env }

// AddCheck registers a service-specific validation run by Validate.
func (b *Base) AddCheck(check func(*Problems)) { b.checks = append(b.checks, check) }

// ServiceName is the OpenTelemetry service name, as the operator sets
// OTEL_SERVICE_NAME: "wuxiao-" + Service.
func (b *Base) ServiceName() string { return "wuxiao-" + b.Service }

// SlogLevel is LogLevel parsed (info when it does not parse; Validate
// reports that).
func (b *Base) SlogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(b.LogLevel)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// Logger returns the JSON logger services log with, on standard output,
// every line carrying the service and town.
func (b *Base) Logger() *slog.Logger {
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: b.SlogLevel()})
	return slog.New(h).With("service", b.Service, "town", b.Town)
}

// Problems collects configuration problems, each naming the flag and the
// environment variable and saying what a valid value looks like.
type Problems []string

// Addf records a problem with the setting bound to flag and env.
func (p *Problems) Addf(flag, env, format string, args ...any) {
	*p = append(*p, fmt.Sprintf("--%s / %s: ", flag, env)+fmt.Sprintf(format, args...))
}

// ValidationError lists every configuration problem found.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	noun := "problems"
	if len(e.Problems) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("invalid configuration (%d %s):\n  %s", len(e.Problems), noun, strings.Join(e.Problems, "\n  "))
}

var (
	// RFC 1123 label, as Kubernetes object names of Towns and Districts are.
	namePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	rolePattern = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,62}$`)
)

// Validate checks every setting and returns a *ValidationError listing all
// problems, or nil.
func (b *Base) Validate() error {
	var p Problems
	if b.env != nil {
		p = append(p, b.env.Problems()...)
	}
	b.validate(&p)
	for _, check := range b.checks {
		check(&p)
	}
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

func (b *Base) validate(p *Problems) {
	checkName(p, "service", EnvService, b.Service, "workflow")
	checkName(p, "district", EnvDistrict, b.District, "fenghua")
	checkName(p, "town", EnvTown, b.Town, "xikou")
	if b.TownGroup != "" {
		checkName(p, "town-group", EnvTownGroup, b.TownGroup, "pian-1")
	}

	switch code := b.TownCode; {
	case code == "":
		p.Addf("town-code", EnvTownCode, "required: the town's 12-digit code, e.g. 330213100000")
	case !divcode.Valid(code):
		p.Addf("town-code", EnvTownCode, "%q is not a 12-digit code, e.g. 330213100000", code)
	case !strings.HasSuffix(code, "000") || strings.HasSuffix(code, "000000"):
		p.Addf("town-code", EnvTownCode, "%q is not a town's code: a town has 9 significant digits followed by 000, e.g. 330213100000", code)
	}

	if b.CatalogFile == "" {
		p.Addf("catalog-file", EnvCatalogFile, "required: path of the power catalog JSON, e.g. /etc/wuxiao/catalog/catalog.json")
	} else if fi, err := os.Stat(b.CatalogFile); err != nil {
		p.Addf("catalog-file", EnvCatalogFile, "%q cannot be read (%v); give the path of the power catalog JSON", b.CatalogFile, pathErr(err))
	} else if fi.IsDir() {
		p.Addf("catalog-file", EnvCatalogFile, "%q is a directory; give the path of the power catalog JSON file", b.CatalogFile)
	}

	checkHTTPURL(p, "portal-base-url", EnvPortalBaseURL, b.PortalBaseURL, true, "https://portal.fenghua.example.cn")
	checkHTTPURL(p, "kratos-public-url", EnvKratosPublicURL, b.KratosPublicURL, true, "http://kratos-public.wuxiao-system:4433")
	checkHTTPURL(p, "otlp-endpoint", EnvOTLPEndpoint, b.OTLPEndpoint, false, "http://otel-collector.observability:4318")

	const dbExample = "postgres://user:password@host:5432/town?sslmode=require" //nolint:gosec // a placeholder shown in the help text, not a credential
	if b.DatabaseURL == "" {
		p.Addf("database-url", EnvDatabaseURL, "required: a PostgreSQL URL, e.g. %s", dbExample)
	} else if u, err := url.Parse(b.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") ||
		(u.Host == "" && u.Query().Get("host") == "") { // ?host= names a Unix socket directory
		// Never echo the value: it usually holds a password.
		p.Addf("database-url", EnvDatabaseURL, "is not a postgres:// URL with a host, e.g. %s", dbExample)
	}

	if len(b.KafkaBrokers) == 0 {
		p.Addf("kafka-brokers", EnvKafkaBrokers, "required: comma-separated host:port, e.g. kafka-0.kafka:9092,kafka-1.kafka:9092")
	}
	for _, br := range b.KafkaBrokers {
		if !validHostPort(br, false) {
			p.Addf("kafka-brokers", EnvKafkaBrokers, "%q is not host:port, e.g. kafka-0.kafka:9092", br)
		}
	}

	if !validHostPort(b.HTTPAddr, true) {
		p.Addf("http-addr", EnvHTTPAddr, "%q is not a listen address [host]:port, e.g. :8080 or 127.0.0.1:8080", b.HTTPAddr)
	}
	if !validHostPort(b.MetricsAddr, true) {
		p.Addf("metrics-addr", EnvMetricsAddr, "%q is not a listen address [host]:port, e.g. :9090", b.MetricsAddr)
	} else if b.MetricsAddr == b.HTTPAddr {
		p.Addf("metrics-addr", EnvMetricsAddr, "%q is also the HTTP listen address; /metrics needs a port of its own", b.MetricsAddr)
	}
	if b.ShutdownTimeout <= 0 {
		p.Addf("shutdown-timeout", EnvShutdownTimeout, "%s is not a positive duration, e.g. 20s", b.ShutdownTimeout)
	}
	if b.MaxBodyBytes <= 0 {
		p.Addf("max-body-bytes", EnvMaxBodyBytes, "%d is not a positive number of bytes, e.g. 1048576", b.MaxBodyBytes)
	}
	if b.SamplingRatio < 0 || b.SamplingRatio > 1 {
		p.Addf("trace-sampling-ratio", EnvSamplerArg, "%v is not between 0 and 1, e.g. 0.25", b.SamplingRatio)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(b.LogLevel)); err != nil {
		p.Addf("log-level", EnvLogLevel, "%q is not a log level: debug, info, warn or error", b.LogLevel)
	}
	if b.DatabaseAppRole != "" && (!b.MigrateOnly || !rolePattern.MatchString(b.DatabaseAppRole)) {
		p.Addf("database-app-role", EnvDatabaseAppRole, "%q: give a role name (lower-case letters, digits, '_' and '-', at most 63) together with --migrate-only", b.DatabaseAppRole)
	}
	for _, c := range b.TrustedProxies {
		if _, err := ParseProxyCIDR(c); err != nil {
			p.Addf("trusted-proxies", EnvTrustedProxies, "%v", err)
		}
	}
}

// ParseProxyCIDR parses one entry of TrustedProxies: a CIDR such as
// 10.0.0.0/8 or fd00::/8, or a single address (a /32 or /128). A CIDR with
// host bits set (10.1.2.3/8) is refused rather than widened silently.
func ParseProxyCIDR(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR, e.g. 10.0.0.0/8 or fd00::/8", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has bits set after the prefix length; did you mean %s?", s, p.Masked())
	}
	if p.Addr().Is4In6() {
		// 4-in-6 peers are unmapped before matching: match their IPv4 form.
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q mixes IPv4-mapped and other IPv6 addresses; list IPv4 ranges as IPv4", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// TrustedProxyPrefixes is TrustedProxies parsed; entries that do not parse
// (Validate reports them) are left out, so they trust nothing.
func (b *Base) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, c := range b.TrustedProxies {
		if p, err := ParseProxyCIDR(c); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func checkName(p *Problems, flag, env, v, example string) {
	switch {
	case v == "":
		p.Addf(flag, env, "required, e.g. %s", example)
	case len(v) > 63 || !namePattern.MatchString(v):
		p.Addf(flag, env, "%q is not a name of lower-case letters, digits and '-' (at most 63), e.g. %s", v, example)
	}
}

func checkHTTPURL(p *Problems, flag, env, v string, required bool, example string) {
	if v == "" {
		if required {
			p.Addf(flag, env, "required: an http(s) URL, e.g. %s", example)
		}
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Addf(flag, env, "%q is not an http(s) URL with a host, e.g. %s", v, example)
	}
}

// validHostPort accepts host:port with a port from 1 to 65535; emptyHost
// allows ":8080" (all interfaces).
func validHostPort(v string, emptyHost bool) bool {
	host, port, err := net.SplitHostPort(v)
	if err != nil || (host == "" && !emptyHost) {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// pathErr drops the path os.Stat repeats, keeping "no such file or directory".
func pathErr(err error) error {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
