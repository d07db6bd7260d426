// Package resources builds the Kubernetes objects the operator generates for
// a town. The builders are pure: they take the Town, its District and the
// resolved catalog and return desired objects; the controllers decide whether
// anything needs writing.
package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/wuxiao/wuxiao/api/settings"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

// Names of generated objects.
const (
	CatalogConfigMapName = wuxiaov1.CatalogConfigMapName
	CatalogFileKey       = wuxiaov1.CatalogFileKey
	CatalogMountPath     = wuxiaov1.CatalogMountPath
	VillageAdminRoleName = "wuxiao-village-admin"
	TownAdminBindingName = "wuxiao-town-admins"
	// DatabaseSecretName holds the URL (key "url") of the town's migration
	// role, which owns the town's database: only the Deployments' init
	// containers read it. Each service's own URL is in
	// DatabaseSecretFor(service) (see database.go).
	DatabaseSecretName  = "wuxiao-database"
	DatabaseSecretKey   = "url"
	DatabasePasswordKey = "password"
	// IDHashKeySecretName keys the hashes of ID numbers (workflow,
	// disclosure, inspection: WUXIAO_ID_HASH_KEY); ChallengeKeySecretName signs the
	// proof-of-work challenges of the complaint intake and the workflow's
	// application form (WUXIAO_CHALLENGE_KEY).
	// Both are generated once per town and never rotated by the operator:
	// a new hash key would make every stored hash unmatchable.
	IDHashKeySecretName    = settings.IDHashKeySecretName
	ChallengeKeySecretName = settings.ChallengeKeySecretName
	// AuditKeySecretName keys the workflow's audit chain (workflow and
	// inspection, which verifies it: WUXIAO_AUDIT_KEY); generated once, never
	// rotated by the operator.
	AuditKeySecretName    = settings.AuditKeySecretName
	SecretKeyKey          = settings.SecretKeyKey
	DeletableLabel        = "wuxiao.io/deletable"
	CatalogHashAnnotation = "wuxiao.io/catalog-hash"
	// VersionLabel on a Deployment records the service version it runs; the
	// rollout reads it back, so it survives a lost status.
	VersionLabel = "app.kubernetes.io/version"
	HTTPPort     = settings.HTTPPort
	// MetricsPort serves /metrics apart from the HTTP port, so that neither
	// the gateway nor the internet reaches it (services/internal/httpapi).
	MetricsPort     = settings.MetricsPort
	DefaultReplicas = int32(2)
	// RunAsUser is the non-root uid of the service images (distroless "nonroot").
	RunAsUser = int64(65532)
	// The settings the operator's code and tests look for in the
	// Deployments it builds (all named in api/settings): the rating rules'
	// content, the district view's town, the trusted proxies, the database
	// URL, the init container's mode and the role it grants, the audit key.
	EnvRatingRules      = settings.EnvRatingRules
	EnvDistrictViewTown = settings.EnvDistrictViewTown
	EnvTrustedProxies   = settings.EnvTrustedProxies
	EnvDatabaseURL      = settings.EnvDatabaseURL
	EnvMigrateOnly      = settings.EnvMigrateOnly
	EnvDatabaseAppRole  = settings.EnvDatabaseAppRole
	EnvAuditKey         = settings.EnvAuditKey
	// MigrateContainerName is the Deployments' init container.
	MigrateContainerName = "migrate"
)

// TownInput is everything the builders need about one town.
type TownInput struct {
	Town     *wuxiaov1.Town
	District *wuxiaov1.District
	Catalog  *wuxiaov1.PowerCatalog
	// Version of the services to run: the district's, unless a rollout wave
	// holds the town back.
	Version string
	// RatingRules is the content (YAML or JSON) of the town's rating rules,
	// already validated; empty means the inspection service's built-in ones.
	RatingRules string
	// DistrictViewTown is the town whose inspection service builds the
	// district overview (DistrictViewTown of the town's district, if that
	// town exists); empty or settings.NoDistrictView when no town does.
	DistrictViewTown string
}

// DistrictViewTown decides which of a district's towns builds the district
// overview: spec.districtView.town when set (even if no such town exists:
// then none does), else the first by name of towns, skipping those being
// deleted. towns are the district's towns, in any order.
func DistrictViewTown(d *wuxiaov1.District, towns []wuxiaov1.Town) string {
	if t := d.Spec.DistrictView.Town; t != "" {
		return t
	}
	first := ""
	for i := range towns {
		t := &towns[i]
		if t.Spec.District == d.Name && t.DeletionTimestamp == nil && (first == "" || t.Name < first) {
			first = t.Name
		}
	}
	return first
}

// Labels common to every object generated for a town.
func TownLabels(town string) map[string]string {
	return map[string]string{
		wuxiaov1.TownLabel:          town,
		wuxiaov1.ManagedByLabel:     wuxiaov1.ManagedByValue,
		"app.kubernetes.io/part-of": "wuxiao",
	}
}

// SelectorLabels select one service's pods; they never change.
func SelectorLabels(town string, svc wuxiaov1.ServiceName) map[string]string {
	return map[string]string{wuxiaov1.TownLabel: town, wuxiaov1.ServiceLabel: string(svc)}
}

func serviceLabels(town string, svc wuxiaov1.ServiceName) map[string]string {
	l := TownLabels(town)
	l[wuxiaov1.ServiceLabel] = string(svc)
	l["app.kubernetes.io/name"] = string(svc)
	l["app.kubernetes.io/instance"] = town + "-" + string(svc)
	return l
}

// Namespace is the town's namespace. It carries DeletableLabel only while the
// Town allows deletion; an admission policy refuses deleting it otherwise.
func Namespace(t *wuxiaov1.Town) *corev1.Namespace { return townNamespace(t, t.NamespaceName()) }

// RecoveryNamespace holds the town's first sign-in codes, for its admins to
// hand over (RecoveryReaderRole); protected from deletion like Namespace.
func RecoveryNamespace(t *wuxiaov1.Town) *corev1.Namespace {
	return townNamespace(t, t.RecoveryNamespaceName())
}

func townNamespace(t *wuxiaov1.Town, name string) *corev1.Namespace {
	l := TownLabels(t.Name)
	if !t.DeletionPrevented() {
		l[DeletableLabel] = "true"
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

// The first sign-in codes of a town's new officials and liaison cadres, for
// its admins to hand over, are Secrets of its recovery namespace: one per
// village (VillageRecoverySecretName, keys: official ids) and one for the
// liaison cadres (keys: cadre ids). One Secret per village keeps each write
// the size of one village: a single Secret of the whole town was rewritten
// whole for every village onboarded (quadratic in villages) and would pass
// the API server's 1 MiB limit near 3,000 officials.
const (
	LiaisonRecoverySecretName = "liaison-cadres"
	RecoveryReaderRoleName    = "wuxiao-recovery-reader"
	// LegacyRecoverySecretName is the Secret of the town's namespace that
	// held every code before; the operator moves its entries to the
	// recovery namespace and deletes it.
	LegacyRecoverySecretName = "wuxiao-official-recovery"
)

// VillageRecoverySecretName is the Secret of the village with the given code
// in its town's recovery namespace.
func VillageRecoverySecretName(code string) string { return "village-" + code }

// RecoverySecret is a Secret of the town's recovery namespace.
func RecoverySecret(t *wuxiaov1.Town, name string, data map[string][]byte) *corev1.Secret {
	s := Secret(t, name, data)
	s.Namespace = t.RecoveryNamespaceName()
	return s
}

// RecoveryReaderRole lets the town's admins read the codes in the recovery
// namespace, where nothing else is.
func RecoveryReaderRole(t *wuxiaov1.Town) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: RecoveryReaderRoleName, Namespace: t.RecoveryNamespaceName(), Labels: TownLabels(t.Name)},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
}

// RecoveryReaderBinding binds the Town's admins to RecoveryReaderRole.
func RecoveryReaderBinding(t *wuxiaov1.Town) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: TownAdminBindingName, Namespace: t.RecoveryNamespaceName(), Labels: TownLabels(t.Name)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: RecoveryReaderRoleName},
		Subjects:   adminSubjects(t),
	}
}

// VillageAdminRole lets its subjects manage Village objects in the town's
// namespace and read what the operator publishes there for them.
func VillageAdminRole(t *wuxiaov1.Town) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: VillageAdminRoleName, Namespace: t.NamespaceName(), Labels: TownLabels(t.Name)},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{wuxiaov1.GroupVersion.Group}, Resources: []string{"villages"},
				Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{wuxiaov1.GroupVersion.Group}, Resources: []string{"villages/status"},
				Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
}

// TownAdminBinding binds the Town's admins to VillageAdminRole.
func TownAdminBinding(t *wuxiaov1.Town) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: TownAdminBindingName, Namespace: t.NamespaceName(), Labels: TownLabels(t.Name)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: VillageAdminRoleName},
		Subjects:   adminSubjects(t),
	}
}

func adminSubjects(t *wuxiaov1.Town) []rbacv1.Subject {
	subjects := make([]rbacv1.Subject, 0, len(t.Spec.Admins))
	for _, a := range t.Spec.Admins {
		s := rbacv1.Subject{Kind: a.Kind, Name: a.Name, Namespace: a.Namespace}
		if a.Kind != rbacv1.ServiceAccountKind {
			s.APIGroup = rbacv1.GroupName
			s.Namespace = ""
		}
		subjects = append(subjects, s)
	}
	return subjects
}

// CatalogConfigMap holds the town's resolved catalog as JSON, and returns its
// hash so that a catalog change rolls the services.
func CatalogConfigMap(in TownInput) (*corev1.ConfigMap, string, error) {
	doc, err := json.MarshalIndent(wuxiaov1.ResolvedCatalog{Name: in.Catalog.Name, PowerCatalogSpec: in.Catalog.Spec}, "", "  ")
	if err != nil {
		return nil, "", fmt.Errorf("encoding catalog %s: %w", in.Catalog.Name, err)
	}
	sum := sha256.Sum256(doc)
	hash := hex.EncodeToString(sum[:8])
	labels := TownLabels(in.Town.Name)
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: CatalogConfigMapName, Namespace: in.Town.NamespaceName(), Labels: labels,
			Annotations: map[string]string{CatalogHashAnnotation: hash, "wuxiao.io/catalog": in.Catalog.Name + "@" + in.Catalog.Spec.Version},
		},
		Data: map[string]string{CatalogFileKey: string(doc)},
	}, hash, nil
}

// ObjectName is the name of every object generated for one service.
func ObjectName(svc wuxiaov1.ServiceName) string { return string(svc) }

// Image of a service at a version.
func Image(d *wuxiaov1.District, svc wuxiaov1.ServiceName, version string) string {
	repo := d.Spec.Services.ImageRepository
	if repo == "" {
		repo = "localhost/wuxiao"
	}
	return strings.TrimSuffix(repo, "/") + "/" + string(svc) + ":" + version
}

func withTemplateMeta(base map[string]string, extra map[string]string) map[string]string {
	out := map[string]string{}
	maps.Copy(out, extra)
	maps.Copy(out, base) // the operator's own labels win
	return out
}

// Deployment of one service of a town. Every field the API server would
// default is set explicitly, so that comparing desired with actual detects
// drift without false positives (no write in steady state).
func Deployment(in TownInput, svc wuxiaov1.ServiceName, catalogHash string) *appsv1.Deployment {
	t, d := in.Town, in.District
	tmpl := t.Spec.ServiceFor(svc)
	meta := tmpl.Metadata
	if meta == nil {
		meta = &wuxiaov1.ObjectMetaTemplate{}
	}
	labels := withTemplateMeta(serviceLabels(t.Name, svc), meta.Labels)
	labels[VersionLabel] = in.Version
	podAnnotations := withTemplateMeta(map[string]string{CatalogHashAnnotation: catalogHash}, meta.Annotations)
	replicas := Replicas(t, svc)
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	if tmpl.Resources != nil {
		resources = *tmpl.Resources
	}
	securityContext := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(RunAsUser),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	catalogMount := []corev1.VolumeMount{{Name: "catalog", MountPath: CatalogMountPath, ReadOnly: true}}
	pod := corev1.PodSpec{
		// The init container migrates the service's schema as the town's
		// migration role and grants the service's own role its privileges
		// (services/internal/platform, Migrate); the serving container only
		// ever holds the service's own role.
		InitContainers: []corev1.Container{{
			Name:                     MigrateContainerName,
			Image:                    Image(d, svc, in.Version),
			ImagePullPolicy:          pullPolicy(d),
			Env:                      migrateEnv(in, svc),
			Resources:                resources,
			VolumeMounts:             catalogMount,
			SecurityContext:          securityContext,
			TerminationMessagePath:   corev1.TerminationMessagePathDefault,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}},
		Containers: []corev1.Container{{
			Name:            "service",
			Image:           Image(d, svc, in.Version),
			ImagePullPolicy: pullPolicy(d),
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP}},
			Env:                      serviceEnv(in, svc),
			Resources:                resources,
			ReadinessProbe:           httpProbe("/readyz", 3),
			LivenessProbe:            httpProbe("/healthz", 6),
			VolumeMounts:             catalogMount,
			SecurityContext:          securityContext,
			TerminationMessagePath:   corev1.TerminationMessagePathDefault,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}},
		Volumes: []corev1.Volume{{Name: "catalog", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: CatalogConfigMapName},
			DefaultMode:          ptr.To(corev1.ConfigMapVolumeSourceDefaultMode),
		}}}},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptr.To(int64(30)),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SchedulerName:                 corev1.DefaultSchedulerName,
		SecurityContext:               &corev1.PodSecurityContext{},
		// The services talk to Kafka, PostgreSQL and Kratos, never to the API server.
		AutomountServiceAccountToken: ptr.To(false),
	}
	if svc == wuxiaov1.ServiceWorkflow { // the working-day calendar (calendar.go)
		pod.Containers[0].VolumeMounts = append(slices.Clone(catalogMount), calendarVolumeMount())
		pod.Volumes = append(pod.Volumes, calendarVolumeSource())
	}
	if svc == wuxiaov1.ServiceInspection { // the notification channels (notify.go)
		pod.Containers[0].VolumeMounts = append(slices.Clone(catalogMount), notifyVolumeMount())
		pod.Volumes = append(pod.Volumes, notifyVolumeSource())
	}
	if p := tmpl.Placement; p != nil {
		pod.NodeSelector = p.NodeSelector
		pod.Tolerations = p.Tolerations
		pod.Affinity = p.Affinity
		pod.PriorityClassName = p.PriorityClassName
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(svc), Namespace: t.NamespaceName(), Labels: labels, Annotations: meta.Annotations},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(t.Name, svc)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations},
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

func serviceEnv(in TownInput, svc wuxiaov1.ServiceName) []corev1.EnvVar {
	t, d := in.Town, in.District
	env := []corev1.EnvVar{
		{Name: settings.EnvService, Value: string(svc)},
		{Name: settings.EnvDistrict, Value: d.Name},
		{Name: settings.EnvTown, Value: t.Name},
		{Name: settings.EnvTownCode, Value: t.Spec.Code},
		{Name: settings.EnvCatalogFile, Value: CatalogMountPath + "/" + CatalogFileKey},
		{Name: settings.EnvPortalBaseURL, Value: d.Spec.PortalBaseURL},
		{Name: settings.EnvMetricsAddr, Value: ":" + strconv.Itoa(MetricsPort)},
		// The service's own role (see database.go), never the migration role.
		{Name: EnvDatabaseURL, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: DatabaseSecretFor(svc)}, Key: DatabaseSecretKey}}},
		{Name: settings.EnvKafkaBrokers, Value: strings.Join(d.Spec.Kafka.BootstrapServers, ",")},
		{Name: settings.EnvKratosPublicURL, Value: d.Spec.Kratos.PublicURL},
		{Name: settings.EnvOTelServiceName, Value: "wuxiao-" + string(svc)},
		{Name: settings.EnvOTelResourceAttrs, Value: "wuxiao.town=" + t.Name + ",wuxiao.district=" + d.Name},
	}
	if g := d.Spec.GroupOf(t.Name); g != "" {
		// The town's 片组: district officials limited to another group are
		// refused by every service (services/internal/identity). Unset when
		// the town is in none, so a district without groups keeps its pods.
		env = append(env, corev1.EnvVar{Name: settings.EnvTownGroup, Value: g})
	}
	secretEnv := func(name, secret string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: SecretKeyKey}}}
	}
	switch svc {
	case wuxiaov1.ServiceWorkflow, wuxiaov1.ServiceDisclosure, wuxiaov1.ServiceInspection:
		env = append(env, secretEnv(settings.EnvIDHashKey, IDHashKeySecretName))
	case wuxiaov1.ServiceComplaint:
		env = append(env, secretEnv(settings.EnvChallengeKey, ChallengeKeySecretName))
	}
	if svc == wuxiaov1.ServiceWorkflow {
		// The application form's proof of work, under the same key (each
		// service signs in its own domain, so one's challenge is no proof
		// at the other).
		env = append(env, secretEnv(settings.EnvChallengeKey, ChallengeKeySecretName))
	}
	if svc == wuxiaov1.ServiceWorkflow || svc == wuxiaov1.ServiceInspection {
		env = append(env, secretEnv(EnvAuditKey, AuditKeySecretName))
	}
	if svc == wuxiaov1.ServiceInspection {
		// Only the named town's instance consumes every town's streams
		// into the district projection; the others name it to district
		// staff. Always set: unset would make every instance run the
		// projection (a lone instance's default), so "no town" is said
		// explicitly.
		view := in.DistrictViewTown
		if view == "" {
			view = settings.NoDistrictView
		}
		env = append(env, corev1.EnvVar{Name: EnvDistrictViewTown, Value: view})
	}
	if svc == wuxiaov1.ServiceInspection {
		// Who signs the notices and orders, and how they are numbered
		// (District and Town spec.discipline, defaults resolved here).
		env = append(env,
			corev1.EnvVar{Name: settings.EnvTownName, Value: t.Spec.DisplayName},
			corev1.EnvVar{Name: settings.EnvDistrictIssuer, Value: d.DisciplineAuthority()},
			corev1.EnvVar{Name: settings.EnvTownIssuer, Value: t.DisciplineAuthority()},
			corev1.EnvVar{Name: settings.EnvDocumentPrefix, Value: wuxiaov1.DocumentPrefix(d, t)})
	}
	if svc == wuxiaov1.ServiceWorkflow {
		env = append(env, corev1.EnvVar{Name: settings.EnvCalendarFile, Value: CalendarMountPath + "/" + CalendarFileKey})
	}
	if svc == wuxiaov1.ServiceInspection {
		env = append(env, notifyEnv(d)...)
	}
	if svc == wuxiaov1.ServiceInspection && in.RatingRules != "" {
		env = append(env, corev1.EnvVar{Name: EnvRatingRules, Value: in.RatingRules})
	}
	if p := d.Spec.Network.TrustedProxies; len(p) > 0 {
		proxies := make([]string, len(p))
		for i, c := range p {
			proxies[i] = string(c)
		}
		env = append(env, corev1.EnvVar{Name: EnvTrustedProxies, Value: strings.Join(proxies, ",")})
	}
	if ep := d.Spec.Telemetry.OTLPEndpoint; ep != "" {
		env = append(env, corev1.EnvVar{Name: settings.EnvOTLPEndpoint, Value: ep})
	}
	if r := d.Spec.Telemetry.SamplingRatio; r != "" {
		env = append(env,
			corev1.EnvVar{Name: settings.EnvTracesSampler, Value: settings.TracesSamplerRatioArg},
			corev1.EnvVar{Name: settings.EnvTracesSamplerArg, Value: r})
	}
	return env
}

// migrateEnv is the init container's environment: the service's, so that
// its configuration validates alike, with the migration role's URL instead
// of the service's, the migrate-only mode and the role to grant.
func migrateEnv(in TownInput, svc wuxiaov1.ServiceName) []corev1.EnvVar {
	env := serviceEnv(in, svc)
	for i := range env {
		if env[i].Name == EnvDatabaseURL {
			env[i].ValueFrom = &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: DatabaseSecretName}, Key: DatabaseSecretKey}}
		}
	}
	return append(env,
		corev1.EnvVar{Name: EnvMigrateOnly, Value: "true"},
		corev1.EnvVar{Name: EnvDatabaseAppRole, Value: provision.ServiceRole(in.Town.Name, string(svc))})
}

// Service exposes one service's HTTP port inside the cluster.
func Service(t *wuxiaov1.Town, svc wuxiaov1.ServiceName) *corev1.Service {
	meta := metaTemplate(t, svc)
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(svc), Namespace: t.NamespaceName(),
			Labels: withTemplateMeta(serviceLabels(t.Name, svc), meta.Labels), Annotations: meta.Annotations},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(t.Name, svc),
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"),
				Protocol: corev1.ProtocolTCP}},
		},
	}
}

// PodDisruptionBudget keeps at least one replica up during voluntary
// disruptions (node drains), so a village's portal never goes dark.
func PodDisruptionBudget(t *wuxiaov1.Town, svc wuxiaov1.ServiceName) *policyv1.PodDisruptionBudget {
	meta := metaTemplate(t, svc)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(svc), Namespace: t.NamespaceName(),
			Labels: withTemplateMeta(serviceLabels(t.Name, svc), meta.Labels), Annotations: meta.Annotations},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: SelectorLabels(t.Name, svc)},
		},
	}
}

// StaffGatewayLabel marks namespaces whose pods (a staff ingress gateway) may
// reach the staff-only services of every town.
const StaffGatewayLabel = "wuxiao.io/staff-gateway"

func metaTemplate(t *wuxiaov1.Town, svc wuxiaov1.ServiceName) wuxiaov1.ObjectMetaTemplate {
	if m := t.Spec.ServiceFor(svc).Metadata; m != nil {
		return *m
	}
	return wuxiaov1.ObjectMetaTemplate{}
}

// Secret is an Opaque Secret of the town with the given data.
func Secret(t *wuxiaov1.Town, name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: t.NamespaceName(), Labels: TownLabels(t.Name)},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// QRConfigMapName is the ConfigMap of a village's QR code.
func QRConfigMapName(village string) string { return "qr-" + village }

// QR ConfigMap keys.
const (
	QRPNGKey            = "qr.png"
	QRSVGKey            = "qr.svg"
	PortalURLAnnotation = "wuxiao.io/portal-url"
)

// QRConfigMap holds a village's QR code as PNG (binaryData) and SVG (data).
func QRConfigMap(v *wuxiaov1.Village, town string, png []byte, svg string) *corev1.ConfigMap {
	l := TownLabels(town)
	l[wuxiaov1.VillageLabel] = v.Spec.Code
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: QRConfigMapName(v.Name), Namespace: v.Namespace, Labels: l,
			Annotations: map[string]string{PortalURLAnnotation: v.Status.PortalURL}},
		Data:       map[string]string{QRSVGKey: svg},
		BinaryData: map[string][]byte{QRPNGKey: png},
	}
}

// httpProbe checks path on the container's "http" port: every Wuxiao
// binary serves /readyz and /healthz there.
func httpProbe(path string, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
		TimeoutSeconds: 2, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: failures,
	}
}

// pullPolicy is the District's image pull policy, IfNotPresent by default.
func pullPolicy(d *wuxiaov1.District) corev1.PullPolicy {
	if p := corev1.PullPolicy(d.Spec.Services.ImagePullPolicy); p != "" {
		return p
	}
	return corev1.PullIfNotPresent
}
