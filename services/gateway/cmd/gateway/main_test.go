package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
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
			"METRICS_ADDR": "9090", "SHUTDOWN_TIMEOUT": "soon", "MAX_BODY_BYTES": "0", "OTEL_TRACES_SAMPLER_ARG": "2", "LOG_LEVEL": "loud",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "collector", "KUBECONFIG": "/nonexistent/kubeconfig"}, nil, false, []string{
			"--shutdown-timeout / SHUTDOWN_TIMEOUT", // unparsable environment values first
			"--district / WUXIAO_DISTRICT", "--kratos-public-url / KRATOS_PUBLIC_URL", "--otlp-endpoint / OTEL_EXPORTER_OTLP_ENDPOINT",
			"--public-hosts / WUXIAO_GATEWAY_PUBLIC_HOSTS: \"Jiandu.example.cn\"", "--staff-hosts / WUXIAO_GATEWAY_STAFF_HOSTS",
			"--trusted-proxies / WUXIAO_TRUSTED_PROXIES", "--http-addr / HTTP_ADDR", "--metrics-addr / METRICS_ADDR", "--max-body-bytes / MAX_BODY_BYTES",
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

// The binary's wiring against a real API server: not ready until the
// towns are read, then routes by them (an unknown village is 404, a town
// without pods 503), and stops cleanly on cancel.
func TestRunAgainstAPIServer(t *testing.T) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command(filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "hack", "kube-binaries.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hack/kube-binaries.sh: %v", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	_, file, _, _ := runtime.Caller(0)
	env := &envtest.Environment{BinaryAssetsDirectory: dir, ErrorIfCRDPathMissing: true,
		CRDDirectoryPaths:        []string{filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "config", "crd", "bases")},
		ControlPlaneStartTimeout: 3 * time.Minute}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	// A kubeconfig file, as --kubeconfig takes it.
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	scheme := k8sruntime.NewScheme()
	if err := wuxiaov1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := crclient.New(cfg, crclient.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "xikou"},
		Spec: wuxiaov1.TownSpec{District: "fenghua", Code: "330213100000", Kind: "town", DisplayName: "溪口镇"}}); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := mln.Addr().String()
	mln.Close()
	cmd, s := newCommand(func(string) (string, bool) { return "", false })
	if err := cmd.ParseFlags([]string{"--district", "fenghua", "--district-name", "奉化区", "--kratos-public-url", "http://127.0.0.1:1",
		"--kubeconfig", path, "--http-addr", addr, "--metrics-addr", metricsAddr, "--log-level", "warn", "--shutdown-timeout", "5s"}); err != nil {
		t.Fatal(err)
	}
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, s) }()
	base := "http://" + addr
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within a minute (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct {
		path   string
		status int
	}{{"/v/330299999001", 404}, {"/v/330213100201", 503}, {"/healthz", 200},
		// /metrics is on its own listener, not the public one.
		{"/metrics", 404}, {"metrics:/metrics", 200}, {"metrics:/healthz", 404}} {
		url := base + tc.path
		if p, ok := strings.CutPrefix(tc.path, "metrics:"); ok {
			url = "http://" + metricsAddr + p
		}
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, res.StatusCode, tc.status)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30 s of cancel")
	}
}
