package resources

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	gwapi "github.com/wuxiao/wuxiao/api/gateway"
	"github.com/wuxiao/wuxiao/api/settings"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The district gateway: one per District, in a namespace of its own
// (spec.gateway.namespace), built from the District alone.
const (
	// GatewayName names the gateway's ServiceAccount, Deployment, Service,
	// PodDisruptionBudget, NetworkPolicy and Ingress in its namespace.
	GatewayName = "gateway"
	// DefaultGatewayNamespace is spec.gateway.namespace's default.
	DefaultGatewayNamespace = "wuxiao-gateway"
	// DistrictLabel marks the gateway's objects (and its namespace) with
	// the name of their District.
	DistrictLabel = "wuxiao.io/district"
	// DefaultGatewayReplicas: two, so that a node drain never closes the
	// district's only door (the PDB keeps one up).
	DefaultGatewayReplicas = int32(2)
	// GatewayTmpDir is a small writable directory (the root filesystem is
	// read-only) for what the standard library spools to disk, such as
	// large multipart uploads of evidence files passing through.
	GatewayTmpDir = "/tmp"
)

// GatewayInput is everything the gateway builders need.
type GatewayInput struct {
	District *wuxiaov1.District
	// Version of the gateway image: the District's services version,
	// unless a paused rollout holds the gateway at the one it runs.
	Version string
}

// GatewayNamespaceName is the District's gateway namespace.
func GatewayNamespaceName(d *wuxiaov1.District) string {
	if ns := d.Spec.Gateway.Namespace; ns != "" {
		return ns
	}
	return DefaultGatewayNamespace
}

// GatewayClusterRoleName names the gateway's ClusterRole and its binding;
// cluster-scoped, so named after the District.
func GatewayClusterRoleName(d *wuxiaov1.District) string { return "wuxiao-gateway-" + d.Name }

// GatewaySelectorLabels select the gateway's pods; they never change.
func GatewaySelectorLabels(d *wuxiaov1.District) map[string]string {
	return map[string]string{DistrictLabel: d.Name, wuxiaov1.ServiceLabel: GatewayName}
}

// GatewayLabels are on everything generated for a District's gateway.
func GatewayLabels(d *wuxiaov1.District) map[string]string {
	return map[string]string{
		DistrictLabel:                d.Name,
		wuxiaov1.ServiceLabel:        GatewayName,
		wuxiaov1.ManagedByLabel:      wuxiaov1.ManagedByValue,
		"app.kubernetes.io/part-of":  "wuxiao",
		"app.kubernetes.io/name":     GatewayName,
		"app.kubernetes.io/instance": d.Name + "-" + GatewayName,
	}
}

func gatewayMeta(d *wuxiaov1.District) wuxiaov1.ObjectMetaTemplate {
	if m := d.Spec.Gateway.Metadata; m != nil {
		return *m
	}
	return wuxiaov1.ObjectMetaTemplate{}
}

// gatewayObjectMeta is the metadata of a namespaced gateway object: the
// template's labels and annotations, the operator's labels winning.
func gatewayObjectMeta(d *wuxiaov1.District) metav1.ObjectMeta {
	m := gatewayMeta(d)
	return metav1.ObjectMeta{Name: GatewayName, Namespace: GatewayNamespaceName(d),
		Labels: withTemplateMeta(GatewayLabels(d), m.Labels), Annotations: m.Annotations}
}

// GatewayNamespace is the gateway's namespace, labelled so that the towns'
// staff services admit its pods. Pod Security "restricted" is enforced: the
// label makes the namespace a door to the staff services, so nothing in it
// may run with more than the gateway needs.
func GatewayNamespace(d *wuxiaov1.District) *corev1.Namespace {
	l := GatewayLabels(d)
	delete(l, "app.kubernetes.io/instance")
	l[gwapi.StaffGatewayLabel] = "true"
	l["pod-security.kubernetes.io/enforce"] = "restricted"
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: GatewayNamespaceName(d), Labels: l}}
}

// GatewayServiceAccount is the identity the gateway watches the cluster with.
func GatewayServiceAccount(d *wuxiaov1.District) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: GatewayName, Namespace: GatewayNamespaceName(d), Labels: GatewayLabels(d)}}
}

// GatewayClusterRole lets the gateway read what it routes by and nothing
// else: Towns (which towns exist, their codes) and EndpointSlices (each
// town service's ready pods).
func GatewayClusterRole(d *wuxiaov1.District) *rbacv1.ClusterRole {
	read := []string{"get", "list", "watch"}
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayClusterRoleName(d), Labels: GatewayLabels(d)},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{wuxiaov1.GroupVersion.Group}, Resources: []string{"towns"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
		},
	}
}

// GatewayClusterRoleBinding grants GatewayClusterRole to the gateway's ServiceAccount.
func GatewayClusterRoleBinding(d *wuxiaov1.District) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayClusterRoleName(d), Labels: GatewayLabels(d)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: GatewayClusterRoleName(d)},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: GatewayName,
			Namespace: GatewayNamespaceName(d)}},
	}
}

// GatewayImage is <imageRepository>/gateway:<version>, like the towns' images.
func GatewayImage(d *wuxiaov1.District, version string) string {
	return Image(d, wuxiaov1.ServiceName(gwapi.ImageName), version)
}

// GatewayDeployment runs the gateway. As for the towns' services, every
// field the API server would default is set, so that comparing desired with
// live finds drift and nothing else.
func GatewayDeployment(in GatewayInput) *appsv1.Deployment {
	d, spec := in.District, in.District.Spec.Gateway
	meta := gatewayObjectMeta(d)
	meta.Labels[VersionLabel] = in.Version
	podLabels := withTemplateMeta(GatewayLabels(d), gatewayMeta(d).Labels)
	podLabels[VersionLabel] = in.Version
	replicas := ptr.Deref(spec.Replicas, DefaultGatewayReplicas)
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	if spec.Resources != nil {
		resources = *spec.Resources
	}
	pod := corev1.PodSpec{
		ServiceAccountName: GatewayName,
		// The gateway watches Towns and EndpointSlices: it needs its token.
		AutomountServiceAccountToken: ptr.To(true),
		Containers: []corev1.Container{{
			Name:            GatewayName,
			Image:           GatewayImage(d, in.Version),
			ImagePullPolicy: pullPolicy(d),
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: gwapi.HTTPPort, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", ContainerPort: gwapi.MetricsPort, Protocol: corev1.ProtocolTCP}},
			Env:            GatewayEnv(d),
			Resources:      resources,
			ReadinessProbe: httpProbe("/readyz", 3),
			LivenessProbe:  httpProbe("/healthz", 6),
			VolumeMounts:   []corev1.VolumeMount{{Name: "tmp", MountPath: GatewayTmpDir}},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				RunAsNonRoot:             ptr.To(true),
				RunAsUser:                ptr.To(RunAsUser),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			TerminationMessagePath:   corev1.TerminationMessagePathDefault,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}},
		Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			SizeLimit: ptr.To(resource.MustParse("256Mi"))}}}},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptr.To(int64(30)),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SchedulerName:                 corev1.DefaultSchedulerName,
		SecurityContext:               &corev1.PodSecurityContext{},
	}
	if p := spec.Placement; p != nil {
		pod.NodeSelector = p.NodeSelector
		pod.Tolerations = p.Tolerations
		pod.Affinity = p.Affinity
		pod.PriorityClassName = p.PriorityClassName
	}
	return &appsv1.Deployment{
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: GatewaySelectorLabels(d)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: gatewayMeta(d).Annotations},
				Spec:       pod,
			},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			RevisionHistoryLimit:    ptr.To(int32(10)),
			ProgressDeadlineSeconds: ptr.To(int32(600)),
		},
	}
}

// GatewayEnv is the gateway's configuration (api/gateway). Variables
// without a value are left out rather than set empty.
func GatewayEnv(d *wuxiaov1.District) []corev1.EnvVar {
	spec := d.Spec.Gateway
	env := []corev1.EnvVar{
		{Name: gwapi.EnvDistrict, Value: d.Name},
		{Name: gwapi.EnvDistrictName, Value: d.Spec.DisplayName},
		{Name: gwapi.EnvKratosPublicURL, Value: d.Spec.Kratos.PublicURL},
		{Name: gwapi.EnvHTTPAddr, Value: ":" + strconv.Itoa(gwapi.HTTPPort)},
		{Name: gwapi.EnvMetricsAddr, Value: ":" + strconv.Itoa(gwapi.MetricsPort)},
		{Name: settings.EnvOTelServiceName, Value: "wuxiao-gateway"},
		{Name: settings.EnvOTelResourceAttrs, Value: "wuxiao.district=" + d.Name},
	}
	add := func(name string, values []string) {
		if len(values) > 0 {
			env = append(env, corev1.EnvVar{Name: name, Value: strings.Join(values, ",")})
		}
	}
	add(gwapi.EnvPublicHosts, hostStrings(spec.PublicHosts))
	add(gwapi.EnvStaffHosts, hostStrings(spec.StaffHosts))
	proxies := make([]string, len(d.Spec.Network.TrustedProxies))
	for i, p := range d.Spec.Network.TrustedProxies {
		proxies[i] = string(p)
	}
	add(gwapi.EnvTrustedProxies, proxies)
	if ep := d.Spec.Telemetry.OTLPEndpoint; ep != "" {
		env = append(env, corev1.EnvVar{Name: gwapi.EnvOTLPEndpoint, Value: ep})
	}
	if len(d.Spec.Groups) > 0 {
		groups := make(map[string][]string, len(d.Spec.Groups))
		for _, g := range d.Spec.Groups {
			groups[g.Name] = g.Towns
		}
		b, _ := json.Marshal(groups) // map keys sorted: a stable pod template
		env = append(env, corev1.EnvVar{Name: gwapi.EnvTownGroups, Value: string(b)})
	}
	if r := d.Spec.Telemetry.SamplingRatio; r != "" {
		env = append(env,
			corev1.EnvVar{Name: settings.EnvTracesSampler, Value: settings.TracesSamplerRatioArg},
			corev1.EnvVar{Name: settings.EnvTracesSamplerArg, Value: r})
	}
	return env
}

func hostStrings(hosts []wuxiaov1.GatewayHost) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = string(h)
	}
	return out
}

// GatewayHosts are the public hosts, then the staff hosts not already
// listed: the hosts the Ingress routes to the gateway.
func GatewayHosts(d *wuxiaov1.District) []string {
	var hosts []string
	for _, h := range append(hostStrings(d.Spec.Gateway.PublicHosts), hostStrings(d.Spec.Gateway.StaffHosts)...) {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// GatewayService exposes the gateway inside the cluster on port 80.
func GatewayService(d *wuxiaov1.District) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: gatewayObjectMeta(d),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: GatewaySelectorLabels(d),
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"),
				Protocol: corev1.ProtocolTCP}},
		},
	}
}

// GatewayAddress is the gateway's Service as a URL inside the cluster.
func GatewayAddress(d *wuxiaov1.District) string {
	return "http://" + GatewayName + "." + GatewayNamespaceName(d) + ".svc"
}

// GatewayPodDisruptionBudget keeps at least one gateway pod of two up
// while nodes are drained.
func GatewayPodDisruptionBudget(d *wuxiaov1.District) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: gatewayObjectMeta(d),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: GatewaySelectorLabels(d)},
		},
	}
}

// GatewayIngress routes the gateway's hosts (every host when none is
// listed) to its Service; nil when spec.gateway.ingress is not set.
func GatewayIngress(d *wuxiaov1.District) *networkingv1.Ingress {
	spec := d.Spec.Gateway.Ingress
	if spec == nil {
		return nil
	}
	meta := gatewayObjectMeta(d)
	meta.Annotations = withTemplateMeta(spec.Annotations, meta.Annotations)
	if len(meta.Annotations) == 0 {
		meta.Annotations = nil
	}
	backend := networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
		Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
		Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: GatewayName, Port: networkingv1.ServiceBackendPort{Name: "http"}}},
	}}}
	hosts := GatewayHosts(d)
	var rules []networkingv1.IngressRule
	for _, h := range hosts {
		rules = append(rules, networkingv1.IngressRule{Host: h, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: backend.DeepCopy()}})
	}
	if len(rules) == 0 {
		rules = []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &backend}}}
	}
	ing := &networkingv1.Ingress{ObjectMeta: meta, Spec: networkingv1.IngressSpec{Rules: rules}}
	if spec.IngressClassName != "" {
		ing.Spec.IngressClassName = ptr.To(spec.IngressClassName)
	}
	if spec.TLSSecretName != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: hosts, SecretName: spec.TLSSecretName}}
	}
	return ing
}

// GatewayURL is where people reach the gateway through its Ingress: the
// first host, https when the Ingress has a certificate; else the address
// the ingress controller published; "" if neither is known.
func GatewayURL(d *wuxiaov1.District, live *networkingv1.Ingress) string {
	spec := d.Spec.Gateway.Ingress
	if spec == nil || live == nil {
		return ""
	}
	scheme := "http://"
	if spec.TLSSecretName != "" {
		scheme = "https://"
	}
	if hosts := GatewayHosts(d); len(hosts) > 0 {
		return scheme + hosts[0]
	}
	for _, lb := range live.Status.LoadBalancer.Ingress {
		switch {
		case lb.Hostname != "":
			return scheme + lb.Hostname
		case strings.Contains(lb.IP, ":"):
			return scheme + "[" + lb.IP + "]"
		case lb.IP != "":
			return scheme + lb.IP
		}
	}
	return ""
}
