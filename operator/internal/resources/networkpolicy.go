package resources

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	gwapi "github.com/wuxiao/wuxiao/api/gateway"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// NetworkPolicy admits traffic to a service: from anywhere for the public
// portals (disclosure, complaint), otherwise only from the town's own
// namespace and from namespaces labelled as the staff gateway.
func NetworkPolicy(t *wuxiaov1.Town, svc wuxiaov1.ServiceName) *networkingv1.NetworkPolicy {
	meta := metaTemplate(t, svc)
	port := intstr.FromInt32(HTTPPort)
	rule := networkingv1.NetworkPolicyIngressRule{
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: &port}},
	}
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
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{rule},
		},
	}
}

// GatewayNetworkPolicy admits anyone to the gateway's HTTP port: it is the
// front door. Egress is not restricted (yet).
func GatewayNetworkPolicy(d *wuxiaov1.District) *networkingv1.NetworkPolicy {
	port := intstr.FromInt32(gwapi.HTTPPort)
	return &networkingv1.NetworkPolicy{
		ObjectMeta: gatewayObjectMeta(d),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: GatewaySelectorLabels(d)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: &port}},
			}},
		},
	}
}
