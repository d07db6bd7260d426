package resources

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	gwapi "github.com/wuxiao/wuxiao/api/gateway"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The towns' and the gateway's NetworkPolicies isolate their pods both ways.
// Egress goes only to what the District names: cluster DNS, PostgreSQL,
// Kafka, Kratos' public API and the OTLP collector (and, for the gateway, the
// towns' services and the Kubernetes API). Kratos' admin API, the Kubernetes
// API, other towns and the internet are refused, so that a compromised
// portal cannot mint identities or read another town's data.
//
// NetworkPolicy has no host names, so each address of the District becomes a
// peer by its form (egressPeers):
//   - an IP address: an ipBlock of that one address;
//   - an in-cluster Service name, <service>.<namespace>.svc[.<cluster
//     domain>]: every pod of that namespace (the Service's selector is not
//     known here). The port is matched after the Service's translation, so
//     the Service's port must be its pods' port;
//   - any other name (a server outside the cluster): any address on that
//     port only, the most NetworkPolicy can say without resolving the name.
//
// Kafka clients connect to the brokers the bootstrap servers advertise: list
// every broker in spec.kafka.bootstrapServers, or their connections are
// refused.

// Well-known ports of the District's addresses when they name none.
const (
	defaultPostgresPort = 5432
	defaultKafkaPort    = 9092
	dnsPort             = 53
)

// ClusterDNSLabel selects the cluster's DNS server pods (kube-dns and
// CoreDNS both carry k8s-app=kube-dns), in whichever namespace they run.
const ClusterDNSLabel = "k8s-app"

// ClusterDNSValue is ClusterDNSLabel's value on the DNS server pods.
const ClusterDNSValue = "kube-dns"

// namespaceNameLabel is set by the API server on every namespace.
const namespaceNameLabel = "kubernetes.io/metadata.name"

// APIServerEndpoint is an address pods reach the Kubernetes API at: the
// kubernetes Service's cluster IP and port, and each endpoint behind it
// (where kube-proxy translates the Service address before the policy sees
// the packet).
type APIServerEndpoint struct {
	IP   string
	Port int32
}

// NetworkPolicy isolates one service's pods. Ingress: from anywhere for the
// public portals (disclosure, complaint), otherwise only from the town's own
// namespace and from namespaces labelled as the staff gateway; always only
// on the HTTP port; and from the District's Prometheus on the metrics port
// (prometheusIngress), and from the operator's namespace when it runs in the
// cluster (operatorNamespace; its rollout gate reads the pods' request
// counters there; "" when the operator runs outside the cluster). Egress:
// only to the District's DNS, database, Kafka, Kratos public API and
// collector.
func NetworkPolicy(d *wuxiaov1.District, t *wuxiaov1.Town, svc wuxiaov1.ServiceName, operatorNamespace string) *networkingv1.NetworkPolicy {
	meta := metaTemplate(t, svc)
	rule := networkingv1.NetworkPolicyIngressRule{Ports: tcpPorts(HTTPPort)}
	if !svc.IsPublic() {
		rule.From = []networkingv1.NetworkPolicyPeer{
			{PodSelector: &metav1.LabelSelector{}},
			{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{StaffGatewayLabel: "true"}}},
		}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(svc), Namespace: t.NamespaceName(),
			Labels: withTemplateMeta(serviceLabels(t.Name, svc), meta.Labels), Annotations: meta.Annotations},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(t.Name, svc)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{rule, metricsIngress(d, operatorNamespace)},
			Egress:      townEgress(d),
		},
	}
}

// prometheusIngress admits the District's Prometheus (spec.monitoring; by
// default pods labelled app.kubernetes.io/name=prometheus in namespace
// monitoring) to the metrics port, and no one else: /metrics is served
// apart from the HTTP port so that neither the gateway nor the internet
// reads it.
func prometheusIngress(d *wuxiaov1.District, port int32) networkingv1.NetworkPolicyIngressRule {
	m := d.Spec.Monitoring
	ns := &metav1.LabelSelector{MatchLabels: map[string]string{namespaceNameLabel: wuxiaov1.DefaultPrometheusNamespace}}
	if m.PrometheusNamespaceSelector != nil {
		ns = m.PrometheusNamespaceSelector.DeepCopy()
	}
	pods := &metav1.LabelSelector{MatchLabels: map[string]string{wuxiaov1.DefaultPrometheusPodLabel: wuxiaov1.DefaultPrometheusPodValue}}
	if m.PrometheusPodSelector != nil {
		pods = m.PrometheusPodSelector.DeepCopy()
	}
	return networkingv1.NetworkPolicyIngressRule{
		From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: ns, PodSelector: pods}},
		Ports: tcpPorts(port),
	}
}

// metricsIngress admits the District's Prometheus and, when set, every pod of
// the operator's namespace to a town service's metrics port.
func metricsIngress(d *wuxiaov1.District, operatorNamespace string) networkingv1.NetworkPolicyIngressRule {
	r := prometheusIngress(d, MetricsPort)
	if operatorNamespace != "" {
		r.From = append(r.From, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{namespaceNameLabel: operatorNamespace}}})
	}
	return r
}

// townEgress is what every town service may reach.
func townEgress(d *wuxiaov1.District) []networkingv1.NetworkPolicyEgressRule {
	rules := []networkingv1.NetworkPolicyEgressRule{dnsEgress()}
	port := d.Spec.Postgres.Port
	if port == 0 {
		port = defaultPostgresPort
	}
	rules = appendRule(rules, hostEgress(d.Spec.Postgres.Host, port))
	for _, b := range d.Spec.Kafka.BootstrapServers {
		if host, port, ok := splitHostPort(b, defaultKafkaPort); ok {
			rules = appendRule(rules, hostEgress(host, port))
		}
	}
	rules = appendRule(rules, urlEgress(d.Spec.Kratos.PublicURL))
	return appendRule(rules, urlEgress(d.Spec.Telemetry.OTLPEndpoint))
}

// GatewayNetworkPolicy isolates the gateway's pods. Ingress: anyone on the
// HTTP port (it is the front door). Egress: the towns' services on their
// HTTP port, Kratos' public API, the Kubernetes API (it watches Towns and
// EndpointSlices) at apiServer, cluster DNS and the collector.
func GatewayNetworkPolicy(d *wuxiaov1.District, apiServer []APIServerEndpoint) *networkingv1.NetworkPolicy {
	towns := networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{
				MatchLabels:      map[string]string{wuxiaov1.ManagedByLabel: wuxiaov1.ManagedByValue},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: wuxiaov1.TownLabel, Operator: metav1.LabelSelectorOpExists}},
			},
			PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: wuxiaov1.ServiceLabel, Operator: metav1.LabelSelectorOpIn, Values: serviceNames(),
			}}},
		}},
		Ports: tcpPorts(HTTPPort),
	}
	rules := []networkingv1.NetworkPolicyEgressRule{dnsEgress(), towns}
	rules = appendRule(rules, urlEgress(d.Spec.Kratos.PublicURL))
	for _, ep := range apiServer {
		rules = appendRule(rules, ipEgress(ep.IP, ep.Port))
	}
	rules = appendRule(rules, urlEgress(d.Spec.Telemetry.OTLPEndpoint))
	return &networkingv1.NetworkPolicy{
		ObjectMeta: gatewayObjectMeta(d),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: GatewaySelectorLabels(d)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: tcpPorts(gwapi.HTTPPort)}, prometheusIngress(d, gwapi.MetricsPort)},
			Egress:      rules,
		},
	}
}

func serviceNames() []string {
	names := make([]string, 0, len(wuxiaov1.AllServices))
	for _, s := range wuxiaov1.AllServices {
		names = append(names, string(s))
	}
	return names
}

func tcpPorts(ports ...int32) []networkingv1.NetworkPolicyPort {
	out := make([]networkingv1.NetworkPolicyPort, 0, len(ports))
	for _, p := range ports {
		out = append(out, networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(p))})
	}
	return out
}

// dnsEgress admits name lookups at the cluster's DNS pods. A node-local DNS
// cache on a link-local address is not covered: the services are given IP
// addresses or Service names that the cluster DNS answers.
func dnsEgress() networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{ClusterDNSLabel: ClusterDNSValue}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{
			{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(dnsPort))},
			{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(dnsPort))},
		},
	}
}

// appendRule adds r unless it is empty (an address that could not be read
// admits nothing) or already there (two addresses of one server).
func appendRule(rules []networkingv1.NetworkPolicyEgressRule, r *networkingv1.NetworkPolicyEgressRule) []networkingv1.NetworkPolicyEgressRule {
	if r == nil || slices.ContainsFunc(rules, func(have networkingv1.NetworkPolicyEgressRule) bool {
		return equality.Semantic.DeepEqual(have, *r)
	}) {
		return rules
	}
	return append(rules, *r)
}

// urlEgress admits an http(s) URL's host and port; nil for an empty or
// unreadable URL.
func urlEgress(raw string) *networkingv1.NetworkPolicyEgressRule {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	var port int64 = 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.ParseInt(p, 10, 32); err != nil {
			return nil
		}
	}
	return hostEgress(u.Hostname(), int32(port))
}

// splitHostPort reads host:port, or a bare host with the default port.
func splitHostPort(hostPort string, def int32) (string, int32, bool) {
	host, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return strings.Trim(hostPort, "[]"), def, hostPort != ""
		}
		return "", 0, false
	}
	port, err := strconv.ParseInt(p, 10, 32)
	if err != nil || host == "" {
		return "", 0, false
	}
	return host, int32(port), true
}

// hostEgress admits TCP to host:port, host being an IP address, an
// in-cluster Service name or an outside name (see the package comment).
func hostEgress(host string, port int32) *networkingv1.NetworkPolicyEgressRule {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || port <= 0 || port > 65535 {
		return nil
	}
	if r := ipEgress(host, port); r != nil {
		return r
	}
	peers := []networkingv1.NetworkPolicyPeer{
		{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "::/0"}},
	}
	if labels := strings.Split(host, "."); len(labels) >= 3 && labels[2] == "svc" && labels[0] != "" && labels[1] != "" {
		peers = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{namespaceNameLabel: labels[1]}}}}
	}
	return &networkingv1.NetworkPolicyEgressRule{To: peers, Ports: tcpPorts(port)}
}

// ipEgress admits TCP to one IP address and port; nil when ip is not one.
func ipEgress(ip string, port int32) *networkingv1.NetworkPolicyEgressRule {
	a, err := netip.ParseAddr(strings.Trim(ip, "[]"))
	if err != nil || port <= 0 || port > 65535 {
		return nil
	}
	a = a.Unmap().WithZone("")
	return &networkingv1.NetworkPolicyEgressRule{
		To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(a, a.BitLen()).String()}}},
		Ports: tcpPorts(port),
	}
}
