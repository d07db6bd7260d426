package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// repoRoot is the checkout's root, found from this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// startKube starts a real kube-apiserver and etcd (envtest) with the
// project's CRDs; the binaries come from KUBEBUILDER_ASSETS or
// hack/kube-binaries.sh (built once, cached).
func startKube(t *testing.T) (*rest.Config, crclient.Client) {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cmd := exec.Command(filepath.Join(repoRoot(), "hack", "kube-binaries.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("hack/kube-binaries.sh: %v", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		CRDDirectoryPaths:        []string{filepath.Join(repoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 3 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest (binaries in %s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	scheme := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{wuxiaov1.AddToScheme, discoveryv1.AddToScheme, corev1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := crclient.New(cfg, crclient.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c
}

// kube wraps the test's client with the objects these tests create.
type kube struct {
	t *testing.T
	c crclient.Client
}

func (k kube) town(district, name, code string) {
	k.t.Helper()
	ctx := context.Background()
	tw := &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: wuxiaov1.TownSpec{District: district, Code: code, Kind: wuxiaov1.TownKind("town"), DisplayName: name + "镇"}}
	if err := k.c.Create(ctx, tw); err != nil {
		k.t.Fatalf("creating town %s: %v", name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "town-" + name}}
	if err := k.c.Create(ctx, ns); err != nil {
		k.t.Fatalf("creating namespace town-%s: %v", name, err)
	}
}

// podIPs are the made-up pod addresses of the test pods (the API server
// refuses loopback endpoints; the gateway dials 127.0.0.1 instead, see
// Discovery.dialHost).
var podIPs atomic.Int32

// slice publishes pod as the one endpoint of an EndpointSlice of the
// town's service, on the pod's port, at a made-up pod address.
func (k kube) slice(town, service, name string, pod *pubPod, ready bool) *discoveryv1.EndpointSlice {
	k.t.Helper()
	u, _ := url.Parse(pod.srv.URL)
	host, port := fmt.Sprintf("10.244.0.%d", podIPs.Add(1)), u.Port()
	var p int32
	for _, c := range port {
		p = p*10 + c - '0'
	}
	httpName, tcp := "http", corev1.ProtocolTCP
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "town-" + town, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &httpName, Port: &p, Protocol: &tcp}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
	if err := k.c.Create(context.Background(), es); err != nil {
		k.t.Fatalf("creating endpoint slice %s/%s: %v", town, name, err)
	}
	return es
}

func (k kube) setReady(es *discoveryv1.EndpointSlice, ready bool) {
	k.t.Helper()
	es.Endpoints[0].Conditions.Ready = &ready
	if err := k.c.Update(context.Background(), es); err != nil {
		k.t.Fatalf("updating endpoint slice %s: %v", es.Name, err)
	}
}

// startDiscoveryGateway runs a Discovery of district and a gateway over it.
func startDiscoveryGateway(t *testing.T, cfg *rest.Config, district string) (*Discovery, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := NewDiscovery(cfg, district, log)
	if err != nil {
		t.Fatal(err)
	}
	d.dialHost = "127.0.0.1"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("discovery: %v", err)
		}
	})
	g, err := New(Config{District: district, DistrictName: "奉化区", KratosPublicURL: "http://127.0.0.1:1"}, d, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(config.Base{Service: "gateway"}, log, nil)
	srv.AddReadinessCheck("towns", d.Ready)
	g.Register(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	if err := d.WaitSynced(sctx); err != nil {
		t.Fatalf("the caches did not sync: %v", err)
	}
	return d, ts.URL
}

// eventually polls check until it returns "" (or fails the test after 20 s
// with the last complaint): watches are asynchronous.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The gateway in a real API server's world: towns and pods come and go
// while it runs, and it follows.
func TestDiscoveryInCluster(t *testing.T) {
	cfg, c := startKube(t)
	k := kube{t, c}

	t.Run("not ready before the caches sync", func(t *testing.T) {
		d, err := NewDiscovery(cfg, "fenghua", nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Ready(context.Background()) == nil {
			t.Error("ready before Run")
		}
		if _, err := d.TownOfVillage("330213100201"); !errors.Is(err, ErrNoBackend) {
			t.Errorf("TownOfVillage before sync: %v, want ErrNoBackend (503, not 404)", err)
		}
	})

	// District d1: xikou (330213100) with two disclosure pods, jinping
	// (330213001) with a complaint pod.
	x1, x2 := newPubPod(t, "xikou/disclosure/1"), newPubPod(t, "xikou/disclosure/2")
	jc := newPubPod(t, "jinping/complaint", jinpingOldCode)
	xc := newPubPod(t, "xikou/complaint", xikouCode)
	k.town("d1", "xikou", "330213100000")
	k.town("d1", "jinping", "330213001000")
	s1 := k.slice("xikou", ServiceDisclosure, "disclosure-a", x1, true)
	s2 := k.slice("xikou", ServiceDisclosure, "disclosure-b", x2, true)
	k.slice("jinping", ServiceComplaint, "complaint-a", jc, true)
	k.slice("xikou", ServiceComplaint, "complaint-a", xc, true)
	// A town of another district with its own pod: never routed to.
	other := newPubPod(t, "dayan/disclosure")
	k.town("d2", "dayan", "330213555000")
	k.slice("dayan", ServiceDisclosure, "disclosure-a", other, true)
	// A slice of a service the gateway does not watch.
	k.slice("xikou", "postgres", "postgres-a", newPubPod(t, "xikou/postgres"), true)

	d, gw := startDiscoveryGateway(t, cfg, "d1")
	if err := d.Ready(context.Background()); err != nil {
		t.Fatalf("not ready after sync: %v", err)
	}
	if a := pubDo(t, "GET", gw+"/readyz", "", ""); a.status != 200 {
		t.Fatalf("/readyz: %d %s", a.status, a.body)
	}

	t.Run("routes to the village's town, over its ready pods", func(t *testing.T) {
		if got := d.Towns(); len(got) != 2 || got[0].Name != "jinping" || got[1].Name != "xikou" || got[1].DisplayName != "xikou镇" {
			t.Fatalf("towns %+v, want jinping and xikou of d1 only", got)
		}
		before1, before2 := x1.hits.Load(), x2.hits.Load()
		for range 10 {
			if a := pubDo(t, "GET", gw+"/v/"+xikouVillage, "", ""); a.status != 200 || !strings.HasPrefix(a.header.Get("X-Pod"), "xikou/disclosure/") {
				t.Fatalf("portal: %d %q %s", a.status, a.header.Get("X-Pod"), a.body)
			}
		}
		if n1, n2 := x1.hits.Load()-before1, x2.hits.Load()-before2; n1 != 5 || n2 != 5 {
			t.Errorf("round robin gave the pods %d and %d of 10 requests, want 5 each", n1, n2)
		}
		if a := pubDo(t, "GET", gw+"/r/"+jinpingVillage, "", ""); a.status != 200 || a.header.Get("X-Pod") != "jinping/complaint" {
			t.Errorf("report page: %d %q", a.status, a.header.Get("X-Pod"))
		}
		if a := pubDo(t, "GET", gw+"/v/330213555001", "", ""); a.status != 404 || !strings.Contains(a.body, "本区没有这个村") {
			t.Errorf("village of another district's town: %d %s", a.status, a.body)
		}
		if other.hits.Load() != 0 {
			t.Error("a town of another district got traffic")
		}
		if a := pubDo(t, "GET", gw+"/v/"+jinpingVillage, "", ""); a.status != 503 || a.header.Get("Retry-After") == "" {
			t.Errorf("jinping has no disclosure pod: %d %q, want 503 with Retry-After", a.status, a.header.Get("Retry-After"))
		}
	})

	t.Run("a follow-up goes to the town its code names; old codes ask every town", func(t *testing.T) {
		bx, bj := xc.hits.Load(), jc.hits.Load()
		if a := pubDo(t, "GET", gw+"/r/track/"+xikouCode, "", ""); a.status != 200 || a.header.Get("X-Pod") != "xikou/complaint" {
			t.Fatalf("new code: %d %q", a.status, a.header.Get("X-Pod"))
		}
		if xc.hits.Load()-bx != 1 || jc.hits.Load() != bj {
			t.Errorf("a new code reached xikou %d times and jinping %d times, want 1 and 0", xc.hits.Load()-bx, jc.hits.Load()-bj)
		}
		if a := pubDo(t, "GET", gw+"/v1/public/complaints/"+jinpingOldCode, "", ""); a.status != 200 || a.header.Get("X-Pod") != "jinping/complaint" {
			t.Fatalf("old code: %d %q", a.status, a.header.Get("X-Pod"))
		}
		if a := pubDo(t, "GET", gw+"/open311/v2/services.json?jurisdiction_id=jinping", "", ""); a.status != 200 || a.header.Get("X-Pod") != "jinping/complaint" {
			t.Errorf("Open311 jurisdiction jinping: %d %q", a.status, a.header.Get("X-Pod"))
		}
		if a := pubDo(t, "GET", gw+"/open311/v2/services.json?jurisdiction_id=dayan", "", ""); a.status != 404 {
			t.Errorf("Open311 jurisdiction of another district: %d %s", a.status, a.body)
		}
	})

	t.Run("a pod going unready stops getting traffic", func(t *testing.T) {
		k.setReady(s2, false)
		eventually(t, "the unready pod still gets requests", func() string {
			before := x2.hits.Load()
			for range 4 {
				pubDo(t, "GET", gw+"/v/"+xikouVillage, "", "")
			}
			if n := x2.hits.Load() - before; n > 0 {
				return "pod 2 got requests while not ready"
			}
			return ""
		})
		if err := c.Delete(context.Background(), s1); err != nil {
			t.Fatal(err)
		}
		eventually(t, "no ready pod", func() string {
			if a := pubDo(t, "GET", gw+"/v/"+xikouVillage, "", ""); a.status != 503 || a.header.Get("Retry-After") == "" {
				return "status " + a.header.Get("X-Pod") + " " + http.StatusText(a.status)
			}
			return ""
		})
		k.setReady(s2, true)
		eventually(t, "pod 2 is ready again", func() string {
			if a := pubDo(t, "GET", gw+"/v/"+xikouVillage, "", ""); a.status != 200 || a.header.Get("X-Pod") != "xikou/disclosure/2" {
				return http.StatusText(a.status) + " from " + a.header.Get("X-Pod")
			}
			return ""
		})
	})

	t.Run("a new town is routed to without a restart", func(t *testing.T) {
		const village = "330213102033"
		if a := pubDo(t, "GET", gw+"/v/"+village, "", ""); a.status != 404 {
			t.Fatalf("before the town exists: %d", a.status)
		}
		pod := newPubPod(t, "songao/disclosure")
		k.town("d1", "songao", "330213102000")
		k.slice("songao", ServiceDisclosure, "disclosure-a", pod, true)
		eventually(t, "the new town", func() string {
			if a := pubDo(t, "GET", gw+"/v/"+village, "", ""); a.status != 200 || a.header.Get("X-Pod") != "songao/disclosure" {
				return http.StatusText(a.status) + " from " + a.header.Get("X-Pod")
			}
			return ""
		})
	})

	t.Run("a deleted town is no longer routed to", func(t *testing.T) {
		if err := c.Delete(context.Background(), &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "jinping"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the deleted town", func() string {
			if a := pubDo(t, "GET", gw+"/r/"+jinpingVillage, "", ""); a.status != 404 {
				return http.StatusText(a.status)
			}
			return ""
		})
	})
}
