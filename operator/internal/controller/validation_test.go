package controller

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/testenv"
)

// Updates the schema refuses, with the message a person would act on.
func TestImmutableFieldsAndUpdateRules(t *testing.T) {
	ctx := context.Background()
	d := fixture(t)
	town := newTown(d)
	must(t, k8s.Create(ctx, town))
	v := newVillage(town, "imm", "601")
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: town.NamespaceName()}}))
	must(t, k8s.Create(ctx, v))

	cases := []struct {
		name   string
		obj    client.Object
		change func()
		msg    string
	}{
		{"district code", d, func() { d.Spec.Code = "330281000000" }, "spec.code is immutable"},
		{"town code", town, func() { town.Spec.Code = otherDigit(town.Spec.Code, 8) }, "spec.code is immutable"},
		{"town district", town, func() { town.Spec.District = "elsewhere" }, "spec.district is immutable"},
		{"village code", v, func() { v.Spec.Code = otherDigit(v.Spec.Code, 11) }, "spec.code is immutable"},
		{"two directors", v, func() {
			v.Spec.Officials = append(v.Spec.Officials, wuxiaov1.Official{ID: "dup", Name: "赵六", Role: wuxiaov1.RoleDirector, Phone: "13800000009"})
		}, "at most one director"},
		{"official with no contact", v, func() {
			v.Spec.Officials = append(v.Spec.Officials, wuxiaov1.Official{ID: "mute", Name: "钱七", Role: wuxiaov1.RoleCashier})
		}, "needs a phone or an email"},
		{"threshold order", v, func() {
			v.Spec.Thresholds.RepresentativesResolutionAboveYuan = new(int64(900000))
		}, "must not exceed thresholds.townApprovalAboveYuan"},
		{"bad portal URL", d, func() { d.Spec.PortalBaseURL = "jiandu.example.cn" }, "portalBaseURL must be an absolute http(s) URL"},
		{"bad broker", d, func() { d.Spec.Kafka.BootstrapServers = []string{"kafka"} }, "each bootstrap server must be host:port"},
		{"trusted proxy with host bits", d, func() {
			d.Spec.Network.TrustedProxies = []wuxiaov1.TrustedProxy{"198.18.0.1/32", "10.1.2.3/8"}
		}, "trusted proxy 10.1.2.3/8 must be an IP address or a CIDR without bits set after the prefix length"},
		{"trusted proxy not an address", d, func() { d.Spec.Network.TrustedProxies = []wuxiaov1.TrustedProxy{"ingress.local"} }, "trusted proxy ingress.local must be"},
		// Trusting everyone lets any client pick its rate-limit identity.
		{"trusted proxies every IPv4 address", d, func() {
			d.Spec.Network.TrustedProxies = []wuxiaov1.TrustedProxy{"10.0.0.0/8", "0.0.0.0/0"}
		}, "trusted proxy 0.0.0.0/0 trusts every address"},
		{"trusted proxies every IPv6 address", d, func() { d.Spec.Network.TrustedProxies = []wuxiaov1.TrustedProxy{"::/0"} }, "trusted proxy ::/0 trusts every address"},
		// Any namespace may label a pod app.kubernetes.io/name=prometheus.
		{"Prometheus from every namespace", d, func() {
			d.Spec.Monitoring.PrometheusNamespaceSelector = &metav1.LabelSelector{}
		}, "monitoring.prometheusNamespaceSelector {} would admit pods of every namespace"},
		{"rating rules key", town, func() {
			town.Spec.RatingRulesRef = &wuxiaov1.ConfigMapKeyRef{Namespace: "wuxiao-system", Name: "rules", Key: "rules/yaml"}
		}, "spec.ratingRulesRef.key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			must(t, k8s.Get(ctx, client.ObjectKeyFromObject(tc.obj), tc.obj))
			tc.change()
			err := k8s.Update(ctx, tc.obj)
			if !apierrors.IsInvalid(err) || !contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want Invalid with %q", err, tc.msg)
			}
		})
	}
	// A name that would make an over-long namespace is refused at creation.
	long := newTown(d)
	long.Name = fmt.Sprintf("%055d", 0)
	if err := k8s.Create(ctx, long); !apierrors.IsInvalid(err) || !contains(err.Error(), "at most 54 characters") {
		t.Fatalf("long town name: %v", err)
	}
}

// The shipped samples converge: the catalog validates with 46 items, all 12
// towns become Ready, and every sample village is validated.
func TestSamplesConverge(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: archiveNS, Name: "wuxiao-postgres-admin"},
		Data: map[string][]byte{"password": []byte("x")}}))
	dir := filepath.Join(testenv.RepoRoot(), "config", "samples")
	var villages []client.Object
	for _, f := range []string{"powercatalog.yaml", "district.yaml", "towns.yaml", "villages.yaml"} {
		objs, err := testenv.ReadObjects(filepath.Join(dir, f))
		must(t, err)
		for _, o := range objs {
			if o.GetKind() == "Village" {
				villages = append(villages, o)
				continue // their namespaces come from the operator
			}
			if o.GetKind() == "District" {
				pointAtTestInfra(t, o)
			}
			must(t, k8s.Create(ctx, o))
		}
	}
	eventually(t, 2*wait, func() error {
		towns := &wuxiaov1.TownList{}
		must(t, k8s.List(ctx, towns))
		ready := 0
		for i := range towns.Items {
			tw := &towns.Items[i]
			if tw.Spec.District != "fenghua" {
				continue
			}
			if tw.Status.Namespace != "" {
				kubelet(t, tw.Status.Namespace)
			}
			if isReady(tw.Status.Conditions) {
				ready++
			}
		}
		if ready != 12 {
			return fmt.Errorf("%d of 12 sample towns ready", ready)
		}
		return nil
	})
	for _, v := range villages {
		must(t, k8s.Create(ctx, v))
	}
	// Each village is provisioned for real (Kratos identities for its
	// officials, a QR code, a registration event on Kafka): generous on a
	// loaded 2-core machine.
	eventually(t, 6*wait, func() error {
		ready := 0
		for _, o := range villages {
			v := &wuxiaov1.Village{}
			must(t, k8s.Get(ctx, client.ObjectKeyFromObject(o), v))
			if isReady(v.Status.Conditions) && v.Status.PortalURL != "" {
				ready++
			}
		}
		if ready < len(villages) {
			return fmt.Errorf("%d of %d sample villages ready", ready, len(villages))
		}
		return nil
	})
	cat := &wuxiaov1.PowerCatalog{}
	must(t, k8s.Get(ctx, client.ObjectKey{Name: "fenghua-2020"}, cat))
	if cat.Status.Items != 46 || !isReady(cat.Status.Conditions) {
		t.Errorf("sample catalog: %d items, conditions %+v", cat.Status.Items, cat.Status.Conditions)
	}
	for _, c := range cat.Status.Categories {
		if c.Items == 0 {
			t.Errorf("category %s is empty", c.Category)
		}
	}
	d := &wuxiaov1.District{}
	must(t, k8s.Get(ctx, client.ObjectKey{Name: "fenghua"}, d))
	eventually(t, wait, func() error {
		must(t, k8s.Get(ctx, client.ObjectKey{Name: "fenghua"}, d))
		if d.Status.Towns != 12 || d.Status.ReadyTowns != 12 {
			return fmt.Errorf("district counts %+v", d.Status)
		}
		return nil
	})
	deps := &appsv1.DeploymentList{}
	must(t, k8s.List(ctx, deps, client.InNamespace("town-xikou")))
	if len(deps.Items) != 4 {
		t.Errorf("town-xikou runs %d deployments", len(deps.Items))
	}
}

// pointAtTestInfra points a sample District at the test's PostgreSQL,
// Kafka and Kratos instead of the in-cluster services it names.
func pointAtTestInfra(t *testing.T, o client.Object) {
	t.Helper()
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		t.Fatalf("sample %T is not unstructured", o)
	}
	pg := infraPostgres(t)
	set := func(v any, path ...string) {
		must(t, unstructured.SetNestedField(u.Object, v, append([]string{"spec"}, path...)...))
	}
	set([]any{requireEnv(t, "WUXIAO_TEST_KAFKA_BROKERS")}, "kafka", "bootstrapServers")
	set(requireEnv(t, "WUXIAO_TEST_KRATOS_PUBLIC_URL"), "kratos", "publicURL")
	set(requireEnv(t, "WUXIAO_TEST_KRATOS_ADMIN_URL"), "kratos", "adminURL")
	set(pg.Hostname(), "postgres", "host")
	set(int64(atoi(t, pg.Port())), "postgres", "port")
	set(pg.User.Username(), "postgres", "adminUser")
	set(pg.Query().Get("sslmode"), "postgres", "sslMode")
}

// otherDigit returns code with the digit at i changed, so that a test's
// "changed code" can never equal the original.
func otherDigit(code string, i int) string {
	d := byte('1')
	if code[i] == '1' {
		d = '2'
	}
	return code[:i] + string(d) + code[i+1:]
}
