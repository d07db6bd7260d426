//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// TestNetworkPolicies proves on the real cluster, with its NetworkPolicy
// agent (hack/netpol-agent.sh), that the operator's policies hold both ways.
// Probes (hack/e2e/netprobe, built and loaded by hack/district.sh) run as
// pods carrying the labels of the pod they stand in for and try a TCP
// connection to each target:
//   - as a town's complaint service: its database, Kafka, Kratos' public API
//     and the collector answer; Kratos' admin API, the Kubernetes API (its
//     Service address and the node's forwarder), another town's staff
//     service and portal, and the gateway do not (the agent drops the
//     connection: a timeout);
//   - as the district gateway: the towns' services, Kratos public and the
//     Kubernetes API answer; the database, Kafka and Kratos admin do not;
//   - as a pod in a namespace without policies (the control): Kratos admin,
//     the API server, the gateway and the town's portal answer, which shows
//     the targets are up and the refusals above are the policies'; the
//     town's staff service does not (its ingress admits only the town and
//     the staff gateway).
//
// Another town is needed: one of WUXIAO_E2E_TOWNS when two are up, else a
// Town the test applies with only its workflow and disclosure services.
func TestNetworkPolicies(t *testing.T) {
	ctx := t.Context()
	var town wuxiaov1.Town
	if err := env.kube.Get(ctx, client.ObjectKey{Name: env.town}, &town); err != nil {
		t.Fatal(err)
	}
	var d wuxiaov1.District
	if err := env.kube.Get(ctx, client.ObjectKey{Name: town.Spec.District}, &d); err != nil {
		t.Fatal(err)
	}
	podGW := os.Getenv("WUXIAO_E2E_POD_GATEWAY")
	if podGW == "" {
		podGW = "198.18.0.1"
	}
	apiURL, err := url.Parse(env.apiHost)
	if err != nil {
		t.Fatal(err)
	}
	var kubeSvc corev1.Service
	if err := env.kube.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, &kubeSvc); err != nil {
		t.Fatal(err)
	}
	other := otherTown(t, d)

	pgPort := d.Spec.Postgres.Port
	if pgPort == 0 {
		pgPort = 5432
	}
	targets := map[string]string{
		"database":      net.JoinHostPort(d.Spec.Postgres.Host, fmt.Sprint(pgPort)),
		"kafka":         d.Spec.Kafka.BootstrapServers[0],
		"kratos-public": urlHostPort(t, d.Spec.Kratos.PublicURL),
		"kratos-admin":  urlHostPort(t, d.Spec.Kratos.AdminURL),
		"collector":     urlHostPort(t, d.Spec.Telemetry.OTLPEndpoint),
		"api-service":   net.JoinHostPort(kubeSvc.Spec.ClusterIP, fmt.Sprint(kubeSvc.Spec.Ports[0].Port)),
		"api-node":      net.JoinHostPort(podGW, apiURL.Port()),
		"town-staff":    podAddr(t, "town-"+env.town, wuxiaov1.ServiceLabel+"=workflow"),
		"town-portal":   podAddr(t, "town-"+env.town, wuxiaov1.ServiceLabel+"=disclosure"),
		"other-staff":   podAddr(t, "town-"+other, wuxiaov1.ServiceLabel+"=workflow"),
		"other-portal":  podAddr(t, "town-"+other, wuxiaov1.ServiceLabel+"=disclosure"),
		"gateway":       podAddr(t, "wuxiao-gateway", wuxiaov1.ServiceLabel+"=gateway"),
	}
	for k, v := range targets {
		t.Logf("target %s: %s", k, v)
	}

	controlNS := "e2e-netpol-" + randomSuffix()
	if err := env.kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlNS}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.kube.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controlNS}})
	})

	type expect map[string]bool // target: connects
	cases := []struct {
		name, namespace string
		labels          map[string]string
		want            expect
	}{
		{"town-service", "town-" + env.town,
			map[string]string{wuxiaov1.TownLabel: env.town, wuxiaov1.ServiceLabel: string(wuxiaov1.ServiceComplaint)},
			expect{"database": true, "kafka": true, "kratos-public": true, "collector": true,
				"kratos-admin": false, "api-service": false, "api-node": false,
				"other-staff": false, "other-portal": false, "gateway": false}},
		{"gateway", "wuxiao-gateway",
			map[string]string{"wuxiao.io/district": d.Name, wuxiaov1.ServiceLabel: "gateway"},
			expect{"town-staff": true, "other-portal": true, "kratos-public": true, "api-service": true, "collector": true,
				"database": false, "kafka": false, "kratos-admin": false}},
		{"control", controlNS, map[string]string{"app": "netprobe"},
			expect{"kratos-admin": true, "api-node": true, "gateway": true, "town-portal": true, "database": true,
				"town-staff": false, "other-staff": false}},
	}
	// All probes at once: each waits for the agent to learn its address,
	// then dials with a 3 s timeout. A probe whose refused target connected
	// without the agent ever judging that connection (the pod's address was
	// not yet in the agent's set, so nothing was checked) is run again: that
	// is the agent starting late, not a policy admitting. A connection the
	// agent judged and accepted fails the test at once.
	results := make([]chan map[string]string, len(cases))
	for i, tc := range cases {
		var args []string
		for target := range tc.want {
			args = append(args, target+"="+targets[target])
		}
		results[i] = make(chan map[string]string, 1)
		go func() {
			for attempt := 1; ; attempt++ {
				name := "netprobe-" + tc.name + "-" + randomSuffix()
				got := runProbe(t, tc.namespace, name, tc.labels, args)
				var unjudged []string
				for target, connects := range tc.want {
					if !connects && got[target] == "ok" {
						v := agentVerdicts(t, tc.namespace+"/"+name, targets[target])
						t.Logf("%s: %s (%s) connected; the agent's verdicts on it: %v", name, target, targets[target], v)
						if len(v) == 0 {
							unjudged = append(unjudged, target)
						}
					}
				}
				if len(unjudged) == 0 || attempt == 3 {
					results[i] <- got
					return
				}
				t.Logf("%s: the agent judged no connection to %v: the probe ran before the agent knew the pod; again", name, unjudged)
			}
		}()
	}
	for i, tc := range cases {
		got := <-results[i]
		t.Run(tc.name, func(t *testing.T) {
			for target, connects := range tc.want {
				res, ok := got[target]
				switch {
				case !ok:
					t.Errorf("%s: no result", target)
				case connects && res != "ok":
					t.Errorf("%s (%s) must be reachable from %s, got: %s", target, targets[target], tc.name, res)
				case !connects && res == "ok":
					t.Errorf("%s (%s) must be refused to %s, but it connected", target, targets[target], tc.name)
				default:
					t.Logf("%s → %s: %s", tc.name, target, res)
				}
			}
		})
	}
}

// otherTown is a town of the district besides env.town with its workflow
// and disclosure pods running: one that is up, or one applied for the test.
func otherTown(t *testing.T, d wuxiaov1.District) string {
	ctx := t.Context()
	for _, name := range strings.Split(os.Getenv("WUXIAO_E2E_TOWNS"), ",") {
		if name == "" || name == env.town {
			continue
		}
		_, errW := readyPodIP("town-"+name, wuxiaov1.ServiceLabel+"=workflow")
		_, errD := readyPodIP("town-"+name, wuxiaov1.ServiceLabel+"=disclosure")
		if errW == nil && errD == nil {
			return name
		}
	}
	var towns wuxiaov1.TownList
	if err := env.kube.List(ctx, &towns); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, tw := range towns.Items {
		used[tw.Spec.Code] = true
	}
	prefix, code := d.Spec.Code[:6], ""
	for i := 0; i < 100 && code == ""; i++ {
		if c := fmt.Sprintf("%s%03d000", prefix, 900+(int(time.Now().UnixNano())+i)%100); !used[c] {
			code = c
		}
	}
	if code == "" {
		t.Fatal("no free town code for a second town")
	}
	name := "np" + randomSuffix()
	var services []wuxiaov1.ServiceTemplate
	for _, s := range wuxiaov1.AllServices {
		n := int32(0)
		if s == wuxiaov1.ServiceWorkflow || s == wuxiaov1.ServiceDisclosure {
			n = 1
		}
		services = append(services, wuxiaov1.ServiceTemplate{Name: s, Replicas: ptr.To(n),
			Resources: &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			}})
	}
	tw := &wuxiaov1.Town{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: wuxiaov1.TownSpec{District: d.Name, Code: code, Kind: wuxiaov1.TownKindTown, DisplayName: "网络策略测试镇",
			Services: services, PreventDeletion: ptr.To(false)},
	}
	t.Logf("a second town for the test: %s (%s)", name, code)
	if err := env.kube.Create(ctx, tw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.kube.Delete(context.Background(), tw); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting Town %s: %v", name, err)
		}
	})
	eventually(t, "the second town's workflow and disclosure pods Ready", 5*time.Minute, func() error {
		for _, s := range []string{"workflow", "disclosure"} {
			if _, err := readyPodIP("town-"+name, wuxiaov1.ServiceLabel+"="+s); err != nil {
				return err
			}
		}
		return nil
	})
	return name
}

// agentVerdicts reads the NetworkPolicy agent's log ($WUXIAO_E2E_NETPOL_LOG,
// written at -v=2 by hack/district.sh) for the verdicts it gave on
// connections from pod (namespace/name) to addr (host:port): "accept" or
// "drop", one per packet it judged.
func agentVerdicts(t *testing.T, pod, addr string) []string {
	// Called from the probes' goroutines: errors, not t.Fatal.
	path := os.Getenv("WUXIAO_E2E_NETPOL_LOG")
	if path == "" {
		t.Error("WUXIAO_E2E_NETPOL_LOG is not set (eval \"$(hack/district.sh env)\")")
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return nil
	}
	// Each judged packet is logged as
	//   ... "Evaluating packet" srcPod="ns/name" dstPod=... packet=<
	//   \t[ID] SRC:PORT DST:PORT TCP
	//   ...
	//   ... "Finished syncing packet" id=ID duration=... verdict="accept"
	// Packet IDs restart with the agent: each verdict is the first one
	// with the packet's ID after its evaluation.
	var verdicts []string
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if !strings.Contains(l, `"Evaluating packet" srcPod="`+pod+`"`) || i+1 >= len(lines) {
			continue
		}
		f := strings.Fields(lines[i+1])
		if len(f) < 3 || f[2] != addr {
			continue
		}
		id := strings.Trim(f[0], "[]")
		for _, next := range lines[i+1:] {
			if strings.Contains(next, `"Finished syncing packet"`) && logField(next, "id=") == id {
				verdicts = append(verdicts, strings.Trim(logField(next, "verdict="), `"`))
				break
			}
		}
	}
	return verdicts
}

// logField is the value of key in a klog line (up to the next space).
func logField(line, key string) string {
	_, v, ok := strings.Cut(line, " "+key)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}

func urlHostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Port() == "" {
		t.Fatalf("%q: want a URL with a port (%v)", raw, err)
	}
	return u.Host
}

// podAddr is the HTTP address of a Ready pod with the given labels (a
// service answers its port only once it is Ready).
func podAddr(t *testing.T, ns, selector string) string {
	t.Helper()
	var ip string
	eventually(t, "a Ready pod "+selector+" in "+ns, 2*time.Minute, func() (err error) {
		ip, err = readyPodIP(ns, selector)
		return err
	})
	return net.JoinHostPort(ip, "8080")
}

func readyPodIP(ns, selector string) (string, error) {
	var pods corev1.PodList
	sel, err := metav1.ParseToLabelSelector(selector)
	if err != nil {
		return "", err
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "", err
	}
	if err := env.kube.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: ls}); err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil && p.Status.PodIP != "" {
				return p.Status.PodIP, nil
			}
		}
	}
	return "", fmt.Errorf("no Ready pod %s in %s", selector, ns)
}

// runProbe runs netprobe as a pod and returns its report. The pod never
// becomes Ready (its readiness probe dials a closed port), so it joins no
// Service's endpoints even with a service's labels.
func runProbe(t *testing.T, ns, name string, labels map[string]string, args []string) map[string]string {
	ctx := t.Context()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To(int64(1)),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "probe", Image: "wuxiao.local/netprobe:dev", ImagePullPolicy: corev1.PullNever,
				Args: append([]string{"-wait", "5s", "-timeout", "3s"}, args...),
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), RunAsUser: ptr.To(int64(65532)),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}},
					PeriodSeconds: 1},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("5m"), corev1.ResourceMemory: resource.MustParse("8Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}},
			}},
		},
	}
	if err := env.kube.Create(ctx, pod); err != nil {
		t.Errorf("probe %s/%s: %v", ns, name, err)
		return nil
	}
	defer func() { _ = env.kube.Delete(context.Background(), pod) }()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if err := env.kube.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			t.Errorf("probe %s/%s: %v", ns, name, err)
			return nil
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			var msg string
			for _, cs := range pod.Status.ContainerStatuses {
				if cs.State.Terminated != nil {
					msg = cs.State.Terminated.Message
				}
			}
			got := map[string]string{}
			if err := json.Unmarshal([]byte(msg), &got); err != nil {
				t.Errorf("probe %s/%s ended %s with report %q: %v", ns, name, pod.Status.Phase, msg, err)
			}
			return got
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("probe %s/%s did not finish: phase %s, %+v", ns, name, pod.Status.Phase, pod.Status.ContainerStatuses)
	return nil
}
