package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	wx "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The benchmark's district. Names and codes are illustrative.
const (
	districtName    = "fenghua"
	districtCode    = "330213000000"
	catalogName     = "fenghua-2020"
	catalogVersion  = "2020.1"
	systemNamespace = "wuxiao-system"
	secretName      = "postgres-admin" //nolint:gosec // G101: the Secret's name, not a credential
	serviceVersion  = "v0.1.0"
	portalBaseURL   = "https://jiandu.fenghua.gov.cn"
	imageRepository = "localhost/wuxiao"
)

// layout says which villages go in which town.
type layout struct {
	Towns    int
	Villages int
}

// townName, townCode: the i-th town (0-based).
func townName(i int) string { return fmt.Sprintf("t%03d", i+1) }
func townCode(i int) string { return fmt.Sprintf("330213%03d000", 100+i+1) }

// villagesIn returns how many villages town i gets: as even a split as can be.
func (l layout) villagesIn(i int) int {
	n := l.Villages / l.Towns
	if i < l.Villages%l.Towns {
		n++
	}
	return n
}

func (l layout) validate() error {
	if l.Towns < 1 || l.Villages < 0 {
		return fmt.Errorf("need at least one town")
	}
	if l.Towns > 899 {
		return fmt.Errorf("at most 899 towns fit in one district's codes")
	}
	if l.villagesIn(0) > 999 {
		return fmt.Errorf("%d villages over %d towns puts %d in a town, but a town's village codes run from 001 to 999: use at least %d towns",
			l.Villages, l.Towns, l.villagesIn(0), (l.Villages+998)/999)
	}
	return nil
}

func villageName(j int) string { return fmt.Sprintf("v%03d", j+1) }

// villageCode: the j-th village (0-based) of town i.
func villageCode(i, j int) string { return townCode(i)[:9] + fmt.Sprintf("%03d", j+1) }

func newSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: secretName},
		// hack/postgres.sh trusts local connections: the operator needs the
		// Secret to exist, the password itself is never checked.
		StringData: map[string]string{"password": "bench-not-a-secret"}, //nolint:gosec // G101: see above
	}
}

func newCatalog() *wx.PowerCatalog {
	item := func(id, name string, cat wx.Category) wx.PowerItem {
		return wx.PowerItem{
			ID: id, Name: name, Category: cat,
			Basis: []string{"《中华人民共和国村民委员会组织法》"},
			Steps: []wx.Step{
				{ID: "proposal", Name: "提议", Handler: "村党组织", Role: "secretary", Method: "书面提议", Next: []string{"joint-meeting"}},
				{ID: "joint-meeting", Name: "两委联席会议商议", Handler: "村两委", Role: "director", Method: "会议表决",
					TimeLimit: &wx.TimeLimit{Days: 10, Calendar: "working"}},
			},
			Controls: []wx.Control{
				{ID: "order-check", Step: "joint-meeting", Type: wx.ControlOrder, Description: "须先提议后商议", Norm: "due-process"},
			},
			Norms: []wx.Norm{
				{ID: "due-process", Text: "重大事项须经两委联席会议商议", Basis: "《中国共产党农村基层组织工作条例》"},
			},
		}
	}
	return &wx.PowerCatalog{
		ObjectMeta: metav1.ObjectMeta{Name: catalogName},
		Spec: wx.PowerCatalogSpec{
			Version: catalogVersion,
			Title:   "奉化区村级小微权力清单（基准测试用）",
			Items: []wx.PowerItem{
				item("decision-major-matters", "村级重大事项决策", wx.CategoryDecision),
				item("funds-expenditure", "村级财务开支", wx.CategoryFunds),
			},
		},
	}
}

// newDistrict points the district at the real PostgreSQL, Kafka and Kratos
// hack/infra.sh runs (the operator provisions a database and topics per
// town and publishes every village's registration), read from the
// environment bench-scale.sh exports.
func newDistrict() (*wx.District, error) {
	env := map[string]string{}
	for _, k := range []string{"WUXIAO_TEST_POSTGRES_URL", "WUXIAO_TEST_KAFKA_BROKERS", "WUXIAO_TEST_KRATOS_PUBLIC_URL", "WUXIAO_TEST_KRATOS_ADMIN_URL"} {
		if env[k] = os.Getenv(k); env[k] == "" {
			return nil, fmt.Errorf("%s is not set: run through hack/bench-scale.sh (it starts hack/infra.sh)", k)
		}
	}
	pg, err := url.Parse(env["WUXIAO_TEST_POSTGRES_URL"])
	if err != nil {
		return nil, fmt.Errorf("WUXIAO_TEST_POSTGRES_URL: %w", err)
	}
	port, err := strconv.ParseUint(pg.Port(), 10, 16)
	if err != nil {
		return nil, fmt.Errorf("WUXIAO_TEST_POSTGRES_URL port: %w", err)
	}
	return &wx.District{
		ObjectMeta: metav1.ObjectMeta{Name: districtName},
		Spec: wx.DistrictSpec{
			Code:        districtCode,
			DisplayName: "奉化区",
			Kafka:       wx.KafkaSpec{BootstrapServers: strings.Split(env["WUXIAO_TEST_KAFKA_BROKERS"], ","), Partitions: 1, ReplicationFactor: 1},
			Kratos: wx.KratosSpec{
				PublicURL: env["WUXIAO_TEST_KRATOS_PUBLIC_URL"],
				AdminURL:  env["WUXIAO_TEST_KRATOS_ADMIN_URL"],
			},
			Postgres: wx.PostgresSpec{
				Host:                pg.Hostname(),
				Port:                int32(port),
				AdminUser:           pg.User.Username(),
				SSLMode:             "disable",
				AdminPasswordSecret: wx.SecretKeyRef{Namespace: systemNamespace, Name: secretName, Key: "password"},
			},
			Services:      wx.ServicesSpec{Version: serviceVersion},
			CatalogRef:    catalogName,
			PortalBaseURL: portalBaseURL,
		},
	}, nil
}

func newTown(i int) *wx.Town {
	kind := wx.TownKindTown
	if i%3 == 2 {
		kind = wx.TownKindSubdistrict
	}
	return &wx.Town{
		ObjectMeta: metav1.ObjectMeta{Name: townName(i)},
		Spec: wx.TownSpec{
			District:    districtName,
			Code:        townCode(i),
			Kind:        kind,
			DisplayName: fmt.Sprintf("基准镇%03d", i+1),
			Admins:      []wx.TownAdmin{{Kind: "User", Name: fmt.Sprintf("it@%s.example.org", townName(i))}},
		},
	}
}

func newVillage(i, j int) *wx.Village {
	v := &wx.Village{
		ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(townName(i)), Name: villageName(j)},
		Spec: wx.VillageSpec{
			Code:        villageCode(i, j),
			Kind:        wx.VillageKindVillage,
			DisplayName: fmt.Sprintf("基准村%03d", j+1),
		},
	}
	for k := range officialsPerVillage {
		v.Spec.Officials = append(v.Spec.Officials, wx.Official{
			ID: fmt.Sprintf("official-%d", k+1), Name: fmt.Sprintf("干部%d", k+1), Role: officialRoles[k%len(officialRoles)],
			// Unique per run: the shared Kratos keeps identities from earlier runs,
			// which the operator would adopt (an update) instead of create.
			Email: fmt.Sprintf("o%d.%s.%s@bench.wuxiao.invalid", k+1, v.Spec.Code, officialsRun),
		})
	}
	return v
}

// officialsPerVillage officials are listed in each village (-officials):
// the operator then provisions a real Kratos identity and a first sign-in
// code for each. The baseline program does not (see README), so runs with
// officials are operator-only. officialsRun keeps their logins unique.
var (
	officialsPerVillage int
	officialsRun        string
	officialRoles       = []wx.OfficialRole{wx.RoleDirector, wx.RoleAccountant, wx.RoleSecretary, wx.RoleLiaisonOfficer}
)

// The objects below are what the baseline program creates for a town: the
// same kinds and counts the operator generates (namespace, Role, RoleBinding,
// catalog ConfigMap, and per service a Deployment, Service, PDB and
// NetworkPolicy), with contents of a similar size.

func townLabels(town string) map[string]string {
	return map[string]string{wx.TownLabel: town, wx.ManagedByLabel: wx.ManagedByValue}
}

func serviceLabels(town string, svc wx.ServiceName) map[string]string {
	l := townLabels(town)
	l[wx.ServiceLabel] = string(svc)
	l["app.kubernetes.io/name"] = string(svc)
	return l
}

func baselineNamespace(i int) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: wx.TownNamespace(townName(i)), Labels: townLabels(townName(i))}}
}

func baselineRole(i int) *rbacv1.Role {
	t := townName(i)
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(t), Name: "wuxiao-town-admin", Labels: townLabels(t)},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{wx.GroupVersion.Group}, Resources: []string{"villages"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{wx.GroupVersion.Group}, Resources: []string{"villages/status"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
}

func baselineRoleBinding(i int) *rbacv1.RoleBinding {
	t := townName(i)
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(t), Name: "wuxiao-town-admin", Labels: townLabels(t)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "wuxiao-town-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: fmt.Sprintf("it@%s.example.org", t)}},
	}
}

func baselineConfigMap(i int) (*corev1.ConfigMap, error) {
	t := townName(i)
	data, err := json.Marshal(newCatalog().Spec)
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(t), Name: "wuxiao-catalog", Labels: townLabels(t)},
		Data:       map[string]string{"catalog.json": string(data), "version": catalogVersion},
	}, nil
}

func baselineDeployment(i int, svc wx.ServiceName) *appsv1.Deployment {
	t := townName(i)
	l := serviceLabels(t, svc)
	sel := map[string]string{wx.TownLabel: t, wx.ServiceLabel: string(svc)}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(t), Name: string(svc), Labels: l},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:            string(svc),
						Image:           fmt.Sprintf("%s/%s:%s", imageRepository, svc, serviceVersion),
						ImagePullPolicy: corev1.PullIfNotPresent,
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Env: []corev1.EnvVar{
							{Name: "WUXIAO_TOWN", Value: t},
							{Name: "WUXIAO_TOWN_CODE", Value: townCode(i)},
							{Name: "WUXIAO_KAFKA_BROKERS", Value: "kafka.wuxiao-system.svc:9092"},
							{Name: "WUXIAO_KRATOS_PUBLIC_URL", Value: "http://kratos.wuxiao-system.svc:4433"},
							{Name: "WUXIAO_PORTAL_BASE_URL", Value: portalBaseURL},
						},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}}},
						LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
					}},
				},
			},
		},
	}
}

func baselineService(i int, svc wx.ServiceName) *corev1.Service {
	t := townName(i)
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(t), Name: string(svc), Labels: serviceLabels(t, svc)},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{wx.TownLabel: t, wx.ServiceLabel: string(svc)},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
}

func baselinePDB(i int, svc wx.ServiceName) *policyv1.PodDisruptionBudget {
	t := townName(i)
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(t), Name: string(svc), Labels: serviceLabels(t, svc)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &one,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{wx.TownLabel: t, wx.ServiceLabel: string(svc)}},
		},
	}
}

func baselineNetworkPolicy(i int, svc wx.ServiceName) *networkingv1.NetworkPolicy {
	t := townName(i)
	from := []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}
	if svc.IsPublic() {
		from = nil // anyone may reach the public pages
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(t), Name: string(svc), Labels: serviceLabels(t, svc)},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{wx.TownLabel: t, wx.ServiceLabel: string(svc)}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: from, Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromString("http"))}}}},
		},
	}
}
