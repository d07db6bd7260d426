package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DistrictSpec describes the shared infrastructure of one district (区) and
// the defaults its towns inherit.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.code) || self.code == oldSelf.code",message="spec.code is immutable: the district's administrative division code cannot change; create a new District instead"
type DistrictSpec struct {
	// Code is the district's 12-digit administrative division code
	// (统计用区划代码), for Fenghua 330213000000. Every town's code starts
	// with its first 6 digits.
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{12}$')",message="code must be a 12-digit administrative division code, e.g. 330213000000"
	// +kubebuilder:validation:XValidation:rule="self.endsWith('000000')",message="a district's code ends in 000000 (only its first 6 digits are significant), e.g. 330213000000"
	// +kubebuilder:validation:MaxLength=12
	Code string `json:"code"`

	// DisplayName is the district's name as people know it, e.g. 奉化区.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	DisplayName string `json:"displayName"`

	// Kafka is the event bus every town's services share.
	Kafka KafkaSpec `json:"kafka"`

	// Kratos is the district's identity server (one per district).
	Kratos KratosSpec `json:"kratos"`

	// Postgres is the district's database server; the operator creates one
	// database and role per town with the admin credentials.
	Postgres PostgresSpec `json:"postgres"`

	// Telemetry says where services send traces and metrics.
	// +optional
	Telemetry TelemetrySpec `json:"telemetry,omitempty"`

	// Services says which build of the four services towns run.
	Services ServicesSpec `json:"services"`

	// CatalogRef names the PowerCatalog towns use unless they override it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CatalogRef string `json:"catalogRef"`

	// PortalBaseURL is the public address villagers reach the portal at;
	// a village's portal is <portalBaseURL>/v/<village code>, and its QR
	// code encodes that address.
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))",message="portalBaseURL must be an absolute http(s) URL, e.g. https://jiandu.fenghua.gov.cn"
	// +kubebuilder:validation:MaxLength=2048
	PortalBaseURL string `json:"portalBaseURL"`

	// Rollout controls how a change of service version reaches the towns.
	// +optional
	// +kubebuilder:default={}
	Rollout RolloutSpec `json:"rollout,omitempty"`

	// Network says how clients reach the towns' services.
	// +optional
	Network NetworkSpec `json:"network,omitempty"`

	// RatingRulesRef names the rating rules (YAML or JSON, see the
	// inspection service's README) towns use unless they override them.
	// Without it, towns use the built-in rules. Missing or invalid rules
	// are not rolled out: each Town keeps its last good rules and reports
	// the problem in its condition RatingRulesValid, nothing else stops.
	// +optional
	RatingRulesRef *ConfigMapKeyRef `json:"ratingRulesRef,omitempty"`

	// CalendarRef names the working-day calendar (YAML or JSON: the lists
	// holidays and workdays of YYYY-MM-DD dates, see api/workcalendar) the
	// towns' workflow services count working-day time limits by, on top of
	// the State Council's schedule they carry (github.com/6tail/lunar-go):
	// a date listed here overrides or extends it. Without it, the official
	// schedule alone. The ConfigMap may be in any namespace the reference
	// names. The operator validates the calendar and hands it to each
	// town's workflow service, which applies a change within about a
	// minute, without a restart. A missing or invalid calendar is not
	// handed over: each Town keeps its last good calendar and reports the
	// problem in its condition CalendarValid, nothing else stops.
	// +optional
	CalendarRef *ConfigMapKeyRef `json:"calendarRef,omitempty"`

	// DistrictView says which town's inspection service builds the
	// district overview (every town's grades, coverage, orders).
	// +optional
	DistrictView DistrictViewSpec `json:"districtView,omitempty"`

	// Gateway configures the district gateway, the one way in for the
	// public (portals, reports, Open311) and for staff (sign-in, console).
	// The operator runs it once per District; every field has a default,
	// so an empty section (or none) gives a working gateway reachable
	// inside the cluster.
	// +optional
	// +kubebuilder:default={}
	Gateway GatewaySpec `json:"gateway,omitempty"`

	// Monitoring says which Prometheus may scrape the towns' services and
	// the district gateway: their NetworkPolicies admit its pods to the
	// metrics port (9090) and nothing else there. The defaults fit the
	// Prometheus Operator's Prometheus in namespace "monitoring".
	// +optional
	Monitoring MonitoringSpec `json:"monitoring,omitempty"`

	// Discipline names the district's discipline commission as it signs
	// notices and orders, and their document numbers' prefix
	// (discipline_types.go); every field has a default.
	// +optional
	Discipline *DisciplineSpec `json:"discipline,omitempty"`

	// Notifications are the outbound channels (e-mail over SMTP, DingTalk
	// robots) through which every town's inspection service delivers
	// notifications besides the console inbox (notifications_types.go).
	// +optional
	Notifications *NotificationsSpec `json:"notifications,omitempty"`

	// Groups are the district's 片组 (综合片组, scopes_types.go): each a
	// set of towns one standing-committee member and discipline group
	// oversee. A district official whose identity names a group
	// (metadata_public.group) sees only that group's towns; the operator
	// tells every town's services their town's group (WUXIAO_TOWN_GROUP)
	// and the gateway the whole map.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(g, self.exists_one(h, h.name == g.name))",message="片组 names must be unique: two groups have the same name; rename one"
	// +kubebuilder:validation:XValidation:rule="self.all(g, g.towns.all(t, self.exists_one(h, t in h.towns)))",message="a town can be in one 片组 only: one of the towns is listed under two groups; remove it from all but one"
	Groups []DistrictGroup `json:"groups,omitempty"`
}

// MonitoringSpec selects the Prometheus pods admitted to the metrics port of
// the towns' services and of the district gateway. A Prometheus on a node's
// host network is not a pod: whether the node reaches its pods is the
// network plugin's business (most admit it, as the local cluster's agent
// does).
// +kubebuilder:validation:XValidation:rule="!has(self.prometheusNamespaceSelector) || (has(self.prometheusNamespaceSelector.matchLabels) && size(self.prometheusNamespaceSelector.matchLabels) > 0) || (has(self.prometheusNamespaceSelector.matchExpressions) && size(self.prometheusNamespaceSelector.matchExpressions) > 0)",message="monitoring.prometheusNamespaceSelector {} would admit pods of every namespace to the services' metrics port; name Prometheus' namespace, e.g. matchLabels: {kubernetes.io/metadata.name: monitoring}"
type MonitoringSpec struct {
	// PrometheusNamespaceSelector selects the namespaces Prometheus runs
	// in. Defaults to the namespace "monitoring"
	// (kubernetes.io/metadata.name: monitoring).
	// +optional
	PrometheusNamespaceSelector *metav1.LabelSelector `json:"prometheusNamespaceSelector,omitempty"`
	// PrometheusPodSelector selects Prometheus' pods in those namespaces.
	// Defaults to app.kubernetes.io/name: prometheus, the label the
	// Prometheus Operator gives them; {} admits every pod of those
	// namespaces.
	// +optional
	PrometheusPodSelector *metav1.LabelSelector `json:"prometheusPodSelector,omitempty"`
}

// The Prometheus a District admits by default (spec.monitoring).
const (
	DefaultPrometheusNamespace = "monitoring"
	DefaultPrometheusPodLabel  = "app.kubernetes.io/name"
	DefaultPrometheusPodValue  = "prometheus"
)

// GatewaySpec configures the district gateway. Trusted proxies in front of
// it are spec.network.trustedProxies, the same list the towns' services
// use; its version and images are spec.services'.
// +kubebuilder:validation:XValidation:rule="!has(self.ingress) || !has(self.ingress.tlsSecretName) || (has(self.publicHosts) && size(self.publicHosts) > 0) || (has(self.staffHosts) && size(self.staffHosts) > 0)",message="gateway.ingress.tlsSecretName needs host names to serve the certificate for: list them in gateway.publicHosts and/or gateway.staffHosts, e.g. publicHosts: [jiandu.fenghua.gov.cn]"
type GatewaySpec struct {
	// Namespace the gateway runs in. The operator creates it and labels
	// it wuxiao.io/staff-gateway=true, which the towns' staff services'
	// NetworkPolicies admit. One District per namespace: a second District
	// naming the same namespace reports GatewayReady=False
	// (GatewayNamespaceTaken). Changing it moves the gateway: the old
	// namespace, and everything in it, is deleted.
	// +optional
	// +kubebuilder:default=wuxiao-gateway
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="gateway.namespace must be a namespace name (a DNS label: lower case letters, digits and '-'), e.g. wuxiao-gateway"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('town-') && !(self in ['default', 'kube-system', 'kube-public', 'kube-node-lease'])",messageExpression="'gateway.namespace ' + self + ' belongs to a town (town-*) or to Kubernetes itself; the gateway needs a namespace of its own, e.g. wuxiao-gateway'"
	Namespace string `json:"namespace,omitempty"`

	// PublicHosts are the host names the public pages (village portals,
	// reports, complaint tracking, Open311) answer on, e.g.
	// jiandu.fenghua.gov.cn; normally the host of spec.portalBaseURL.
	// Empty: every host serves them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	PublicHosts []GatewayHost `json:"publicHosts,omitempty"`

	// StaffHosts are the host names sign-in (/auth) and the staff console
	// (/console) answer on, e.g. ganbu.fenghua.gov.cn. Empty: every host
	// serves them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	StaffHosts []GatewayHost `json:"staffHosts,omitempty"`

	// Replicas of the gateway's Deployment. Defaults to 2, so that a node
	// drain never closes the district's only door (the PDB keeps one up).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=50
	Replicas *int32 `json:"replicas,omitempty"`
	// Resources of the gateway container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// Metadata added to the Deployment, its pods, the Service, the PDB,
	// the NetworkPolicy and the Ingress.
	// +optional
	Metadata *ObjectMetaTemplate `json:"metadata,omitempty"`
	// Placement of the pods.
	// +optional
	Placement *PodPlacement `json:"placement,omitempty"`

	// Ingress exposes the gateway through an Ingress of the gateway's
	// namespace, with one rule per host (or one rule for every host when
	// none is listed). Without it the gateway is a ClusterIP Service,
	// for a load balancer or Gateway API route set up by hand.
	// +optional
	Ingress *GatewayIngressSpec `json:"ingress,omitempty"`
}

// GatewayHost is a host name the gateway answers on: lower case, no
// scheme, port, path or wildcard.
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",messageExpression="'gateway host ' + self + ' must be a lower-case host name without scheme, port, path or wildcard, e.g. jiandu.fenghua.gov.cn'"
type GatewayHost string

// GatewayIngressSpec is the Ingress in front of the gateway.
type GatewayIngressSpec struct {
	// IngressClassName names the ingress controller; empty: the cluster's
	// default IngressClass.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="gateway.ingress.ingressClassName must name an IngressClass (lower case letters, digits, '-' and '.'), e.g. nginx"
	IngressClassName string `json:"ingressClassName,omitempty"`
	// TLSSecretName is a kubernetes.io/tls Secret in the gateway's
	// namespace whose certificate covers every public and staff host;
	// empty: plain HTTP (terminate TLS in front of the ingress instead).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="gateway.ingress.tlsSecretName must name a Secret (lower case letters, digits, '-' and '.'), e.g. jiandu-tls"
	TLSSecretName string `json:"tlsSecretName,omitempty"`
	// Annotations of the Ingress, for the ingress controller or
	// cert-manager (e.g. cert-manager.io/cluster-issuer).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// DistrictViewSpec places the district overview. One town's inspection
// service consumes every town's inspection and tenant streams into its
// district projection; the others do not, and answer district staff with
// the town to ask. Only one consumer of every town's topics: one in each
// town would open towns x topics x partitions Kafka connections per town.
type DistrictViewSpec struct {
	// Town is the name of the Town whose inspection service builds the
	// district overview, normally the seat of the district's discipline
	// commission (区纪委监委), e.g. jinping. Empty: the district's first
	// town by name that is not being deleted, which moves when a town that
	// sorts earlier is added; the new seat then rebuilds the projection
	// from the topics, complete only as far as Kafka retains them, so name
	// the town explicitly in production. A town named here that does not
	// exist (yet) leaves the district without an overview.
	// +optional
	// +kubebuilder:validation:MaxLength=58
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="districtView.town must be the name of a Town (a DNS label of at most 54 characters), e.g. jinping"
	Town string `json:"town,omitempty"`
}

// NetworkSpec says how clients reach the towns' services.
type NetworkSpec struct {
	// TrustedProxies are the reverse proxies (the ingress controller, a
	// gateway) in front of the public portals: the services believe the
	// X-Forwarded-For header only from these addresses, and rate-limit each
	// client by the address found there. Without them every client looks
	// like the proxy, and one abusive client throttles a whole village.
	// List only proxies that overwrite or append to X-Forwarded-For.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	TrustedProxies []TrustedProxy `json:"trustedProxies,omitempty"`
}

// TrustedProxy is an IP address or a CIDR, e.g. 10.0.0.0/8 or 198.18.0.1/32.
// A prefix of length 0 (0.0.0.0/0, ::/0) is refused: trusting every address
// would let any client choose, in X-Forwarded-For, the address it is
// rate-limited by. The CEL IP and CIDR library needs Kubernetes 1.31.
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:XValidation:rule="isIP(self) || (isCIDR(self) && cidr(self) == cidr(self).masked())",messageExpression="'trusted proxy ' + self + ' must be an IP address or a CIDR without bits set after the prefix length, e.g. 10.0.0.0/8, 198.18.0.1/32 or fd00::/8 (write 10.1.2.3/8 as 10.0.0.0/8)'"
// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self).prefixLength() > 0",messageExpression="'trusted proxy ' + self + ' trusts every address: any client could then choose the address it is rate-limited by (X-Forwarded-For); list the addresses or subnets of the proxies themselves, e.g. 10.0.0.0/8'"
type TrustedProxy string

// KafkaSpec locates the Kafka cluster and sets topic defaults.
type KafkaSpec struct {
	// BootstrapServers as host:port.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.all(s, s.matches('^[A-Za-z0-9.-]+:[0-9]{1,5}$') || s.matches('^\\\\[[0-9a-fA-F:]+\\\\]:[0-9]{1,5}$'))",message="each bootstrap server must be host:port, e.g. kafka.wuxiao-system.svc:9092"
	BootstrapServers []string `json:"bootstrapServers"`
	// Partitions of each town topic.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	Partitions int32 `json:"partitions,omitempty"`
	// ReplicationFactor of each town topic.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=7
	ReplicationFactor int32 `json:"replicationFactor,omitempty"`
}

// KratosSpec locates the Ory Kratos identity server.
type KratosSpec struct {
	// PublicURL is Kratos's public API (sessions, login flows).
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="kratos.publicURL must be an absolute URL, e.g. http://kratos.wuxiao-system.svc:4433"
	// +kubebuilder:validation:MaxLength=2048
	PublicURL string `json:"publicURL"`
	// AdminURL is Kratos's admin API (identities). Keep it inside the cluster.
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="kratos.adminURL must be an absolute URL, e.g. http://kratos-admin.wuxiao-system.svc:4434"
	// +kubebuilder:validation:MaxLength=2048
	AdminURL string `json:"adminURL"`
}

// PostgresSpec locates the PostgreSQL server and its admin credentials.
type PostgresSpec struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`
	// +optional
	// +kubebuilder:default=5432
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
	// AdminUser that may create databases and roles.
	// +optional
	// +kubebuilder:default=postgres
	// +kubebuilder:validation:MaxLength=63
	AdminUser string `json:"adminUser,omitempty"`
	// AdminPasswordSecret holds the admin user's password.
	AdminPasswordSecret SecretKeyRef `json:"adminPasswordSecret"`
	// SSLMode for every connection.
	// +optional
	// +kubebuilder:default=prefer
	// +kubebuilder:validation:Enum=disable;allow;prefer;require;verify-ca;verify-full
	SSLMode string `json:"sslMode,omitempty"`
}

// TelemetrySpec configures OpenTelemetry export for the services.
type TelemetrySpec struct {
	// OTLPEndpoint receives traces and metrics over OTLP/HTTP. Empty turns
	// export off.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || isURL(self)",message="telemetry.otlpEndpoint must be an absolute URL, e.g. http://otel-collector.monitoring.svc:4318"
	// +kubebuilder:validation:MaxLength=2048
	OTLPEndpoint string `json:"otlpEndpoint,omitempty"`
	// SamplingRatio of traces, 0 to 1, as a decimal string. Defaults to "1".
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0(\\\\.[0-9]+)?|1(\\\\.0+)?)$')",message="telemetry.samplingRatio must be a decimal between 0 and 1, e.g. \"0.25\""
	// +kubebuilder:validation:MaxLength=12
	SamplingRatio string `json:"samplingRatio,omitempty"`
}

// ServicesSpec names the container images of the four services.
type ServicesSpec struct {
	// ImageRepository is the prefix of the images; the workflow service runs
	// <imageRepository>/workflow:<version>.
	// +optional
	// +kubebuilder:default="localhost/wuxiao"
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]+([._/:-][a-z0-9]+)*$')",message="imageRepository must look like registry.example.org/wuxiao (lower case, no tag)"
	ImageRepository string `json:"imageRepository,omitempty"`
	// Version is the image tag every town runs, subject to the rollout.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]*$')",message="services.version must be a valid image tag, e.g. v0.1.0"
	Version string `json:"version"`
	// ImagePullPolicy of the service containers.
	// +optional
	// +kubebuilder:default=IfNotPresent
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
}

// RolloutSpec makes a new service version reach the district town by town:
// towns in wave N move only after every town in a lower wave counts as
// upgraded, so one bad release cannot take all towns down at once. A town
// counts as upgraded once its new pods are Ready and then, for soakTime,
// answer no more than maxErrorRatio of their HTTP requests with a 5xx
// status, as read from the pods' own metrics. A town that fails halts the
// rollout: later waves stay at their version, the District reports
// RolloutHalted=True and status.rollout.haltedVersion, until
// spec.services.version changes (a fixed release, or back to the last
// good one).
type RolloutSpec struct {
	// Paused stops every town from moving to a new version; towns already
	// on it stay there.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// SoakTime is how long a town's new pods must serve, Ready, with an
	// error ratio at most maxErrorRatio before the next wave moves, e.g.
	// 5m, 90s or 1h. 0s: a town counts as upgraded as soon as it is Ready
	// (no metrics are read). Defaults to 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+)$') && duration(self) <= duration('24h')",message="rollout.soakTime must be a duration of at most 24h with a unit, e.g. 5m, 90s or 1h30m (0s: no soak)"
	SoakTime *metav1.Duration `json:"soakTime,omitempty"`
	// MaxErrorRatio is the largest share of a service's HTTP requests
	// during the soak that may fail with a 5xx status, a decimal between 0
	// and 1 as a string, e.g. "0.05" for 5%. It applies to each of the
	// town's four services on its own. A soak without any request passes:
	// no traffic is no evidence of errors. Defaults to "0.05".
	// +optional
	// +kubebuilder:default="0.05"
	// +kubebuilder:validation:MaxLength=12
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0(\\\\.[0-9]+)?|1(\\\\.0+)?)$')",message="rollout.maxErrorRatio must be a decimal between 0 and 1 as a string, e.g. \"0.05\" for 5%"
	MaxErrorRatio string `json:"maxErrorRatio,omitempty"`
}

// DistrictRolloutStatus says which rollout, if any, is halted.
type DistrictRolloutStatus struct {
	// HaltedVersion is the spec.services.version whose rollout a town's
	// gate halted.
	HaltedVersion string `json:"haltedVersion"`
	// HaltedTowns are the towns that failed the gate at that version.
	// +listType=set
	HaltedTowns []string `json:"haltedTowns"`
}

// The condition RolloutHalted, on a District, is True while a town failed
// the rollout gate (spec.rollout) at spec.services.version: towns of later
// waves keep their version. It clears when spec.services.version changes.
// It does not change Ready. Alert on it.
const (
	ConditionRolloutHalted = "RolloutHalted"
	// ReasonRolloutProceeding (False): no town failed the gate at the
	// current version.
	ReasonRolloutProceeding = "RolloutProceeding"
	// ReasonErrorRatioExceeded (True): a service of a town answered more
	// than maxErrorRatio of its requests with 5xx during the soak.
	ReasonErrorRatioExceeded = "ErrorRatioExceeded"
	// ReasonProgressDeadlineExceeded (True): a new Deployment of a town did
	// not become available within its progress deadline (10 minutes).
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// ReasonMetricsUnavailable (True): the pods' metrics could not be read
	// at the end of the soak (nor for a minute after), so the gate cannot
	// say the version is good.
	ReasonMetricsUnavailable = "MetricsUnavailable"
)

// DistrictStatus is the observed state of a District.
type DistrictStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Towns that name this district.
	// +optional
	Towns int32 `json:"towns"`
	// ReadyTowns among them.
	// +optional
	ReadyTowns int32 `json:"readyTowns"`
	// TownsOnVersion counts towns whose services all run spec.services.version.
	// +optional
	TownsOnVersion int32 `json:"townsOnVersion"`
	// DistrictViewTown is the town whose inspection service builds the
	// district overview (spec.districtView.town or its default); empty
	// when no town of the district does.
	// +optional
	DistrictViewTown string `json:"districtViewTown,omitempty"`
	// Gateway is the district gateway as last seen.
	// +optional
	Gateway *GatewayStatus `json:"gateway,omitempty"`
	// Rollout is set while the rollout of spec.services.version is halted
	// (condition RolloutHalted).
	// +optional
	Rollout *DistrictRolloutStatus `json:"rollout,omitempty"`
}

// GatewayStatus is the observed state of the district gateway.
type GatewayStatus struct {
	// Namespace the gateway runs in.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Version of the gateway image the Deployment is set to run.
	// +optional
	Version string `json:"version,omitempty"`
	// Replicas wanted, and ReadyReplicas among them.
	// +optional
	Replicas int32 `json:"replicas"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`
	// Address is the gateway's Service inside the cluster, e.g.
	// http://gateway.wuxiao-gateway.svc.
	// +optional
	Address string `json:"address,omitempty"`
	// URL is where people reach the gateway through the Ingress: its
	// first public host (else its first staff host), else the address the
	// ingress controller published; empty without an Ingress, or until the
	// controller publishes one.
	// +optional
	URL string `json:"url,omitempty"`
}

// The condition GatewayReady, on a District, says whether the district
// gateway runs its desired version with every replica ready. It does not
// change Ready (which is about the District's references and towns): towns
// keep working inside the cluster without it. Alert on it: while it is
// False, nobody outside the cluster gets in.
const (
	ConditionGatewayReady = "GatewayReady"
	// ReasonGatewayAvailable (True): every replica is updated and ready.
	ReasonGatewayAvailable = "GatewayAvailable"
	// ReasonGatewayNotReady (False): the Deployment is rolling out or
	// some replica is not ready; the message counts them.
	ReasonGatewayNotReady = "GatewayNotReady"
	// ReasonGatewayNamespaceTaken (False): spec.gateway.namespace exists
	// and is not this District's gateway namespace (another District's,
	// or created by hand); the message names its owner.
	ReasonGatewayNamespaceTaken = "GatewayNamespaceTaken"
)

// District is one district (区) and the infrastructure its towns share.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=dist,categories=wuxiao
// +kubebuilder:printcolumn:name="Code",type=string,JSONPath=`.spec.code`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.services.version`
// +kubebuilder:printcolumn:name="Towns",type=integer,JSONPath=`.status.towns`
// +kubebuilder:printcolumn:name="Ready Towns",type=integer,JSONPath=`.status.readyTowns`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Gateway",type=string,JSONPath=`.status.conditions[?(@.type=="GatewayReady")].status`,priority=1
// +kubebuilder:printcolumn:name="Halted",type=string,JSONPath=`.status.rollout.haltedVersion`,priority=1
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.gateway.url`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type District struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DistrictSpec   `json:"spec"`
	Status DistrictStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// DistrictList is a list of Districts.
type DistrictList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []District `json:"items"`
}

func init() {
	register(&District{}, &DistrictList{})
}
