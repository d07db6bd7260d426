//go:build e2e

// Package e2e tests one district end to end on the real one-node cluster
// that hack/district.sh brings up: the operator on the host, each town's four
// services as pods, the district gateway, PostgreSQL, Kafka and Kratos
// shared. The village's cadres sign in through the gateway in a headless
// Chromium, as a person would with what town IT hands over; the public's
// pages are checked through the gateway too. The services' APIs are called
// through the API server's service proxy, as an administrator's would be,
// with the sessions of the Kratos identities the operator created for the
// villages' officials.
//
// TestDistrictStory walks the whole story on a Town and a Village it applies
// itself (story_test.go); the other tests use the sample villages of the
// first town that is up.
//
//	make test                       # CI: the packages' tests, then hack/district.sh up --towns xikou and this package
//	make test-e2e                   # hack/district.sh up, then this package
//	go test -tags e2e ./hack/e2e/   # against a district that is already up
//
// Environment (hack/district.sh env prints it): KUBECONFIG,
// WUXIAO_TEST_KRATOS_PUBLIC_URL / _ADMIN_URL (loopback), WUXIAO_E2E_TOWNS
// (the towns that are up; the first is used), WUXIAO_E2E_TRACES (the
// hack/otlp-sink that receives the District's traces), WUXIAO_E2E_GATEWAY
// (the district gateway's origin; Kratos' browser URLs must name it) and
// WUXIAO_TEST_CHROMIUM (the browser; hack/chromium.sh when unset).
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// env is what every test shares, set up once by TestMain.
var env struct {
	kube    client.Client
	proxy   *http.Client // authenticated to the API server
	apiHost string
	town    string
	traces  *traceSink
	kratos  kratosAdmin
	gateway string // the district gateway's origin, e.g. http://127.0.0.1:8080
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
		fmt.Fprintln(os.Stderr, "e2e: bring the district up first: hack/district.sh up; eval \"$(hack/district.sh env)\"")
		return 1
	}
	kc := os.Getenv("KUBECONFIG")
	if kc == "" {
		return fail("KUBECONFIG is not set")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		return fail("reading %s: %v", kc, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	scheme := newScheme()
	if env.kube, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fail("kubernetes client: %v", err)
	}
	if env.proxy, err = rest.HTTPClientFor(cfg); err != nil {
		return fail("kubernetes HTTP client: %v", err)
	}
	env.proxy.Timeout = 30 * time.Second
	env.apiHost = strings.TrimSuffix(cfg.Host, "/")
	env.town = strings.Split(os.Getenv("WUXIAO_E2E_TOWNS")+",", ",")[0]
	if env.town == "" {
		env.town = "xikou"
	}
	pub, adm := os.Getenv("WUXIAO_TEST_KRATOS_PUBLIC_URL"), os.Getenv("WUXIAO_TEST_KRATOS_ADMIN_URL")
	if pub == "" || adm == "" {
		return fail("WUXIAO_TEST_KRATOS_PUBLIC_URL and WUXIAO_TEST_KRATOS_ADMIN_URL are not set")
	}
	env.kratos = newKratosAdmin(pub, adm)
	if env.gateway = strings.TrimRight(os.Getenv("WUXIAO_E2E_GATEWAY"), "/"); env.gateway == "" {
		return fail("WUXIAO_E2E_GATEWAY (the district gateway, e.g. http://127.0.0.1:8080) is not set: bring the district up with its gateway")
	}
	sinkURL := os.Getenv("WUXIAO_E2E_TRACES")
	if sinkURL == "" {
		sinkURL = "http://198.18.0.1:24318"
	}
	if env.traces, err = newTraceSink(sinkURL); err != nil {
		return fail("trace sink (hack/otlp-sink) at %s: %v", sinkURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A town of a busy district can drop out of Ready for a moment (a Kafka
	// dial timing out on a loaded machine): wait for it rather than fail.
	for {
		var town wuxiaov1.Town
		if err := env.kube.Get(ctx, client.ObjectKey{Name: env.town}, &town); err != nil {
			return fail("reading Town %s: %v", env.town, err)
		}
		if ready(town.Status.Conditions) {
			break
		}
		select {
		case <-ctx.Done():
			return fail("Town %s is not Ready", env.town)
		case <-time.After(time.Second):
		}
	}
	return m.Run()
}

// svcURL is the address of a path of a service of the test town through the
// API server's service proxy.
func svcURL(svc, path string) string { return townSvcURL(env.town, svc, path) }

// townSvcURL is svcURL for any town.
func townSvcURL(town, svc, path string) string {
	return fmt.Sprintf("%s/api/v1/namespaces/town-%s/services/%s:http/proxy%s", env.apiHost, town, svc, path)
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// eventually polls f until it returns nil or the deadline passes; the
// asynchronous hops (outbox relay, Kafka, consumer) make every cross-service
// assertion a wait. The deadline is generous; it is not what is measured.
func eventually(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
