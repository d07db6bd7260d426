package resources

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/wuxiao/wuxiao/api/settings"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

func input(mutate func(*wuxiaov1.Town, *wuxiaov1.District)) TownInput {
	t := &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "xikou"},
		Spec: wuxiaov1.TownSpec{Code: "330213100000", District: "fenghua"}}
	d := &wuxiaov1.District{ObjectMeta: metav1.ObjectMeta{Name: "fenghua"},
		Spec: wuxiaov1.DistrictSpec{
			Kafka:    wuxiaov1.KafkaSpec{BootstrapServers: []string{"k1:9092", "k2:9092"}},
			Kratos:   wuxiaov1.KratosSpec{PublicURL: "http://kratos:4433", AdminURL: "http://kratos-admin:4434"},
			Services: wuxiaov1.ServicesSpec{ImageRepository: "registry.example.org/wuxiao/", Version: "v1"},
		}}
	if mutate != nil {
		mutate(t, d)
	}
	return TownInput{Town: t, District: d, Catalog: &wuxiaov1.PowerCatalog{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, Version: "v1"}
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func TestDeployment(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*wuxiaov1.Town, *wuxiaov1.District)
		check  func(t *testing.T, in TownInput, c corev1.Container, spec corev1.PodSpec, labels map[string]string, replicas int32)
	}{
		{"defaults", nil, func(t *testing.T, in TownInput, c corev1.Container, spec corev1.PodSpec, labels map[string]string, replicas int32) {
			if c.Image != "registry.example.org/wuxiao/workflow:v1" {
				t.Errorf("image %s", c.Image)
			}
			if replicas != DefaultReplicas || c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("replicas %d pull %s", replicas, c.ImagePullPolicy)
			}
			if env(c, settings.EnvKafkaBrokers) != "k1:9092,k2:9092" || env(c, settings.EnvTownCode) != "330213100000" || env(c, settings.EnvOTLPEndpoint) != "" {
				t.Errorf("env %v", c.Env)
			}
			// /metrics has its own named port (for a PodMonitor), apart from http.
			if env(c, settings.EnvMetricsAddr) != ":9090" || len(c.Ports) != 2 || c.Ports[1].Name != "metrics" || c.Ports[1].ContainerPort != 9090 {
				t.Errorf("metrics port: env %q ports %v", env(c, settings.EnvMetricsAddr), c.Ports)
			}
			// No service talks to Kratos' admin API: a compromised portal must
			// not learn where to mint identities.
			for _, e := range c.Env {
				if strings.Contains(e.Value, "4434") || strings.Contains(e.Name, "ADMIN") {
					t.Errorf("service gets the Kratos admin API: %s=%s", e.Name, e.Value)
				}
			}
			if *c.SecurityContext.RunAsNonRoot != true || *c.SecurityContext.ReadOnlyRootFilesystem != true || *spec.AutomountServiceAccountToken {
				t.Errorf("not locked down: %+v", c.SecurityContext)
			}
		}},
		{"template overrides, operator labels win", func(tw *wuxiaov1.Town, _ *wuxiaov1.District) {
			tw.Spec.Services = []wuxiaov1.ServiceTemplate{{
				Name: wuxiaov1.ServiceWorkflow, Replicas: ptr.To(int32(0)),
				Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
				Metadata:  &wuxiaov1.ObjectMetaTemplate{Labels: map[string]string{"team": "a", wuxiaov1.TownLabel: "hijack"}},
				Placement: &wuxiaov1.PodPlacement{PriorityClassName: "high"},
			}, {Name: wuxiaov1.ServiceDisclosure, Replicas: ptr.To(int32(9))}}
		}, func(t *testing.T, in TownInput, c corev1.Container, spec corev1.PodSpec, labels map[string]string, replicas int32) {
			if replicas != 0 || c.Resources.Limits.Memory().String() != "1Gi" || spec.PriorityClassName != "high" {
				t.Errorf("override lost: replicas %d resources %v priority %q", replicas, c.Resources, spec.PriorityClassName)
			}
			if labels["team"] != "a" || labels[wuxiaov1.TownLabel] != "xikou" {
				t.Errorf("labels %v", labels)
			}
		}},
		{"telemetry from the district", func(_ *wuxiaov1.Town, d *wuxiaov1.District) {
			d.Spec.Telemetry = wuxiaov1.TelemetrySpec{OTLPEndpoint: "http://otel:4318", SamplingRatio: "0.25"}
			d.Spec.Services.ImagePullPolicy = "Never"
		}, func(t *testing.T, in TownInput, c corev1.Container, spec corev1.PodSpec, labels map[string]string, replicas int32) {
			if env(c, settings.EnvOTLPEndpoint) != "http://otel:4318" || env(c, settings.EnvTracesSamplerArg) != "0.25" || c.ImagePullPolicy != corev1.PullNever {
				t.Errorf("env %v pull %s", c.Env, c.ImagePullPolicy)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := input(tc.mutate)
			d := Deployment(in, wuxiaov1.ServiceWorkflow, "hash")
			if d.Spec.Selector.MatchLabels[wuxiaov1.ServiceLabel] != "workflow" || d.Spec.Template.Annotations[CatalogHashAnnotation] != "hash" {
				t.Errorf("selector %v annotations %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Annotations)
			}
			tc.check(t, in, d.Spec.Template.Spec.Containers[0], d.Spec.Template.Spec, d.Labels, *d.Spec.Replicas)
		})
	}
}

func TestNetworkPolicyExposure(t *testing.T) {
	in := input(nil)
	for _, svc := range wuxiaov1.AllServices {
		np := NetworkPolicy(in.District, in.Town, svc, "")
		from := np.Spec.Ingress[0].From
		if svc.IsPublic() != (len(from) == 0) {
			t.Errorf("%s: public=%v but from=%v", svc, svc.IsPublic(), from)
		}
		if !svc.IsPublic() && from[1].NamespaceSelector.MatchLabels[StaffGatewayLabel] != "true" {
			t.Errorf("%s: staff gateway not admitted: %v", svc, from)
		}
	}
}

func TestNamespaceDeletableOnlyWhenAllowed(t *testing.T) {
	in := input(nil)
	if _, ok := Namespace(in.Town).Labels[DeletableLabel]; ok {
		t.Error("a town with the default preventDeletion must not be deletable")
	}
	in.Town.Spec.PreventDeletion = ptr.To(false)
	if Namespace(in.Town).Labels[DeletableLabel] != "true" {
		t.Error("preventDeletion=false must label the namespace deletable")
	}
}

func TestTownAdminBindingSubjects(t *testing.T) {
	in := input(func(tw *wuxiaov1.Town, _ *wuxiaov1.District) {
		tw.Spec.Admins = []wuxiaov1.TownAdmin{{Kind: "User", Name: "li", Namespace: "ignored"}, {Kind: "ServiceAccount", Name: "bot", Namespace: "it"}}
	})
	s := TownAdminBinding(in.Town).Subjects
	if s[0].Namespace != "" || s[0].APIGroup != "rbac.authorization.k8s.io" || s[1].Namespace != "it" || s[1].APIGroup != "" {
		t.Errorf("subjects %+v", s)
	}
}

func TestDistrictViewTown(t *testing.T) {
	town := func(name, district string, deleting bool) wuxiaov1.Town {
		tw := wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: wuxiaov1.TownSpec{District: district}}
		if deleting {
			tw.DeletionTimestamp = ptr.To(metav1.Now())
		}
		return tw
	}
	cases := []struct {
		name  string
		named string
		towns []wuxiaov1.Town
		want  string
	}{
		{"first by name", "", []wuxiaov1.Town{town("xikou", "fenghua", false), town("jinping", "fenghua", false), town("songao", "fenghua", false)}, "jinping"},
		{"a town being deleted is skipped", "", []wuxiaov1.Town{town("xikou", "fenghua", false), town("jinping", "fenghua", true)}, "xikou"},
		{"another district's town is skipped", "", []wuxiaov1.Town{town("xikou", "fenghua", false), town("aaa", "yinzhou", false)}, "xikou"},
		{"named town wins", "xikou", []wuxiaov1.Town{town("xikou", "fenghua", false), town("jinping", "fenghua", false)}, "xikou"},
		{"named town kept even when missing", "yuelin", []wuxiaov1.Town{town("xikou", "fenghua", false)}, "yuelin"},
		{"no towns", "", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := input(func(_ *wuxiaov1.Town, d *wuxiaov1.District) { d.Spec.DistrictView.Town = tc.named })
			if got := DistrictViewTown(in.District, tc.towns); got != tc.want {
				t.Errorf("DistrictViewTown = %q, want %q", got, tc.want)
			}
		})
	}
}

// Only the inspection service learns where the district view runs, and it
// always does: without a town it is told "nobody", never left unset (which
// would make every instance run the projection).
func TestDistrictViewEnv(t *testing.T) {
	for _, tc := range []struct{ view, want string }{
		{"jinping", "jinping"},
		{"", settings.NoDistrictView},
		{settings.NoDistrictView, settings.NoDistrictView},
	} {
		in := input(nil)
		in.DistrictViewTown = tc.view
		for _, svc := range wuxiaov1.AllServices {
			c := Deployment(in, svc, "hash").Spec.Template.Spec.Containers[0]
			var got []string
			for _, e := range c.Env {
				if e.Name == EnvDistrictViewTown {
					got = append(got, e.Value)
				}
			}
			want := 0
			if svc == wuxiaov1.ServiceInspection {
				want = 1
			}
			if len(got) != want || (want == 1 && got[0] != tc.want) {
				t.Errorf("view %q, %s: WUXIAO_DISTRICT_VIEW_TOWN %v, want %q", tc.view, svc, got, tc.want)
			}
			if want == 1 && settings.RunsDistrictView(got[0], "jinping") != (tc.want == "jinping") {
				t.Errorf("view %q: town jinping's instance runs the projection: %v", tc.view, tc.want != "jinping")
			}
		}
	}
}

// The district's trusted proxies reach every service; rating rules only the
// inspection service, and only when there are any.
func TestSettingsEnv(t *testing.T) {
	cases := []struct {
		name        string
		proxies     []wuxiaov1.TrustedProxy
		rules       string
		wantProxies string
	}{
		{"none", nil, "", ""},
		{"both", []wuxiaov1.TrustedProxy{"198.18.0.1/32", "fd00::/8"}, "period: quarter\n", "198.18.0.1/32,fd00::/8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := input(func(_ *wuxiaov1.Town, d *wuxiaov1.District) { d.Spec.Network.TrustedProxies = tc.proxies })
			in.RatingRules = tc.rules
			for _, svc := range wuxiaov1.AllServices {
				c := Deployment(in, svc, "hash").Spec.Template.Spec.Containers[0]
				if got := env(c, EnvTrustedProxies); got != tc.wantProxies {
					t.Errorf("%s: %s=%q, want %q", svc, EnvTrustedProxies, got, tc.wantProxies)
				}
				want := ""
				if svc == wuxiaov1.ServiceInspection {
					want = tc.rules
				}
				if got := env(c, EnvRatingRules); got != want {
					t.Errorf("%s: %s=%q, want %q", svc, EnvRatingRules, got, want)
				}
			}
		})
	}
}
