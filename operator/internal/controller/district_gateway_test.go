package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gwapi "github.com/wuxiao/wuxiao/api/gateway"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// gatewayDistrict creates a valid District (catalog and admin Secret
// included) whose gateway lives in a namespace of its own. The District
// controller provisions nothing on PostgreSQL, Kafka or Kratos, so the
// addresses are never dialled.
func gatewayDistrict(t *testing.T, mutate ...func(*wuxiaov1.District)) *wuxiaov1.District {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("gw%d", seq.Add(1))
	cat := validCatalog("cat-" + name)
	must(t, k8s.Create(ctx, cat))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: archiveNS, Name: "pg-" + name},
		Data: map[string][]byte{"password": []byte("s3cret")}}
	must(t, k8s.Create(ctx, secret))
	d := &wuxiaov1.District{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: wuxiaov1.DistrictSpec{
			Code: "330213000000", DisplayName: "奉化区",
			Kafka:         wuxiaov1.KafkaSpec{BootstrapServers: []string{"kafka.wuxiao-system.svc:9092"}},
			Kratos:        wuxiaov1.KratosSpec{PublicURL: "http://kratos.wuxiao-system.svc:4433", AdminURL: "http://kratos-admin.wuxiao-system.svc:4434"},
			Postgres:      wuxiaov1.PostgresSpec{Host: "postgres.wuxiao-system.svc", AdminPasswordSecret: wuxiaov1.SecretKeyRef{Namespace: archiveNS, Name: secret.Name}},
			Services:      wuxiaov1.ServicesSpec{Version: "v0.1.0"},
			CatalogRef:    cat.Name,
			PortalBaseURL: "https://jiandu.example.cn",
			Gateway:       wuxiaov1.GatewaySpec{Namespace: "wuxiao-gateway-" + name},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	must(t, k8s.Create(ctx, d))
	return d
}

func getDistrict(t *testing.T, d *wuxiaov1.District) *wuxiaov1.District {
	t.Helper()
	got := &wuxiaov1.District{}
	must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(d), got))
	return got
}

// expectGateway checks the GatewayReady condition of the District as it is now.
func expectGateway(t *testing.T, d *wuxiaov1.District, status metav1.ConditionStatus, reason, msg string) error {
	t.Helper()
	got := getDistrict(t, d)
	c := meta.FindStatusCondition(got.Status.Conditions, wuxiaov1.ConditionGatewayReady)
	if c == nil {
		return fmt.Errorf("no GatewayReady condition: %+v", got.Status.Conditions)
	}
	if c.Status != status || c.Reason != reason || !strings.Contains(c.Message, msg) || c.ObservedGeneration != got.Generation {
		return fmt.Errorf("GatewayReady=%s %s %q (generation %d of %d), want %s %s containing %q",
			c.Status, c.Reason, c.Message, c.ObservedGeneration, got.Generation, status, reason, msg)
	}
	return nil
}

// waitGatewayReady plays kubelet for the gateway's namespace until the District says GatewayReady.
func waitGatewayReady(t *testing.T, d *wuxiaov1.District) *wuxiaov1.District {
	t.Helper()
	ns := resources.GatewayNamespaceName(getDistrict(t, d))
	eventually(t, wait, func() error {
		if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: resources.GatewayName}, &appsv1.Deployment{}); err != nil {
			return err
		}
		kubelet(t, ns)
		return expectGateway(t, d, metav1.ConditionTrue, wuxiaov1.ReasonGatewayAvailable, "")
	})
	return getDistrict(t, d)
}

func gatewayKey(d *wuxiaov1.District) types.NamespacedName {
	return types.NamespacedName{Namespace: d.Spec.Gateway.Namespace, Name: resources.GatewayName}
}

func gatewayEnv(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// can asks the API server's authorizer whether the gateway's ServiceAccount may do something.
func can(t *testing.T, d *wuxiaov1.District, verb, group, res, ns string) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:" + d.Spec.Gateway.Namespace + ":" + resources.GatewayName,
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + d.Spec.Gateway.Namespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: res, Namespace: ns},
	}}
	must(t, k8s.Create(context.Background(), sar))
	return sar.Status.Allowed
}

func TestGatewayDeployedForDistrict(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := gatewayDistrict(t, func(d *wuxiaov1.District) {
		d.Spec.Gateway.PublicHosts = []wuxiaov1.GatewayHost{"jiandu.example.cn"}
		d.Spec.Gateway.StaffHosts = []wuxiaov1.GatewayHost{"ganbu.example.cn"}
		d.Spec.Network.TrustedProxies = []wuxiaov1.TrustedProxy{"10.0.0.0/8"}
	})
	key := gatewayKey(d)

	// Until its pods are ready the gateway is not, and the District says why;
	// Ready (the District's references) does not wait for it.
	eventually(t, wait, func() error {
		if err := expectGateway(t, d, metav1.ConditionFalse, wuxiaov1.ReasonGatewayNotReady, "waiting for the gateway (localhost/wuxiao/gateway:v0.1.0) in namespace "+key.Namespace); err != nil {
			return err
		}
		got := getDistrict(t, d)
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionTrue, wuxiaov1.ReasonReconciled)
	})

	ns := &corev1.Namespace{}
	must(t, k8s.Get(ctx, types.NamespacedName{Name: key.Namespace}, ns))
	if ns.Labels[gwapi.StaffGatewayLabel] != "true" {
		t.Errorf("namespace labels %v lack %s=true: the towns' staff services would refuse the gateway", ns.Labels, gwapi.StaffGatewayLabel)
	}
	if ref := metav1.GetControllerOf(ns); ref == nil || ref.Kind != "District" || ref.Name != d.Name {
		t.Errorf("namespace controller %v: it would not go with the District", ref)
	}

	must(t, k8s.Get(ctx, key, &corev1.ServiceAccount{}))
	role := &rbacv1.ClusterRole{}
	must(t, k8s.Get(ctx, types.NamespacedName{Name: "wuxiao-gateway-" + d.Name}, role))
	if ref := metav1.GetControllerOf(role); ref == nil || ref.Name != d.Name {
		t.Errorf("ClusterRole controller %v", ref)
	}
	// What the API server's authorizer lets the gateway do: read towns and
	// endpointslices anywhere, nothing else.
	for _, c := range []struct {
		verb, group, res, ns string
		want                 bool
	}{
		{"list", "wuxiao.io", "towns", "", true},
		{"watch", "wuxiao.io", "towns", "", true},
		{"get", "wuxiao.io", "towns", "", true},
		{"watch", "discovery.k8s.io", "endpointslices", "town-xikou", true},
		{"list", "discovery.k8s.io", "endpointslices", "", true},
		{"update", "wuxiao.io", "towns", "", false},
		{"list", "wuxiao.io", "villages", "town-xikou", false},
		{"get", "", "secrets", "town-xikou", false},
		{"list", "", "pods", "town-xikou", false},
		{"create", "discovery.k8s.io", "endpointslices", "town-xikou", false},
	} {
		if got := can(t, d, c.verb, c.group, c.res, c.ns); got != c.want {
			t.Errorf("gateway may %s %s.%s in %q: %v, want %v", c.verb, c.res, c.group, c.ns, got, c.want)
		}
	}

	dep := &appsv1.Deployment{}
	must(t, k8s.Get(ctx, key, dep))
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Image != "localhost/wuxiao/gateway:v0.1.0" {
		t.Errorf("image %s", c.Image)
	}
	env := gatewayEnv(c)
	for k, v := range map[string]string{
		gwapi.EnvDistrict: d.Name, gwapi.EnvDistrictName: "奉化区", gwapi.EnvKratosPublicURL: "http://kratos.wuxiao-system.svc:4433",
		gwapi.EnvPublicHosts: "jiandu.example.cn", gwapi.EnvStaffHosts: "ganbu.example.cn", gwapi.EnvTrustedProxies: "10.0.0.0/8",
		gwapi.EnvHTTPAddr: ":8080",
	} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if dep.Spec.Template.Spec.ServiceAccountName != resources.GatewayName || *dep.Spec.Replicas != 2 {
		t.Errorf("service account %q replicas %d", dep.Spec.Template.Spec.ServiceAccountName, *dep.Spec.Replicas)
	}
	// The namespace enforces Pod Security "restricted": the gateway's pod
	// is admitted, a privileged one is not (dry runs pass admission).
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: "gateway-psa",
		Labels: dep.Spec.Template.Labels}, Spec: dep.Spec.Template.Spec}
	if err := k8s.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the gateway's pod is refused in its namespace: %v", err)
	}
	bad := pod.DeepCopy()
	bad.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
	bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	if err := k8s.Create(ctx, bad, client.DryRunAll); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
		t.Errorf("a privileged pod in the gateway's namespace: %v, want refused by Pod Security restricted", err)
	}
	svc := &corev1.Service{}
	must(t, k8s.Get(ctx, key, svc))
	if svc.Spec.Ports[0].Port != 80 || svc.Spec.Selector[wuxiaov1.ServiceLabel] != resources.GatewayName {
		t.Errorf("service %+v", svc.Spec)
	}
	must(t, k8s.Get(ctx, key, &policyv1.PodDisruptionBudget{}))
	np := &networkingv1.NetworkPolicy{}
	must(t, k8s.Get(ctx, key, np))
	// (The second rule admits Prometheus to the metrics port.)
	if len(np.Spec.Ingress) != 2 || len(np.Spec.Ingress[0].From) != 0 || np.Spec.Ingress[0].Ports[0].Port.IntVal != gwapi.HTTPPort {
		t.Errorf("network policy ingress %+v: the front door admits everyone on the HTTP port", np.Spec.Ingress)
	}
	if err := k8s.Get(ctx, key, &networkingv1.Ingress{}); !apierrors.IsNotFound(err) {
		t.Errorf("an Ingress nobody asked for: %v", err)
	}

	got := waitGatewayReady(t, d)
	st := got.Status.Gateway
	if st == nil || st.Namespace != key.Namespace || st.Version != "v0.1.0" || st.Replicas != 2 || st.ReadyReplicas != 2 ||
		st.Address != "http://gateway."+key.Namespace+".svc" || st.URL != "" {
		t.Errorf("status.gateway %+v", st)
	}
	if err := expectGateway(t, d, metav1.ConditionTrue, wuxiaov1.ReasonGatewayAvailable, "2/2 replicas of localhost/wuxiao/gateway:v0.1.0 ready"); err != nil {
		t.Error(err)
	}

	// A pod going away shows.
	dep = &appsv1.Deployment{}
	must(t, k8s.Get(ctx, key, dep))
	dep.Status.ReadyReplicas, dep.Status.AvailableReplicas = 1, 1
	must(t, k8s.Status().Update(ctx, dep))
	eventually(t, wait, func() error {
		return expectGateway(t, d, metav1.ConditionFalse, wuxiaov1.ReasonGatewayNotReady, "1 available")
	})
}

func TestGatewayOverridesAndIngress(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := gatewayDistrict(t, func(d *wuxiaov1.District) {
		d.Spec.Gateway.Replicas = ptr.To(int32(3))
		d.Spec.Gateway.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}}
		d.Spec.Gateway.Metadata = &wuxiaov1.ObjectMetaTemplate{Labels: map[string]string{"team": "edge"}}
		d.Spec.Gateway.Placement = &wuxiaov1.PodPlacement{NodeSelector: map[string]string{"zone": "dmz"}}
		d.Spec.Gateway.PublicHosts = []wuxiaov1.GatewayHost{"jiandu.example.cn"}
		d.Spec.Gateway.StaffHosts = []wuxiaov1.GatewayHost{"ganbu.example.cn"}
		d.Spec.Gateway.Ingress = &wuxiaov1.GatewayIngressSpec{IngressClassName: "nginx", TLSSecretName: "jiandu-tls",
			Annotations: map[string]string{"cert-manager.io/cluster-issuer": "gov"}}
	})
	key := gatewayKey(d)
	got := waitGatewayReady(t, d)
	dep := &appsv1.Deployment{}
	must(t, k8s.Get(ctx, key, dep))
	pod := dep.Spec.Template
	if *dep.Spec.Replicas != 3 || !pod.Spec.Containers[0].Resources.Limits.Memory().Equal(resource.MustParse("512Mi")) ||
		dep.Labels["team"] != "edge" || pod.Labels["team"] != "edge" || pod.Spec.NodeSelector["zone"] != "dmz" {
		t.Errorf("overrides not applied: replicas %d resources %v labels %v %v nodeSelector %v", *dep.Spec.Replicas,
			pod.Spec.Containers[0].Resources, dep.Labels, pod.Labels, pod.Spec.NodeSelector)
	}
	ing := &networkingv1.Ingress{}
	must(t, k8s.Get(ctx, key, ing))
	var hosts []string
	for _, r := range ing.Spec.Rules {
		hosts = append(hosts, r.Host)
	}
	if !slices.Equal(hosts, []string{"jiandu.example.cn", "ganbu.example.cn"}) || ptr.Deref(ing.Spec.IngressClassName, "") != "nginx" ||
		len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "jiandu-tls" || ing.Annotations["cert-manager.io/cluster-issuer"] != "gov" ||
		ing.Labels["team"] != "edge" {
		t.Errorf("ingress %+v %+v", ing.ObjectMeta, ing.Spec)
	}
	if got.Status.Gateway.URL != "https://jiandu.example.cn" {
		t.Errorf("status.gateway.url %q", got.Status.Gateway.URL)
	}

	// Fewer hosts: the variable goes (not left at its old value), the
	// Ingress serves every host over plain HTTP, and the URL is what the
	// ingress controller publishes.
	update(t, d, func() {
		d.Spec.Gateway.StaffHosts = nil
		d.Spec.Gateway.PublicHosts = nil
		d.Spec.Gateway.Ingress.TLSSecretName = ""
	})
	eventually(t, wait, func() error {
		must(t, k8s.Get(ctx, key, dep))
		env := gatewayEnv(dep.Spec.Template.Spec.Containers[0])
		if _, ok := env[gwapi.EnvStaffHosts]; ok {
			return fmt.Errorf("%s still set: %v", gwapi.EnvStaffHosts, env)
		}
		must(t, k8s.Get(ctx, key, ing))
		if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "" || len(ing.Spec.TLS) != 0 {
			return fmt.Errorf("ingress rules %+v tls %+v", ing.Spec.Rules, ing.Spec.TLS)
		}
		return nil
	})
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.7"}}
	must(t, k8s.Status().Update(ctx, ing))
	eventually(t, wait, func() error {
		kubelet(t, key.Namespace)
		if u := getDistrict(t, d).Status.Gateway; u == nil || u.URL != "http://203.0.113.7" {
			return fmt.Errorf("status.gateway %+v", u)
		}
		return nil
	})

	// No Ingress asked for: the operator's goes.
	update(t, d, func() { d.Spec.Gateway.Ingress = nil })
	eventually(t, wait, func() error {
		if err := k8s.Get(ctx, key, &networkingv1.Ingress{}); !apierrors.IsNotFound(err) {
			return errors.Join(errors.New("ingress still there"), err)
		}
		if u := getDistrict(t, d).Status.Gateway; u == nil || u.URL != "" {
			return fmt.Errorf("status.gateway %+v", u)
		}
		return nil
	})
}

func TestGatewayCorrectsDrift(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := gatewayDistrict(t)
	key := gatewayKey(d)
	waitGatewayReady(t, d)
	roleKey := types.NamespacedName{Name: "wuxiao-gateway-" + d.Name}

	// Hand edits: another image and an extra variable, a wider role, a
	// narrower front door, an unlabelled namespace, a deleted Service.
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	update(t, dep, func() {
		c := &dep.Spec.Template.Spec.Containers[0]
		c.Image = "evil/gateway:latest"
		c.Env = append(c.Env, corev1.EnvVar{Name: gwapi.EnvTrustedProxies, Value: "10.0.0.0/8"})
	})
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: roleKey.Name}}
	update(t, role, func() {
		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}})
	})
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	update(t, np, func() {
		np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}
	})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: key.Namespace}}
	update(t, ns, func() { ns.Labels[gwapi.StaffGatewayLabel] = "false" })
	must(t, k8s.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}))

	eventually(t, wait, func() error {
		must(t, k8s.Get(ctx, key, dep))
		c := dep.Spec.Template.Spec.Containers[0]
		if _, ok := gatewayEnv(c)[gwapi.EnvTrustedProxies]; ok || c.Image != "localhost/wuxiao/gateway:v0.1.0" {
			return fmt.Errorf("deployment not restored: image %s env %v", c.Image, gatewayEnv(c))
		}
		must(t, k8s.Get(ctx, roleKey, role))
		if len(role.Rules) != 2 {
			return fmt.Errorf("role not restored: %+v", role.Rules)
		}
		must(t, k8s.Get(ctx, key, np))
		if len(np.Spec.Ingress[0].From) != 0 {
			return fmt.Errorf("network policy not restored: %+v", np.Spec.Ingress)
		}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(ns), ns))
		if ns.Labels[gwapi.StaffGatewayLabel] != "true" {
			return fmt.Errorf("namespace labels %v", ns.Labels)
		}
		return k8s.Get(ctx, key, &corev1.Service{})
	})
}

func TestGatewaySteadyStateWritesNothing(t *testing.T) {
	first := startManager(t)
	d := gatewayDistrict(t, func(d *wuxiaov1.District) {
		d.Spec.Gateway.PublicHosts = []wuxiaov1.GatewayHost{"jiandu.example.cn"}
		d.Spec.Gateway.Ingress = &wuxiaov1.GatewayIngressSpec{TLSSecretName: "jiandu-tls"}
		d.Spec.Gateway.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.1")}}
		d.Spec.Network.TrustedProxies = []wuxiaov1.TrustedProxy{"10.0.0.0/8"}
		d.Spec.Telemetry = wuxiaov1.TelemetrySpec{OTLPEndpoint: "http://otel:4318", SamplingRatio: "1"}
	})
	waitGatewayReady(t, d)
	// Districts whose namespace is taken, by another District or by
	// someone else, retry without writing either.
	taken := gatewayDistrict(t, func(o *wuxiaov1.District) { o.Spec.Gateway.Namespace = d.Spec.Gateway.Namespace })
	handMade := fmt.Sprintf("hand-made-%d", seq.Add(1))
	must(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: handMade}}))
	foreign := gatewayDistrict(t, func(o *wuxiaov1.District) { o.Spec.Gateway.Namespace = handMade })
	eventually(t, wait, func() error {
		if err := expectGateway(t, foreign, metav1.ConditionFalse, wuxiaov1.ReasonGatewayNamespaceTaken, "not created by Wuxiao"); err != nil {
			return err
		}
		return expectGateway(t, taken, metav1.ConditionFalse, wuxiaov1.ReasonGatewayNamespaceTaken, "belongs to District "+d.Name)
	})
	if len(first.Writes()) == 0 {
		t.Fatal("the first manager wrote nothing: the counter does not work")
	}
	first.waitQuiet(t, 2*time.Second)
	first.Reset()
	second := startManager(t)
	time.Sleep(3 * time.Second)
	second.mu.Lock()
	gets := second.counts["GET"]
	second.mu.Unlock()
	if gets == 0 {
		t.Fatal("the second manager made no request at all; it did not start")
	}
	if w := second.Writes(); len(w) != 0 {
		t.Errorf("steady state: the restarted operator wrote %d times: %v", len(w), w)
	}
	if w := first.Writes(); len(w) != 0 {
		t.Errorf("steady state: the first manager wrote %d times: %v", len(w), w)
	}
}

func TestGatewayNamespaceTaken(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	owner := gatewayDistrict(t)
	eventually(t, wait, func() error {
		return k8s.Get(ctx, types.NamespacedName{Name: owner.Spec.Gateway.Namespace}, &corev1.Namespace{})
	})
	second := gatewayDistrict(t, func(d *wuxiaov1.District) { d.Spec.Gateway.Namespace = owner.Spec.Gateway.Namespace })
	eventually(t, wait, func() error {
		return expectGateway(t, second, metav1.ConditionFalse, wuxiaov1.ReasonGatewayNamespaceTaken, "belongs to District "+owner.Name)
	})
	// Someone else's namespace is not taken over either.
	handMade := fmt.Sprintf("hand-made-%d", seq.Add(1))
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: handMade}}))
	foreign := gatewayDistrict(t, func(d *wuxiaov1.District) { d.Spec.Gateway.Namespace = handMade })
	eventually(t, wait, func() error {
		return expectGateway(t, foreign, metav1.ConditionFalse, wuxiaov1.ReasonGatewayNamespaceTaken, "already exists and was not created by Wuxiao for this District")
	})
	deps := &appsv1.DeploymentList{}
	must(t, k8s.List(ctx, deps, client.InNamespace(foreign.Spec.Gateway.Namespace)))
	if len(deps.Items) != 0 {
		t.Errorf("the operator deployed into a namespace it does not own")
	}
	// Moving to a namespace of its own fixes it, and the first District's
	// gateway was never touched.
	update(t, second, func() { second.Spec.Gateway.Namespace = "wuxiao-gateway-" + second.Name })
	waitGatewayReady(t, second)
	dep := &appsv1.Deployment{}
	must(t, k8s.Get(ctx, gatewayKey(owner), dep))
	if dep.Spec.Template.Spec.Containers[0].Env[0].Value != owner.Name {
		t.Errorf("the owner's gateway was changed: %v", dep.Spec.Template.Spec.Containers[0].Env)
	}
}

func TestGatewayMovesNamespace(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := gatewayDistrict(t)
	old := d.Spec.Gateway.Namespace
	waitGatewayReady(t, d)
	update(t, d, func() { d.Spec.Gateway.Namespace = old + "-moved" })
	got := waitGatewayReady(t, d)
	if got.Status.Gateway.Namespace != old+"-moved" {
		t.Errorf("status.gateway.namespace %q", got.Status.Gateway.Namespace)
	}
	binding := &rbacv1.ClusterRoleBinding{}
	must(t, k8s.Get(ctx, types.NamespacedName{Name: "wuxiao-gateway-" + d.Name}, binding))
	if binding.Subjects[0].Namespace != old+"-moved" {
		t.Errorf("binding subjects %+v", binding.Subjects)
	}
	// envtest has no namespace controller: deletion shows as a deletion timestamp.
	eventually(t, wait, func() error {
		ns := &corev1.Namespace{}
		if err := k8s.Get(ctx, types.NamespacedName{Name: old}, ns); apierrors.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		if ns.DeletionTimestamp.IsZero() {
			return fmt.Errorf("old namespace %s not being deleted", old)
		}
		return nil
	})
}

func TestGatewayPauses(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := gatewayDistrict(t)
	key := gatewayKey(d)
	waitGatewayReady(t, d)
	image := func() string {
		dep := &appsv1.Deployment{}
		must(t, k8s.Get(ctx, key, dep))
		return dep.Spec.Template.Spec.Containers[0].Image
	}

	// The pause annotation: nothing of the gateway changes.
	patchAnnotation(t, d, wuxiaov1.PausedAnnotation, "true")
	eventually(t, wait, func() error {
		got := getDistrict(t, d)
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionUnknown, wuxiaov1.ReasonPaused)
	})
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	update(t, dep, func() { dep.Spec.Replicas = ptr.To(int32(7)) })
	update(t, d, func() { d.Spec.Services.Version = "v0.2.0" })
	time.Sleep(2 * time.Second)
	must(t, k8s.Get(ctx, key, dep))
	if *dep.Spec.Replicas != 7 || image() != "localhost/wuxiao/gateway:v0.1.0" {
		t.Fatalf("a paused District's gateway was changed: replicas %d image %s", *dep.Spec.Replicas, image())
	}

	// A paused rollout holds the gateway at its version, as it holds the towns.
	update(t, d, func() { d.Spec.Rollout.Paused = true })
	patchAnnotation(t, d, wuxiaov1.PausedAnnotation, "")
	eventually(t, wait, func() error {
		must(t, k8s.Get(ctx, key, dep))
		if *dep.Spec.Replicas != 2 {
			return fmt.Errorf("replicas %d after resume", *dep.Spec.Replicas)
		}
		return nil
	})
	if img := image(); img != "localhost/wuxiao/gateway:v0.1.0" {
		t.Errorf("the gateway moved during a paused rollout: %s", img)
	}
	update(t, d, func() { d.Spec.Rollout.Paused = false })
	eventually(t, wait, func() error {
		if img := image(); img != "localhost/wuxiao/gateway:v0.2.0" {
			return fmt.Errorf("image %s after the rollout resumed", img)
		}
		return nil
	})
	if got := waitGatewayReady(t, d); got.Status.Gateway.Version != "v0.2.0" {
		t.Errorf("status.gateway.version %q", got.Status.Gateway.Version)
	}
}

// The schema's checks of spec.gateway, with messages a person can act on,
// and its defaults.
func TestGatewayValidation(t *testing.T) {
	ctx := context.Background()
	d := gatewayDistrict(t)
	cases := []struct {
		name   string
		change func(*wuxiaov1.District)
		msg    string
	}{
		{"upper-case host", func(d *wuxiaov1.District) { d.Spec.Gateway.PublicHosts = []wuxiaov1.GatewayHost{"Jiandu.example.cn"} },
			"gateway host Jiandu.example.cn must be a lower-case host name"},
		{"host with scheme", func(d *wuxiaov1.District) {
			d.Spec.Gateway.StaffHosts = []wuxiaov1.GatewayHost{"https://ganbu.example.cn"}
		},
			"gateway host https://ganbu.example.cn must be a lower-case host name without scheme, port, path or wildcard"},
		{"wildcard host", func(d *wuxiaov1.District) { d.Spec.Gateway.StaffHosts = []wuxiaov1.GatewayHost{"*.example.cn"} },
			"without scheme, port, path or wildcard"},
		{"town namespace", func(d *wuxiaov1.District) { d.Spec.Gateway.Namespace = "town-xikou" },
			"gateway.namespace town-xikou belongs to a town"},
		{"system namespace", func(d *wuxiaov1.District) { d.Spec.Gateway.Namespace = "kube-system" },
			"gateway.namespace kube-system belongs to a town (town-*) or to Kubernetes itself"},
		{"bad namespace", func(d *wuxiaov1.District) { d.Spec.Gateway.Namespace = "Gateway" }, "gateway.namespace must be a namespace name"},
		{"TLS without hosts", func(d *wuxiaov1.District) {
			d.Spec.Gateway.Ingress = &wuxiaov1.GatewayIngressSpec{TLSSecretName: "jiandu-tls"}
		}, "gateway.ingress.tlsSecretName needs host names"},
		{"bad class", func(d *wuxiaov1.District) {
			d.Spec.Gateway.Ingress = &wuxiaov1.GatewayIngressSpec{IngressClassName: "Nginx!"}
		}, "gateway.ingress.ingressClassName must name an IngressClass"},
		{"negative replicas", func(d *wuxiaov1.District) { d.Spec.Gateway.Replicas = ptr.To(int32(-1)) }, "spec.gateway.replicas"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := getDistrict(t, d)
			tc.change(o)
			err := k8s.Update(ctx, o)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("update: %v, want Invalid containing %q", err, tc.msg)
			}
		})
	}
	// Valid: hosts in both lists, TLS with hosts.
	o := getDistrict(t, d)
	update(t, o, func() {
		o.Spec.Gateway.PublicHosts = []wuxiaov1.GatewayHost{"jiandu.example.cn", "qr.example.cn"}
		o.Spec.Gateway.StaffHosts = []wuxiaov1.GatewayHost{"ganbu.example.cn"}
		o.Spec.Gateway.Ingress = &wuxiaov1.GatewayIngressSpec{IngressClassName: "nginx", TLSSecretName: "jiandu-tls"}
	})

	// A District without a gateway section gets the default namespace:
	// make dev and existing manifests need no edit.
	bare := &wuxiaov1.District{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gwbare%d", seq.Add(1))}, Spec: getDistrict(t, d).Spec}
	bare.Spec.Gateway = wuxiaov1.GatewaySpec{}
	must(t, k8s.Create(ctx, bare))
	if ns := getDistrict(t, bare).Spec.Gateway.Namespace; ns != resources.DefaultGatewayNamespace {
		t.Errorf("default gateway namespace %q", ns)
	}
}
