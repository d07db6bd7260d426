package resources

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	gwapi "github.com/wuxiao/wuxiao/api/gateway"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// endpoint is one end of a connection as a NetworkPolicy sees it: an IP
// address and, for a pod, its namespace, the namespace's labels and its own.
type endpoint struct {
	ip        string
	namespace string
	nsLabels  map[string]string
	podLabels map[string]string // nil: not a pod
}

func (e endpoint) isPod() bool { return e.podLabels != nil }

func pod(ns string, nsLabels, podLabels map[string]string, ip string) endpoint {
	l := map[string]string{namespaceNameLabel: ns}
	for k, v := range nsLabels {
		l[k] = v
	}
	return endpoint{ip: ip, namespace: ns, nsLabels: l, podLabels: podLabels}
}

func host(ip string) endpoint { return endpoint{ip: ip} }

// Pods of the cluster the tests connect.
var (
	xikouNS       = map[string]string{wuxiaov1.TownLabel: "xikou", wuxiaov1.ManagedByLabel: wuxiaov1.ManagedByValue}
	jinpingNS     = map[string]string{wuxiaov1.TownLabel: "jinping", wuxiaov1.ManagedByLabel: wuxiaov1.ManagedByValue}
	gatewayNS     = map[string]string{StaffGatewayLabel: "true", DistrictLabel: "fenghua"}
	xikouWorkflow = pod("town-xikou", xikouNS, SelectorLabels("xikou", wuxiaov1.ServiceWorkflow), "198.18.0.10")
	xikouComplain = pod("town-xikou", xikouNS, SelectorLabels("xikou", wuxiaov1.ServiceComplaint), "198.18.0.11")
	jinpingFlow   = pod("town-jinping", jinpingNS, SelectorLabels("jinping", wuxiaov1.ServiceWorkflow), "198.18.0.20")
	jinpingPortal = pod("town-jinping", jinpingNS, SelectorLabels("jinping", wuxiaov1.ServiceDisclosure), "198.18.0.21")
	gatewayPod    = pod("wuxiao-gateway", gatewayNS, map[string]string{DistrictLabel: "fenghua", wuxiaov1.ServiceLabel: GatewayName}, "198.18.0.30")
	kubeDNS       = pod("kube-system", nil, map[string]string{ClusterDNSLabel: ClusterDNSValue}, "198.18.0.2")
	otherInSystem = pod("kube-system", nil, map[string]string{"app": "metrics"}, "198.18.0.3")
	systemPG      = pod("wuxiao-system", nil, map[string]string{"app": "postgres"}, "198.18.0.40")
	systemKratos  = pod("wuxiao-system", nil, map[string]string{"app": "kratos"}, "198.18.0.41")
	strayPod      = pod("default", nil, map[string]string{"app": "stray"}, "198.18.0.50")
)

// peerMatches applies one peer of a policy in namespace policyNS to e.
func peerMatches(t *testing.T, peer networkingv1.NetworkPolicyPeer, policyNS string, e endpoint) bool {
	t.Helper()
	if peer.IPBlock != nil {
		p, err := netip.ParsePrefix(peer.IPBlock.CIDR)
		if err != nil {
			t.Fatalf("ipBlock %q: %v", peer.IPBlock.CIDR, err)
		}
		if p != p.Masked() {
			t.Fatalf("ipBlock %q is not canonical", peer.IPBlock.CIDR)
		}
		return p.Contains(netip.MustParseAddr(e.ip))
	}
	if !e.isPod() {
		return false
	}
	sel := func(s *metav1.LabelSelector, l map[string]string) bool {
		m, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return m.Matches(labels.Set(l))
	}
	if peer.NamespaceSelector == nil {
		if e.namespace != policyNS {
			return false
		}
	} else if !sel(peer.NamespaceSelector, e.nsLabels) {
		return false
	}
	return peer.PodSelector == nil || sel(peer.PodSelector, e.podLabels)
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, proto corev1.Protocol, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if (p.Protocol == nil || *p.Protocol == proto) && (p.Port == nil || p.Port.IntVal == port) {
			return true
		}
	}
	return false
}

func egressAllows(t *testing.T, np *networkingv1.NetworkPolicy, dst endpoint, proto corev1.Protocol, port int32) bool {
	t.Helper()
	for _, r := range np.Spec.Egress {
		if !portsMatch(r.Ports, proto, port) {
			continue
		}
		if len(r.To) == 0 {
			return true
		}
		for _, peer := range r.To {
			if peerMatches(t, peer, np.Namespace, dst) {
				return true
			}
		}
	}
	return false
}

func ingressAllows(t *testing.T, np *networkingv1.NetworkPolicy, src endpoint, port int32) bool {
	t.Helper()
	for _, r := range np.Spec.Ingress {
		if !portsMatch(r.Ports, corev1.ProtocolTCP, port) {
			continue
		}
		if len(r.From) == 0 {
			return true
		}
		for _, peer := range r.From {
			if peerMatches(t, peer, np.Namespace, src) {
				return true
			}
		}
	}
	return false
}

// selects checks that the policy isolates exactly the pod it is meant for,
// in both directions.
func selects(t *testing.T, np *networkingv1.NetworkPolicy, e endpoint) bool {
	t.Helper()
	m, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	return np.Namespace == e.namespace && m.Matches(labels.Set(e.podLabels))
}

// devDistrict names its servers by address, as hack/district.sh does: all
// on the pod bridge's gateway, each on its own port.
func devDistrict(mutate func(*wuxiaov1.District)) *wuxiaov1.District {
	d := &wuxiaov1.District{ObjectMeta: metav1.ObjectMeta{Name: "fenghua"},
		Spec: wuxiaov1.DistrictSpec{
			Kafka:     wuxiaov1.KafkaSpec{BootstrapServers: []string{"198.18.0.1:29094"}},
			Kratos:    wuxiaov1.KratosSpec{PublicURL: "http://198.18.0.1:24433", AdminURL: "http://198.18.0.1:24434"},
			Postgres:  wuxiaov1.PostgresSpec{Host: "198.18.0.1", Port: 25432},
			Telemetry: wuxiaov1.TelemetrySpec{OTLPEndpoint: "http://198.18.0.1:24318"},
		}}
	if mutate != nil {
		mutate(d)
	}
	return d
}

// serviceDistrict names in-cluster Services, as config/samples does.
func serviceDistrict(mutate func(*wuxiaov1.District)) *wuxiaov1.District {
	d := &wuxiaov1.District{ObjectMeta: metav1.ObjectMeta{Name: "fenghua"},
		Spec: wuxiaov1.DistrictSpec{
			Kafka:     wuxiaov1.KafkaSpec{BootstrapServers: []string{"kafka-0.kafka.wuxiao-kafka.svc.cluster.local:9092"}},
			Kratos:    wuxiaov1.KratosSpec{PublicURL: "http://kratos.wuxiao-system.svc:4433", AdminURL: "http://kratos-admin.wuxiao-system.svc:4434"},
			Postgres:  wuxiaov1.PostgresSpec{Host: "postgres.wuxiao-system.svc"},
			Telemetry: wuxiaov1.TelemetrySpec{OTLPEndpoint: "http://otel-collector.observability.svc:4318"},
		}}
	if mutate != nil {
		mutate(d)
	}
	return d
}

type conn struct {
	name  string
	dst   endpoint
	proto corev1.Protocol
	port  int32
	want  bool
}

func tcp(name string, dst endpoint, port int32, want bool) conn {
	return conn{name, dst, corev1.ProtocolTCP, port, want}
}

func TestTownEgress(t *testing.T) {
	kafkaPod := pod("wuxiao-kafka", nil, map[string]string{"app": "kafka"}, "198.18.0.60")
	collector := pod("observability", nil, map[string]string{"app": "otel"}, "198.18.0.61")
	cases := []struct {
		name     string
		district *wuxiaov1.District
		conns    []conn
	}{
		{"addresses (the local cluster)", devDistrict(nil), []conn{
			{"cluster DNS over UDP", kubeDNS, corev1.ProtocolUDP, 53, true},
			tcp("cluster DNS over TCP", kubeDNS, 53, true),
			{"another resolver", host("8.8.8.8"), corev1.ProtocolUDP, 53, false},
			{"port 53 of another kube-system pod", otherInSystem, corev1.ProtocolUDP, 53, false},
			tcp("PostgreSQL", host("198.18.0.1"), 25432, true),
			tcp("Kafka", host("198.18.0.1"), 29094, true),
			tcp("Kratos public", host("198.18.0.1"), 24433, true),
			tcp("the collector", host("198.18.0.1"), 24318, true),
			{"the collector over UDP", host("198.18.0.1"), corev1.ProtocolUDP, 24318, false},
			tcp("Kratos admin", host("198.18.0.1"), 24434, false),
			tcp("the API server on the node", host("198.18.0.1"), 26443, false),
			tcp("the kubernetes Service", host("198.19.0.1"), 443, false),
			tcp("the database port elsewhere", host("198.18.0.9"), 25432, false),
			tcp("another town's staff service", jinpingFlow, HTTPPort, false),
			tcp("another town's portal", jinpingPortal, HTTPPort, false),
			tcp("a service of its own town", xikouComplain, HTTPPort, false),
			tcp("the gateway", gatewayPod, HTTPPort, false),
			tcp("the internet", host("93.184.216.34"), 443, false),
		}},
		{"in-cluster Service names (the samples)", serviceDistrict(nil), []conn{
			tcp("PostgreSQL's namespace on its default port", systemPG, 5432, true),
			tcp("Kafka's namespace", kafkaPod, 9092, true),
			tcp("Kratos public", systemKratos, 4433, true),
			tcp("the collector", collector, 4318, true),
			tcp("Kratos admin", systemKratos, 4434, false),
			tcp("the PostgreSQL port in another namespace", strayPod, 5432, false),
			tcp("the PostgreSQL port outside the cluster", host("203.0.113.5"), 5432, false),
			tcp("another town's staff service", jinpingFlow, HTTPPort, false),
		}},
		{"names outside the cluster: narrowed by port", devDistrict(func(d *wuxiaov1.District) {
			d.Spec.Postgres = wuxiaov1.PostgresSpec{Host: "DB.example.org."}
			d.Spec.Kratos = wuxiaov1.KratosSpec{PublicURL: "https://id.example.org", AdminURL: "https://id-admin.example.org:4434"}
			d.Spec.Kafka.BootstrapServers = []string{"bus.example.org"}
			d.Spec.Telemetry.OTLPEndpoint = ""
		}), []conn{
			tcp("PostgreSQL", host("203.0.113.5"), 5432, true),
			tcp("Kratos public over HTTPS", host("203.0.113.6"), 443, true),
			tcp("Kafka on its default port", host("203.0.113.7"), 9092, true),
			tcp("Kratos admin", host("203.0.113.6"), 4434, false),
			tcp("the old collector (export off)", host("198.18.0.1"), 24318, false),
			tcp("plain HTTP", host("203.0.113.6"), 80, false),
		}},
		{"IPv6 addresses", devDistrict(func(d *wuxiaov1.District) {
			d.Spec.Postgres = wuxiaov1.PostgresSpec{Host: "2001:db8::5"}
			d.Spec.Kafka.BootstrapServers = []string{"[2001:db8::7]:9092", "[2001:db8::7]:9092"}
		}), []conn{
			tcp("PostgreSQL", host("2001:db8::5"), 5432, true),
			tcp("Kafka", host("2001:db8::7"), 9092, true),
			tcp("PostgreSQL's port on Kafka's host", host("2001:db8::7"), 5432, false),
		}},
		{"unreadable addresses admit nothing", devDistrict(func(d *wuxiaov1.District) {
			d.Spec.Kafka.BootstrapServers = []string{"198.18.0.1:kafka", ":9092"}
			d.Spec.Kratos.PublicURL = "http://%zz"
			d.Spec.Telemetry.OTLPEndpoint = "http://198.18.0.1:99999"
		}), []conn{
			tcp("PostgreSQL still", host("198.18.0.1"), 25432, true),
			tcp("Kafka's port", host("198.18.0.1"), 29094, false),
			tcp("Kratos public's port", host("198.18.0.1"), 24433, false),
			tcp("the collector's port", host("198.18.0.1"), 24318, false),
			tcp("any address on 9092", host("203.0.113.7"), 9092, false),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, svc := range wuxiaov1.AllServices {
				np := NetworkPolicy(tc.district, &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "xikou"}}, svc, "")
				if len(np.Spec.PolicyTypes) != 2 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress || np.Spec.PolicyTypes[1] != networkingv1.PolicyTypeEgress {
					t.Fatalf("%s: policyTypes %v, want Ingress and Egress", svc, np.Spec.PolicyTypes)
				}
				self := pod("town-xikou", xikouNS, SelectorLabels("xikou", svc), "198.18.0.12")
				if !selects(t, np, self) || selects(t, np, jinpingFlow) {
					t.Fatalf("%s: policy selects %v in %s", svc, np.Spec.PodSelector, np.Namespace)
				}
				for _, c := range tc.conns {
					if got := egressAllows(t, np, c.dst, c.proto, c.port); got != c.want {
						t.Errorf("%s → %s (%s %s/%d): allowed=%v, want %v", svc, c.name, c.dst.ip, c.proto, c.port, got, c.want)
					}
				}
			}
		})
	}
}

func TestTownIngress(t *testing.T) {
	outside := host("203.0.113.9")
	cases := []struct {
		name  string
		src   endpoint
		port  int32
		staff bool // admitted to the staff services
		pub   bool // admitted to the public portals
	}{
		{"a pod of the town", xikouComplain, HTTPPort, true, true},
		{"the staff gateway", gatewayPod, HTTPPort, true, true},
		{"another town's pod", jinpingFlow, HTTPPort, false, true},
		{"a pod elsewhere", strayPod, HTTPPort, false, true},
		{"an address outside the cluster", outside, HTTPPort, false, true},
		{"the gateway on another port", gatewayPod, 9090, false, false},
		{"a pod of the town on another port", xikouComplain, 5432, false, false},
	}
	d := devDistrict(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, svc := range wuxiaov1.AllServices {
				np := NetworkPolicy(d, &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "xikou"}}, svc, "")
				want := tc.staff
				if svc.IsPublic() {
					want = tc.pub
				}
				if got := ingressAllows(t, np, tc.src, tc.port); got != want {
					t.Errorf("%s ← %s on %d: allowed=%v, want %v", svc, tc.name, tc.port, got, want)
				}
			}
		})
	}
}

func TestGatewayNetworkPolicy(t *testing.T) {
	api := []APIServerEndpoint{{IP: "198.19.0.1", Port: 443}, {IP: "198.18.0.1", Port: 26443}}
	otherDistrictPod := pod("wuxiao-system", nil, map[string]string{wuxiaov1.ServiceLabel: "workflow"}, "198.18.0.70")
	cases := []struct {
		name     string
		district *wuxiaov1.District
		api      []APIServerEndpoint
		conns    []conn
	}{
		{"addresses (the local cluster)", devDistrict(nil), api, []conn{
			tcp("a town's staff service", xikouWorkflow, HTTPPort, true),
			tcp("another town's portal", jinpingPortal, HTTPPort, true),
			tcp("a town's service on another port", xikouWorkflow, 9090, false),
			tcp("a workflow-labelled pod outside the towns", otherDistrictPod, HTTPPort, false),
			tcp("the kubernetes Service", host("198.19.0.1"), 443, true),
			tcp("the API server's endpoint", host("198.18.0.1"), 26443, true),
			tcp("Kratos public", host("198.18.0.1"), 24433, true),
			tcp("the collector", host("198.18.0.1"), 24318, true),
			{"cluster DNS", kubeDNS, corev1.ProtocolUDP, 53, true},
			tcp("Kratos admin", host("198.18.0.1"), 24434, false),
			tcp("PostgreSQL", host("198.18.0.1"), 25432, false),
			tcp("Kafka", host("198.18.0.1"), 29094, false),
			tcp("the internet", host("93.184.216.34"), 443, false),
		}},
		{"no API server known", devDistrict(nil), nil, []conn{
			tcp("the kubernetes Service", host("198.19.0.1"), 443, false),
			tcp("a town's service", xikouComplain, HTTPPort, true),
		}},
		{"in-cluster Service names", serviceDistrict(nil), []APIServerEndpoint{{IP: "10.96.0.1", Port: 443}, {IP: "fd00::1", Port: 6443}, {IP: "not-an-ip", Port: 443}}, []conn{
			tcp("Kratos public", systemKratos, 4433, true),
			tcp("Kratos admin", systemKratos, 4434, false),
			tcp("PostgreSQL", systemPG, 5432, false),
			tcp("the kubernetes Service", host("10.96.0.1"), 443, true),
			tcp("the API server over IPv6", host("fd00::1"), 6443, true),
			tcp("the API server's port elsewhere", host("10.96.0.2"), 443, false),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			np := GatewayNetworkPolicy(tc.district, tc.api)
			if len(np.Spec.PolicyTypes) != 2 || !selects(t, np, gatewayPod) {
				t.Fatalf("policyTypes %v, selects %v in %s", np.Spec.PolicyTypes, np.Spec.PodSelector, np.Namespace)
			}
			for _, c := range tc.conns {
				if got := egressAllows(t, np, c.dst, c.proto, c.port); got != c.want {
					t.Errorf("gateway → %s (%s %s/%d): allowed=%v, want %v", c.name, c.dst.ip, c.proto, c.port, got, c.want)
				}
			}
			// The front door admits anyone on its port, nothing else.
			if !ingressAllows(t, np, host("203.0.113.9"), HTTPPort) || ingressAllows(t, np, xikouWorkflow, 9090) {
				t.Errorf("gateway ingress %+v", np.Spec.Ingress)
			}
		})
	}
}

// TestPrometheusIngress: the District's Prometheus, and only it, reads the
// metrics port of the towns' services and of the gateway; it gets no more
// than anyone else on the HTTP port.
func TestPrometheusIngress(t *testing.T) {
	promLabels := map[string]string{"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"}
	prometheus := pod("monitoring", nil, promLabels, "198.18.0.60")
	grafana := pod("monitoring", nil, map[string]string{"app.kubernetes.io/name": "grafana"}, "198.18.0.61")
	elsewhere := pod("default", nil, promLabels, "198.18.0.62") // anyone may label a pod so
	observability := pod("observability", map[string]string{"team": "sre"}, map[string]string{"app": "vmagent"}, "198.18.0.63")
	custom := func(d *wuxiaov1.District) {
		d.Spec.Monitoring = wuxiaov1.MonitoringSpec{
			PrometheusNamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "sre"}},
			PrometheusPodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "vmagent"}},
		}
	}
	type probe struct {
		name    string
		src     endpoint
		port    int32
		metrics bool // admitted to the metrics port
	}
	cases := []struct {
		name     string
		district *wuxiaov1.District
		probes   []probe
	}{
		{"defaults: the Prometheus Operator's pods in monitoring", devDistrict(nil), []probe{
			{"Prometheus", prometheus, MetricsPort, true},
			{"another pod of monitoring", grafana, MetricsPort, false},
			{"a prometheus-labelled pod elsewhere", elsewhere, MetricsPort, false},
			{"a pod of the town", xikouComplain, MetricsPort, false},
			{"the staff gateway", gatewayPod, MetricsPort, false},
			{"an address outside the cluster", host("203.0.113.9"), MetricsPort, false},
		}},
		{"selectors from spec.monitoring", devDistrict(custom), []probe{
			{"the named scraper", observability, MetricsPort, true},
			{"the default Prometheus", prometheus, MetricsPort, false},
		}},
	}
	xikou := &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "xikou"}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.probes {
				for _, svc := range wuxiaov1.AllServices {
					np := NetworkPolicy(tc.district, xikou, svc, "")
					if got := ingressAllows(t, np, p.src, p.port); got != p.metrics {
						t.Errorf("%s ← %s on %d: allowed=%v, want %v", svc, p.name, p.port, got, p.metrics)
					}
					// The metrics rule opens nothing on the HTTP port.
					if !svc.IsPublic() && p.src.namespace != "town-xikou" && p.src.namespace != "wuxiao-gateway" && ingressAllows(t, np, p.src, HTTPPort) {
						t.Errorf("%s ← %s on the HTTP port: allowed", svc, p.name)
					}
				}
				gw := GatewayNetworkPolicy(tc.district, nil)
				if got := ingressAllows(t, gw, p.src, gwapi.MetricsPort); got != p.metrics {
					t.Errorf("gateway ← %s on %d: allowed=%v, want %v", p.name, gwapi.MetricsPort, got, p.metrics)
				}
			}
		})
	}
}

// TestOperatorMetricsIngress: an operator running in the cluster reads the
// town services' metrics port for its rollout gate, and nothing more; an
// operator outside the cluster ("") adds no rule.
func TestOperatorMetricsIngress(t *testing.T) {
	operator := pod("wuxiao-system", nil, map[string]string{"app.kubernetes.io/name": "wuxiao-operator"}, "198.18.0.70")
	xikou := &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "xikou"}}
	cases := []struct {
		name, operatorNS string
		src              endpoint
		port             int32
		want             bool
	}{
		{"the operator's pod on the metrics port", "wuxiao-system", operator, MetricsPort, true},
		{"the operator's pod on the HTTP port of a staff service", "wuxiao-system", operator, HTTPPort, false},
		{"the operator's pod, operator outside the cluster", "", operator, MetricsPort, false},
		{"a pod of another namespace", "wuxiao-system", strayPod, MetricsPort, false},
		{"Prometheus still admitted", "wuxiao-system", pod("monitoring", nil, map[string]string{"app.kubernetes.io/name": "prometheus"}, "198.18.0.60"), MetricsPort, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, svc := range wuxiaov1.AllServices {
				np := NetworkPolicy(devDistrict(nil), xikou, svc, tc.operatorNS)
				want := tc.want
				if svc.IsPublic() && tc.port == HTTPPort {
					want = true // the portals are open to all on their HTTP port
				}
				if got := ingressAllows(t, np, tc.src, tc.port); got != want {
					t.Errorf("%s ← %s on %d: allowed=%v, want %v", svc, tc.name, tc.port, got, want)
				}
			}
		})
	}
	// The gateway's metrics stay Prometheus's alone: the gate reads towns only.
	if ingressAllows(t, GatewayNetworkPolicy(devDistrict(nil), nil), operator, gwapi.MetricsPort) {
		t.Error("gateway ← the operator on its metrics port: allowed")
	}
}
