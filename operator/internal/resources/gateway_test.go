package resources

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	gwapi "github.com/wuxiao/wuxiao/api/gateway"
	"github.com/wuxiao/wuxiao/api/settings"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

func gatewayDistrict(mutate func(*wuxiaov1.District)) *wuxiaov1.District {
	d := &wuxiaov1.District{ObjectMeta: metav1.ObjectMeta{Name: "fenghua"},
		Spec: wuxiaov1.DistrictSpec{
			DisplayName: "奉化区",
			Kratos:      wuxiaov1.KratosSpec{PublicURL: "http://kratos.wuxiao-system.svc:4433", AdminURL: "http://kratos-admin.wuxiao-system.svc:4434"},
			Services:    wuxiaov1.ServicesSpec{ImageRepository: "registry.example.org/wuxiao/", Version: "v1"},
		}}
	if mutate != nil {
		mutate(d)
	}
	return d
}

func TestGatewayDeployment(t *testing.T) {
	custom := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
	cases := []struct {
		name     string
		mutate   func(*wuxiaov1.District)
		version  string
		image    string
		replicas int32
		env      map[string]string // "" means: not set at all
		check    func(t *testing.T, d *wuxiaov1.District)
	}{
		{
			name: "defaults", version: "v1", image: "registry.example.org/wuxiao/gateway:v1", replicas: 2,
			env: map[string]string{
				gwapi.EnvDistrict: "fenghua", gwapi.EnvDistrictName: "奉化区", gwapi.EnvKratosPublicURL: "http://kratos.wuxiao-system.svc:4433",
				gwapi.EnvHTTPAddr: ":8080", gwapi.EnvMetricsAddr: ":9090", gwapi.EnvPublicHosts: "", gwapi.EnvStaffHosts: "", gwapi.EnvTrustedProxies: "",
				gwapi.EnvOTLPEndpoint: "", "KRATOS_ADMIN_URL": "", settings.EnvOTelServiceName: "wuxiao-gateway",
			},
		},
		{
			name: "hosts, proxies, telemetry and the default repository", version: "v2", image: "localhost/wuxiao/gateway:v2", replicas: 2,
			mutate: func(d *wuxiaov1.District) {
				d.Spec.Services.ImageRepository = ""
				d.Spec.Gateway.PublicHosts = []wuxiaov1.GatewayHost{"jiandu.fenghua.gov.cn", "qr.fenghua.gov.cn"}
				d.Spec.Gateway.StaffHosts = []wuxiaov1.GatewayHost{"ganbu.fenghua.gov.cn"}
				d.Spec.Network.TrustedProxies = []wuxiaov1.TrustedProxy{"10.0.0.0/8", "198.18.0.1/32"}
				d.Spec.Telemetry = wuxiaov1.TelemetrySpec{OTLPEndpoint: "http://otel:4318", SamplingRatio: "0.5"}
			},
			env: map[string]string{
				gwapi.EnvPublicHosts: "jiandu.fenghua.gov.cn,qr.fenghua.gov.cn", gwapi.EnvStaffHosts: "ganbu.fenghua.gov.cn",
				gwapi.EnvTrustedProxies: "10.0.0.0/8,198.18.0.1/32", gwapi.EnvOTLPEndpoint: "http://otel:4318", settings.EnvTracesSamplerArg: "0.5",
			},
		},
		{
			name: "overrides", version: "v1", image: "registry.example.org/wuxiao/gateway:v1", replicas: 5,
			mutate: func(d *wuxiaov1.District) {
				d.Spec.Gateway.Replicas = ptr.To(int32(5))
				d.Spec.Gateway.Resources = &custom
				d.Spec.Gateway.Metadata = &wuxiaov1.ObjectMetaTemplate{
					Labels:      map[string]string{"team": "edge", wuxiaov1.ServiceLabel: "hijack"},
					Annotations: map[string]string{"note": "front door"}}
				d.Spec.Gateway.Placement = &wuxiaov1.PodPlacement{NodeSelector: map[string]string{"zone": "dmz"}, PriorityClassName: "edge"}
			},
			check: func(t *testing.T, d *wuxiaov1.District) {
				dep := GatewayDeployment(GatewayInput{District: d, Version: "v1"})
				pod := dep.Spec.Template
				if !pod.Spec.Containers[0].Resources.Limits.Memory().Equal(resource.MustParse("1Gi")) {
					t.Errorf("resources %v", pod.Spec.Containers[0].Resources)
				}
				if dep.Labels["team"] != "edge" || pod.Labels["team"] != "edge" || dep.Annotations["note"] != "front door" || pod.Annotations["note"] != "front door" {
					t.Errorf("metadata not applied: %v %v %v %v", dep.Labels, pod.Labels, dep.Annotations, pod.Annotations)
				}
				// The operator's own labels win over the template's.
				if dep.Labels[wuxiaov1.ServiceLabel] != GatewayName || pod.Labels[wuxiaov1.ServiceLabel] != GatewayName {
					t.Errorf("template overrode the service label: %v", pod.Labels)
				}
				if pod.Spec.NodeSelector["zone"] != "dmz" || pod.Spec.PriorityClassName != "edge" {
					t.Errorf("placement not applied: %+v", pod.Spec)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := gatewayDistrict(tc.mutate)
			dep := GatewayDeployment(GatewayInput{District: d, Version: tc.version})
			if dep.Name != GatewayName || dep.Namespace != DefaultGatewayNamespace {
				t.Errorf("deployment %s/%s", dep.Namespace, dep.Name)
			}
			c := dep.Spec.Template.Spec.Containers[0]
			if c.Image != tc.image {
				t.Errorf("image %s, want %s", c.Image, tc.image)
			}
			if *dep.Spec.Replicas != tc.replicas {
				t.Errorf("replicas %d, want %d", *dep.Spec.Replicas, tc.replicas)
			}
			for name, want := range tc.env {
				got, set := "", false
				for _, e := range c.Env {
					if e.Name == name {
						got, set = e.Value, true
					}
				}
				if got != want || set != (want != "") {
					t.Errorf("env %s = %q (set %v), want %q", name, got, set, want)
				}
			}
			// What every variant keeps: the selector selects the pods, the
			// version is recorded, the probes and security match the towns'.
			if !labels.SelectorFromSet(dep.Spec.Selector.MatchLabels).Matches(labels.Set(dep.Spec.Template.Labels)) {
				t.Errorf("selector %v does not select pod labels %v", dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels)
			}
			if dep.Labels[VersionLabel] != tc.version {
				t.Errorf("version label %q", dep.Labels[VersionLabel])
			}
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
				c.ReadinessProbe.HTTPGet.Port.StrVal != "http" || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != gwapi.HTTPPort || len(c.Ports) != 2 || c.Ports[1].ContainerPort != gwapi.MetricsPort {
				t.Errorf("probes/ports %+v %+v %+v", c.ReadinessProbe, c.LivenessProbe, c.Ports)
			}
			sc := c.SecurityContext
			if !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || sc.Capabilities.Drop[0] != "ALL" {
				t.Errorf("security context %+v", sc)
			}
			spec := dep.Spec.Template.Spec
			if spec.ServiceAccountName != GatewayName || !*spec.AutomountServiceAccountToken {
				t.Errorf("service account %q automount %v: the gateway watches the API", spec.ServiceAccountName, spec.AutomountServiceAccountToken)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func TestGatewayNamespaceAndRBAC(t *testing.T) {
	for _, tc := range []struct{ name, ns, want string }{
		{"default namespace", "", DefaultGatewayNamespace},
		{"named namespace", "edge", "edge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := gatewayDistrict(func(d *wuxiaov1.District) { d.Spec.Gateway.Namespace = tc.ns })
			ns := GatewayNamespace(d)
			// The label the towns' staff NetworkPolicies admit.
			staff := NetworkPolicy(d, &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "xikou"}}, wuxiaov1.ServiceWorkflow, "")
			admitted := false
			for _, peer := range staff.Spec.Ingress[0].From {
				if peer.NamespaceSelector != nil && labels.SelectorFromSet(peer.NamespaceSelector.MatchLabels).Matches(labels.Set(ns.Labels)) {
					admitted = true
				}
			}
			if ns.Name != tc.want || ns.Labels[gwapi.StaffGatewayLabel] != "true" || !admitted || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("namespace %s labels %v; admitted by the towns' staff policy: %v", ns.Name, ns.Labels, admitted)
			}
			for _, o := range []metav1.Object{GatewayServiceAccount(d), GatewayDeployment(GatewayInput{District: d, Version: "v1"}),
				GatewayService(d), GatewayPodDisruptionBudget(d), GatewayNetworkPolicy(d, nil)} {
				if o.GetNamespace() != tc.want || o.GetLabels()[wuxiaov1.ManagedByLabel] != wuxiaov1.ManagedByValue {
					t.Errorf("%T in %q labels %v", o, o.GetNamespace(), o.GetLabels())
				}
			}
			b := GatewayClusterRoleBinding(d)
			if b.RoleRef.Name != GatewayClusterRole(d).Name || len(b.Subjects) != 1 ||
				b.Subjects[0] != (rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: GatewayName, Namespace: tc.want}) {
				t.Errorf("binding %+v", b)
			}
		})
	}
	// Read-only on towns and endpointslices, nothing else.
	role := GatewayClusterRole(gatewayDistrict(nil))
	if role.Name != "wuxiao-gateway-fenghua" || len(role.Rules) != 2 {
		t.Fatalf("role %s rules %+v", role.Name, role.Rules)
	}
	for i, want := range [][2]string{{"wuxiao.io", "towns"}, {"discovery.k8s.io", "endpointslices"}} {
		r := role.Rules[i]
		if !slices.Equal(r.APIGroups, []string{want[0]}) || !slices.Equal(r.Resources, []string{want[1]}) ||
			!slices.Equal(r.Verbs, []string{"get", "list", "watch"}) || len(r.ResourceNames) != 0 || len(r.NonResourceURLs) != 0 {
			t.Errorf("rule %d = %+v, want get/list/watch on %s %s", i, r, want[0], want[1])
		}
	}
}

func TestGatewayServicePolicyAndPDB(t *testing.T) {
	d := gatewayDistrict(nil)
	sel := labels.Set(GatewayDeployment(GatewayInput{District: d, Version: "v1"}).Spec.Template.Labels)
	svc := GatewayService(d)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(sel) || svc.Spec.Ports[0].TargetPort.StrVal != "http" || svc.Spec.Ports[0].Port != 80 {
		t.Errorf("service %+v", svc.Spec)
	}
	if GatewayAddress(d) != "http://gateway.wuxiao-gateway.svc" {
		t.Errorf("address %s", GatewayAddress(d))
	}
	pdb := GatewayPodDisruptionBudget(d)
	if !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(sel) || pdb.Spec.MaxUnavailable.IntVal != 1 {
		t.Errorf("pdb %+v", pdb.Spec)
	}
	np := GatewayNetworkPolicy(d, nil)
	if !labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(sel) {
		t.Errorf("network policy selects %v", np.Spec.PodSelector)
	}
	// The front door: no source restriction on the HTTP port; the second
	// rule admits Prometheus to the metrics port (TestPrometheusIngress).
	if len(np.Spec.Ingress) != 2 || len(np.Spec.Ingress[0].From) != 0 || len(np.Spec.Ingress[0].Ports) != 1 ||
		np.Spec.Ingress[0].Ports[0].Port.IntVal != gwapi.HTTPPort || !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("network policy %+v", np.Spec)
	}
}

func TestGatewayIngress(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*wuxiaov1.District)
		none    bool
		hosts   []string // rule hosts; "" is a rule for every host
		class   string
		tls     []string
		url     string
		lb      []networkingv1.IngressLoadBalancerIngress
		annotes map[string]string
	}{
		{name: "not asked", none: true},
		{name: "every host, address from the controller", mutate: func(d *wuxiaov1.District) {
			d.Spec.Gateway.Ingress = &wuxiaov1.GatewayIngressSpec{}
		}, hosts: []string{""}, lb: []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.7"}}, url: "http://203.0.113.7"},
		{name: "every host, no address yet", mutate: func(d *wuxiaov1.District) {
			d.Spec.Gateway.Ingress = &wuxiaov1.GatewayIngressSpec{IngressClassName: "nginx"}
		}, hosts: []string{""}, class: "nginx", url: ""},
		{name: "hosts with TLS, a host in both lists once", mutate: func(d *wuxiaov1.District) {
			d.Spec.Gateway.PublicHosts = []wuxiaov1.GatewayHost{"jiandu.fenghua.gov.cn"}
			d.Spec.Gateway.StaffHosts = []wuxiaov1.GatewayHost{"ganbu.fenghua.gov.cn", "jiandu.fenghua.gov.cn"}
			d.Spec.Gateway.Metadata = &wuxiaov1.ObjectMetaTemplate{Annotations: map[string]string{"note": "x"}}
			d.Spec.Gateway.Ingress = &wuxiaov1.GatewayIngressSpec{IngressClassName: "nginx", TLSSecretName: "jiandu-tls",
				Annotations: map[string]string{"cert-manager.io/cluster-issuer": "gov", "note": "ingress's own"}}
		}, hosts: []string{"jiandu.fenghua.gov.cn", "ganbu.fenghua.gov.cn"}, class: "nginx",
			tls: []string{"jiandu.fenghua.gov.cn", "ganbu.fenghua.gov.cn"}, url: "https://jiandu.fenghua.gov.cn",
			annotes: map[string]string{"cert-manager.io/cluster-issuer": "gov", "note": "ingress's own"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := gatewayDistrict(tc.mutate)
			ing := GatewayIngress(d)
			if tc.none {
				if ing != nil || GatewayURL(d, nil) != "" {
					t.Fatalf("an Ingress nobody asked for: %+v", ing)
				}
				return
			}
			var hosts []string
			for _, r := range ing.Spec.Rules {
				hosts = append(hosts, r.Host)
				p := r.HTTP.Paths[0]
				if p.Path != "/" || *p.PathType != networkingv1.PathTypePrefix || p.Backend.Service.Name != GatewayName || p.Backend.Service.Port.Name != "http" {
					t.Errorf("rule %+v", r)
				}
			}
			if !slices.Equal(hosts, tc.hosts) {
				t.Errorf("hosts %q, want %q", hosts, tc.hosts)
			}
			if got := ptr.Deref(ing.Spec.IngressClassName, ""); got != tc.class {
				t.Errorf("class %q, want %q", got, tc.class)
			}
			if tc.tls == nil && len(ing.Spec.TLS) != 0 || tc.tls != nil && (len(ing.Spec.TLS) != 1 || !slices.Equal(ing.Spec.TLS[0].Hosts, tc.tls) || ing.Spec.TLS[0].SecretName != "jiandu-tls") {
				t.Errorf("tls %+v, want hosts %q", ing.Spec.TLS, tc.tls)
			}
			for k, v := range tc.annotes {
				if ing.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, ing.Annotations[k], v)
				}
			}
			live := ing.DeepCopy()
			live.Status.LoadBalancer.Ingress = tc.lb
			if got := GatewayURL(d, live); got != tc.url {
				t.Errorf("url %q, want %q", got, tc.url)
			}
		})
	}
}
