package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// load binds a fresh Base to env and parses args, as a binary would.
func load(t *testing.T, env map[string]string, args ...string) *Base {
	t.Helper()
	var b Base
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	b.BindFlags(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return &b
}

func catalogFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(p, []byte(`{"items":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// validEnv is what the operator sets for a town, plus the optional settings.
func validEnv(t *testing.T) map[string]string {
	return map[string]string{
		EnvService:         "workflow",
		EnvDistrict:        "fenghua",
		EnvTown:            "xikou",
		EnvTownCode:        "330213100000",
		EnvCatalogFile:     catalogFile(t),
		EnvPortalBaseURL:   "https://portal.example.cn",
		EnvDatabaseURL:     "postgres://wuxiao:secret@db.example:5432/xikou?sslmode=disable",
		EnvKafkaBrokers:    "kafka-0:9092, kafka-1:9092,",
		EnvKratosPublicURL: "http://kratos:4433",
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want func(b *Base) (got, want any)
	}{
		{"defaults", map[string]string{}, nil, func(b *Base) (any, any) {
			return []any{b.HTTPAddr, b.ShutdownTimeout, b.MaxBodyBytes, b.LogLevel, b.SamplingRatio, b.KafkaBrokers == nil},
				[]any{":8080", 20 * time.Second, int64(1 << 20), "info", 1.0, true}
		}},
		{"environment", map[string]string{
			EnvTown: "xikou", EnvHTTPAddr: "127.0.0.1:9000", EnvShutdownTimeout: "5s",
			EnvMaxBodyBytes: "2048", EnvLogLevel: "debug", EnvSamplerArg: "0.25", EnvOTLPEndpoint: "http://otel:4318",
		}, nil, func(b *Base) (any, any) {
			return []any{b.Town, b.HTTPAddr, b.ShutdownTimeout, b.MaxBodyBytes, b.LogLevel, b.SamplingRatio, b.OTLPEndpoint},
				[]any{"xikou", "127.0.0.1:9000", 5 * time.Second, int64(2048), "debug", 0.25, "http://otel:4318"}
		}},
		{"brokers are split and trimmed", map[string]string{EnvKafkaBrokers: " a:1 ,, b:2 ,"}, nil, func(b *Base) (any, any) {
			return b.KafkaBrokers, []string{"a:1", "b:2"}
		}},
		{"blank variable counts as unset", map[string]string{EnvHTTPAddr: "  "}, nil, func(b *Base) (any, any) {
			return b.HTTPAddr, ":8080"
		}},
		{"flags override environment", map[string]string{
			EnvTown: "xikou", EnvTownCode: "330213100000", EnvKafkaBrokers: "a:1", EnvShutdownTimeout: "5s", EnvDatabaseURL: "postgres://env/db",
		}, []string{"--town", "dayan", "--town-code=330213200000", "--kafka-brokers", "c:3,d:4", "--shutdown-timeout", "7s", "--database-url", "postgres://flag/db"},
			func(b *Base) (any, any) {
				return []any{b.Town, b.TownCode, b.KafkaBrokers, b.ShutdownTimeout, b.DatabaseURL},
					[]any{"dayan", "330213200000", []string{"c:3", "d:4"}, 7 * time.Second, "postgres://flag/db"}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := tt.want(load(t, tt.env, tt.args...))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestEnvParseProblems(t *testing.T) {
	env := validEnv(t)
	env[EnvShutdownTimeout] = "soon"
	env[EnvMaxBodyBytes] = "1MB"
	env[EnvSamplerArg] = "half"

	err := load(t, env).Validate()
	want := []string{
		`--shutdown-timeout / SHUTDOWN_TIMEOUT: "soon" is not a duration, e.g. 20s or 1m30s`,
		`--max-body-bytes / MAX_BODY_BYTES: "1MB" is not a whole number, e.g. 1048576`,
		`--trace-sampling-ratio / OTEL_TRACES_SAMPLER_ARG: "half" is not a decimal number, e.g. 0.25`,
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || !reflect.DeepEqual(ve.Problems, want) {
		t.Fatalf("Validate() = %v\nwant problems %q", err, want)
	}

	// A flag given on the command line replaces the bad environment value.
	b := load(t, env, "--shutdown-timeout=3s", "--max-body-bytes=10", "--trace-sampling-ratio=0.5")
	if err := b.Validate(); err != nil {
		t.Fatalf("flags should override unparsable environment values: %v", err)
	}
	if b.ShutdownTimeout != 3*time.Second || b.MaxBodyBytes != 10 || b.SamplingRatio != 0.5 {
		t.Errorf("got %v %v %v", b.ShutdownTimeout, b.MaxBodyBytes, b.SamplingRatio)
	}
}

func TestValidate(t *testing.T) {
	if err := load(t, validEnv(t)).Validate(); err != nil {
		t.Fatalf("valid configuration rejected: %v", err)
	}
	tests := []struct {
		name string
		set  map[string]string // environment changes; "" unsets
		want []string
	}{
		{"service required", map[string]string{EnvService: ""},
			[]string{"--service / WUXIAO_SERVICE: required, e.g. workflow"}},
		{"district is a name", map[string]string{EnvDistrict: "Feng Hua"},
			[]string{`--district / WUXIAO_DISTRICT: "Feng Hua" is not a name of lower-case letters, digits and '-' (at most 63), e.g. fenghua`}},
		{"town required", map[string]string{EnvTown: ""},
			[]string{"--town / WUXIAO_TOWN: required, e.g. xikou"}},
		{"town code required", map[string]string{EnvTownCode: ""},
			[]string{"--town-code / WUXIAO_TOWN_CODE: required: the town's 12-digit code, e.g. 330213100000"}},
		{"town code digits", map[string]string{EnvTownCode: "33021"},
			[]string{`--town-code / WUXIAO_TOWN_CODE: "33021" is not a 12-digit code, e.g. 330213100000`}},
		{"town code is a village's", map[string]string{EnvTownCode: "330213100201"},
			[]string{`--town-code / WUXIAO_TOWN_CODE: "330213100201" is not a town's code: a town has 9 significant digits followed by 000, e.g. 330213100000`}},
		{"town code is a district's", map[string]string{EnvTownCode: "330213000000"},
			[]string{`--town-code / WUXIAO_TOWN_CODE: "330213000000" is not a town's code: a town has 9 significant digits followed by 000, e.g. 330213100000`}},
		{"town group is a name", map[string]string{EnvTownGroup: "第一片组"},
			[]string{`--town-group / WUXIAO_TOWN_GROUP: "第一片组" is not a name of lower-case letters, digits and '-' (at most 63), e.g. pian-1`}},
		{"catalog required", map[string]string{EnvCatalogFile: ""},
			[]string{"--catalog-file / WUXIAO_CATALOG_FILE: required: path of the power catalog JSON, e.g. /etc/wuxiao/catalog/catalog.json"}},
		{"catalog missing", map[string]string{EnvCatalogFile: "/nonexistent/catalog.json"},
			[]string{`--catalog-file / WUXIAO_CATALOG_FILE: "/nonexistent/catalog.json" cannot be read (no such file or directory); give the path of the power catalog JSON`}},
		{"catalog is a directory", map[string]string{EnvCatalogFile: os.TempDir()},
			[]string{`--catalog-file / WUXIAO_CATALOG_FILE: "` + os.TempDir() + `" is a directory; give the path of the power catalog JSON file`}},
		{"portal URL scheme", map[string]string{EnvPortalBaseURL: "portal.example.cn"},
			[]string{`--portal-base-url / WUXIAO_PORTAL_BASE_URL: "portal.example.cn" is not an http(s) URL with a host, e.g. https://portal.fenghua.example.cn`}},
		{"portal URL required", map[string]string{EnvPortalBaseURL: ""},
			[]string{"--portal-base-url / WUXIAO_PORTAL_BASE_URL: required: an http(s) URL, e.g. https://portal.fenghua.example.cn"}},
		{"kratos public URL does not parse", map[string]string{EnvKratosPublicURL: "http://kratos:44 33"},
			[]string{`--kratos-public-url / KRATOS_PUBLIC_URL: "http://kratos:44 33" is not an http(s) URL with a host, e.g. http://kratos-public.wuxiao-system:4433`}},
		{"OTLP endpoint without host", map[string]string{EnvOTLPEndpoint: "http:///v1/traces"},
			[]string{`--otlp-endpoint / OTEL_EXPORTER_OTLP_ENDPOINT: "http:///v1/traces" is not an http(s) URL with a host, e.g. http://otel-collector.observability:4318`}},
		{"database URL required", map[string]string{EnvDatabaseURL: ""},
			[]string{"--database-url / DATABASE_URL: required: a PostgreSQL URL, e.g. postgres://user:password@host:5432/town?sslmode=require"}},
		{"database URL is not echoed", map[string]string{EnvDatabaseURL: "mysql://root:hunter2@db/x"},
			[]string{"--database-url / DATABASE_URL: is not a postgres:// URL with a host, e.g. postgres://user:password@host:5432/town?sslmode=require"}},
		{"brokers required", map[string]string{EnvKafkaBrokers: ""},
			[]string{"--kafka-brokers / KAFKA_BROKERS: required: comma-separated host:port, e.g. kafka-0.kafka:9092,kafka-1.kafka:9092"}},
		{"brokers are host:port", map[string]string{EnvKafkaBrokers: "kafka-0,kafka-1:9092,:9092,kafka-2:http"},
			[]string{
				`--kafka-brokers / KAFKA_BROKERS: "kafka-0" is not host:port, e.g. kafka-0.kafka:9092`,
				`--kafka-brokers / KAFKA_BROKERS: ":9092" is not host:port, e.g. kafka-0.kafka:9092`,
				`--kafka-brokers / KAFKA_BROKERS: "kafka-2:http" is not host:port, e.g. kafka-0.kafka:9092`,
			}},
		{"listen address", map[string]string{EnvHTTPAddr: "8080"},
			[]string{`--http-addr / HTTP_ADDR: "8080" is not a listen address [host]:port, e.g. :8080 or 127.0.0.1:8080`}},
		{"shutdown timeout positive", map[string]string{EnvShutdownTimeout: "-1s"},
			[]string{"--shutdown-timeout / SHUTDOWN_TIMEOUT: -1s is not a positive duration, e.g. 20s"}},
		{"body limit positive", map[string]string{EnvMaxBodyBytes: "0"},
			[]string{"--max-body-bytes / MAX_BODY_BYTES: 0 is not a positive number of bytes, e.g. 1048576"}},
		{"sampling ratio range", map[string]string{EnvSamplerArg: "1.5"},
			[]string{"--trace-sampling-ratio / OTEL_TRACES_SAMPLER_ARG: 1.5 is not between 0 and 1, e.g. 0.25"}},
		{"log level", map[string]string{EnvLogLevel: "verbose"},
			[]string{`--log-level / LOG_LEVEL: "verbose" is not a log level: debug, info, warn or error`}},
		{"trusted proxies are CIDRs", map[string]string{EnvTrustedProxies: "10.0.0.0/8, ingress, 10.1.2.3/8,192.168.1.1/33"},
			[]string{
				`--trusted-proxies / WUXIAO_TRUSTED_PROXIES: "ingress" is not a CIDR, e.g. 10.0.0.0/8 or fd00::/8`,
				`--trusted-proxies / WUXIAO_TRUSTED_PROXIES: "10.1.2.3/8" has bits set after the prefix length; did you mean 10.0.0.0/8?`,
				`--trusted-proxies / WUXIAO_TRUSTED_PROXIES: "192.168.1.1/33" is not a CIDR, e.g. 10.0.0.0/8 or fd00::/8`,
			}},
		{"every problem at once", map[string]string{EnvTown: "", EnvTownCode: "1", EnvLogLevel: "loud"},
			[]string{
				"--town / WUXIAO_TOWN: required, e.g. xikou",
				`--town-code / WUXIAO_TOWN_CODE: "1" is not a 12-digit code, e.g. 330213100000`,
				`--log-level / LOG_LEVEL: "loud" is not a log level: debug, info, warn or error`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv(t)
			for k, v := range tt.set {
				env[k] = v
			}
			err := load(t, env).Validate()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want a *ValidationError", err)
			}
			if !reflect.DeepEqual(ve.Problems, tt.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(ve.Problems, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks a database password: %v", err)
			}
		})
	}
}

func TestTrustedProxyPrefixes(t *testing.T) {
	env := validEnv(t)
	env[EnvTrustedProxies] = "10.0.0.0/8, fd00::/8,192.0.2.7,::ffff:172.16.0.0/108"
	b := load(t, env)
	if err := b.Validate(); err != nil {
		t.Fatalf("valid proxies rejected: %v", err)
	}
	var got []string
	for _, p := range b.TrustedProxyPrefixes() {
		got = append(got, p.String())
	}
	if want := []string{"10.0.0.0/8", "fd00::/8", "192.0.2.7/32", "172.16.0.0/12"}; !reflect.DeepEqual(got, want) {
		t.Errorf("TrustedProxyPrefixes = %v, want %v", got, want)
	}
	if b := load(t, validEnv(t)); len(b.TrustedProxyPrefixes()) != 0 {
		t.Errorf("default trusts %v, want none", b.TrustedProxyPrefixes())
	}
}

func TestValidationErrorMessage(t *testing.T) {
	one := (&ValidationError{Problems: []string{"a"}}).Error()
	two := (&ValidationError{Problems: []string{"a", "b"}}).Error()
	if one != "invalid configuration (1 problem):\n  a" {
		t.Errorf("one = %q", one)
	}
	if two != "invalid configuration (2 problems):\n  a\n  b" {
		t.Errorf("two = %q", two)
	}
}

func TestAddCheckAndExtraFlags(t *testing.T) {
	var b Base
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	env := validEnv(t)
	env["WORKFLOW_REMINDER_EVERY"] = "often"
	b.BindFlags(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var every time.Duration
	var limit int64
	b.Env().Duration(&every, "reminder-every", "WORKFLOW_REMINDER_EVERY", time.Hour, "reminder period")
	b.Env().Int64(&limit, "page-limit", "WORKFLOW_PAGE_LIMIT", 0, "page size")
	b.AddCheck(func(p *Problems) {
		if limit <= 0 {
			p.Addf("page-limit", "WORKFLOW_PAGE_LIMIT", "%d is not a positive page size, e.g. 50", limit)
		}
	})
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	var ve *ValidationError
	if err := b.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v", err)
	}
	want := []string{
		`--reminder-every / WORKFLOW_REMINDER_EVERY: "often" is not a duration, e.g. 20s or 1m30s`,
		"--page-limit / WORKFLOW_PAGE_LIMIT: 0 is not a positive page size, e.g. 50",
	}
	if !reflect.DeepEqual(ve.Problems, want) {
		t.Errorf("problems = %q, want %q", ve.Problems, want)
	}
}

func TestHelpDoesNotShowEnvironmentValues(t *testing.T) {
	env := validEnv(t)
	var b Base
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	b.BindFlags(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	help := fs.FlagUsages()
	if strings.Contains(help, "secret") {
		t.Errorf("--help shows the database password:\n%s", help)
	}
	if !strings.Contains(help, "[$DATABASE_URL]") || !strings.Contains(help, `(default ":8080")`) {
		t.Errorf("--help should name the variables and built-in defaults:\n%s", help)
	}
}
