package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
)

// Settings come from flags defaulting from the operator's environment, and
// every problem is reported at once, naming the flag and the variable.
func TestSettings(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := map[string]string{"WUXIAO_DISTRICT": "fenghua", "KRATOS_PUBLIC_URL": "http://kratos:4433", "KUBECONFIG": kubeconfig}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		inCluster bool
		problems  []string // substrings, one per expected problem
	}{
		{"valid from the environment", valid, nil, false, nil},
		{"valid in a cluster without kubeconfig", map[string]string{"WUXIAO_DISTRICT": "fenghua", "KRATOS_PUBLIC_URL": "http://kratos:4433"}, nil, true, nil},
		{"flags override the environment", map[string]string{"WUXIAO_DISTRICT": "Bad"}, []string{"--district", "fenghua", "--kratos-public-url", "https://k", "--kubeconfig", kubeconfig}, false, nil},
		{"everything wrong", map[string]string{
			"WUXIAO_DISTRICT": "Fenghua", "KRATOS_PUBLIC_URL": "kratos:4433", "WUXIAO_GATEWAY_PUBLIC_HOSTS": "Jiandu.example.cn,ok.example.cn",
			"WUXIAO_GATEWAY_STAFF_HOSTS": "ganbu.example.cn:443", "WUXIAO_TRUSTED_PROXIES": "10.1.2.3/8", "HTTP_ADDR": "8080",
			"SHUTDOWN_TIMEOUT": "soon", "MAX_BODY_BYTES": "0", "OTEL_TRACES_SAMPLER_ARG": "2", "LOG_LEVEL": "loud",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "collector", "KUBECONFIG": "/nonexistent/kubeconfig"}, nil, false, []string{
			"--shutdown-timeout / SHUTDOWN_TIMEOUT", // unparsable environment values first
			"--district / WUXIAO_DISTRICT", "--kratos-public-url / KRATOS_PUBLIC_URL", "--otlp-endpoint / OTEL_EXPORTER_OTLP_ENDPOINT",
			"--public-hosts / WUXIAO_GATEWAY_PUBLIC_HOSTS: \"Jiandu.example.cn\"", "--staff-hosts / WUXIAO_GATEWAY_STAFF_HOSTS",
			"--trusted-proxies / WUXIAO_TRUSTED_PROXIES", "--http-addr / HTTP_ADDR", "--max-body-bytes / MAX_BODY_BYTES",
			"--trace-sampling-ratio / OTEL_TRACES_SAMPLER_ARG", "--log-level / LOG_LEVEL", "--kubeconfig / KUBECONFIG"}},
		{"nothing set outside a cluster", nil, nil, false, []string{"--district", "--kratos-public-url", "--kubeconfig / KUBECONFIG: required outside a cluster"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			cmd, s := newCommand(lookup)
			s.inCluster = func() bool { return tc.inCluster }
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			err := s.validate()
			if len(tc.problems) == 0 {
				if err != nil {
					t.Fatalf("valid settings refused: %v", err)
				}
				return
			}
			var ve *config.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != len(tc.problems) {
				t.Fatalf("want %d problems, got: %v", len(tc.problems), err)
			}
			for i, want := range tc.problems {
				if !strings.Contains(ve.Problems[i], want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ve.Problems[i], want)
				}
			}
		})
	}
}
