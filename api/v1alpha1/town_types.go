package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TownKind distinguishes towns (镇) from subdistricts (街道); both are town
// tenants with the same services.
// +kubebuilder:validation:Enum=town;subdistrict
type TownKind string

const (
	TownKindTown        TownKind = "town"
	TownKindSubdistrict TownKind = "subdistrict"
)

// TownSpec describes one town tenant: a namespace of its own, the four
// services, and the people who may onboard its villages.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.code) || self.code == oldSelf.code",message="spec.code is immutable: a town's administrative division code cannot change; create a new Town instead"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.district) || self.district == oldSelf.district",message="spec.district is immutable: a town cannot move to another district"
// +kubebuilder:validation:XValidation:rule="!has(self.liaisonCadres) || size(self.code) < 9 || self.liaisonCadres.all(c, c.villages.all(v, v.startsWith(self.code.substring(0, 9))))",messageExpression="'liaison cadres may be assigned only to villages of this town, whose codes start with ' + self.code.substring(0, 9) + '; one of the cadres names a village of another town'"
type TownSpec struct {
	// District names the District this town belongs to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	District string `json:"district"`

	// Code is the town's 12-digit administrative division code: the
	// district's 6 digits, 3 for the town, then 000, e.g. 330213100000.
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{12}$')",message="code must be a 12-digit administrative division code, e.g. 330213100000"
	// +kubebuilder:validation:XValidation:rule="self.endsWith('000') && !self.endsWith('000000')",message="a town's code has 9 significant digits followed by 000 (e.g. 330213100000); digits 7-9 name the town and cannot be 000"
	// +kubebuilder:validation:MaxLength=12
	Code string `json:"code"`

	// Kind is town (镇) or subdistrict (街道).
	Kind TownKind `json:"kind"`

	// DisplayName is the town's name, e.g. 溪口镇.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	DisplayName string `json:"displayName"`

	// Admins may create, change and delete Village objects in the town's
	// namespace, and nowhere else (town IT staff).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Admins []TownAdmin `json:"admins,omitempty"`

	// Services overrides what the operator generates per service, one entry
	// per service name; services without an entry get the defaults.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	Services []ServiceTemplate `json:"services,omitempty"`

	// CatalogRef overrides the district's PowerCatalog for this town.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CatalogRef string `json:"catalogRef,omitempty"`

	// RatingRulesRef overrides the district's rating rules for this town: a
	// ConfigMap key holding the rules (YAML or JSON) that the inspection
	// service grades the town's villages by. The operator validates them
	// first; missing or invalid rules are not rolled out: the inspection
	// service keeps the last good rules, the rest of the town is reconciled
	// as usual (Ready is unaffected), and the condition RatingRulesValid
	// turns False (reason RatingRulesNotFound or RatingRulesInvalid) with a
	// Warning event.
	// +optional
	RatingRulesRef *ConfigMapKeyRef `json:"ratingRulesRef,omitempty"`

	// CalendarRef overrides the district's working-day calendar for this
	// town (see District spec.calendarRef): a ConfigMap key holding the
	// holidays and adjusted working days (YAML or JSON) over the State
	// Council's schedule. A missing or invalid calendar is not handed over:
	// the workflow service keeps the last good one, the rest of the town is
	// reconciled as usual (Ready is unaffected), and the condition
	// CalendarValid turns False (reason CalendarNotFound or CalendarInvalid,
	// the message naming the line at fault) with a Warning event.
	// +optional
	CalendarRef *ConfigMapKeyRef `json:"calendarRef,omitempty"`

	// RolloutWave orders the town in a district-wide upgrade: wave 0 first.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	RolloutWave int32 `json:"rolloutWave,omitempty"`

	// PreventDeletion refuses deletion of the Town (and so of its namespace
	// and villages) while true. It defaults to true: a town holds citizens'
	// records, and losing them must take two deliberate steps.
	// +optional
	// +kubebuilder:default=true
	PreventDeletion *bool `json:"preventDeletion,omitempty"`

	// Discipline names the town's discipline commission (it signs notices
	// after the district's and receives the villages' answers) and may
	// give the town its own document prefix (discipline_types.go).
	// +optional
	Discipline *TownDisciplineSpec `json:"discipline,omitempty"`

	// LiaisonCadres are the town's 联村干部 (scopes_types.go), each
	// assigned to some of the town's villages. The operator gives each an
	// identity (role village-liaison-cadre) scoped to those villages.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:XValidation:rule="self.all(c, self.exists_one(d, d.email == c.email))",message="each liaison cadre needs an e-mail of their own (it is their login): two cadres share one"
	LiaisonCadres []LiaisonCadre `json:"liaisonCadres,omitempty"`

	// Notifications, when set, replace the District's notification
	// channels for this town, e.g. with the town's own mailbox or DingTalk
	// group; an empty list turns outbound delivery off for the town (the
	// console inbox alone). Same fields and checks as the District's
	// spec.notifications (notifications_types.go).
	// +optional
	Notifications *NotificationsSpec `json:"notifications,omitempty"`
}

// TownAdmin is a subject of a RoleBinding.
// +kubebuilder:validation:XValidation:rule="self.kind != 'ServiceAccount' || (has(self.namespace) && size(self.namespace) > 0)",message="a ServiceAccount admin needs its namespace"
type TownAdmin struct {
	// +kubebuilder:validation:Enum=User;Group;ServiceAccount
	Kind string `json:"kind"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// ServiceFor returns the override template of one service (empty if none).
func (s *TownSpec) ServiceFor(name ServiceName) ServiceTemplate {
	for _, t := range s.Services {
		if t.Name == name {
			return t
		}
	}
	return ServiceTemplate{Name: name}
}

// ServiceStatus is the observed state of one service of a town.
type ServiceStatus struct {
	Name ServiceName `json:"name"`
	// Ready is true when every replica runs the desired version and is available.
	Ready bool `json:"ready"`
	// Version the Deployment is set to run.
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	Replicas int32 `json:"replicas"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas"`
	// +optional
	Message string `json:"message,omitempty"`
}

// TownRolloutStatus is the rollout gate's state for one version of a town.
type TownRolloutStatus struct {
	// Version judged.
	Version string `json:"version"`
	// Phase: Soaking (the pods are Ready, the soak runs), Passed or Failed.
	// +kubebuilder:validation:Enum=Soaking;Passed;Failed
	Phase string `json:"phase"`
	// Since is when the phase began (the soak: when its first metrics
	// were read).
	Since metav1.Time `json:"since"`
	// Reason of a failure: ErrorRatioExceeded, ProgressDeadlineExceeded
	// or MetricsUnavailable.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says what the gate saw, e.g. the requests and 5xx per service.
	// +optional
	Message string `json:"message,omitempty"`
}

// Phases of TownRolloutStatus.
const (
	RolloutSoaking = "Soaking"
	RolloutPassed  = "Passed"
	RolloutFailed  = "Failed"
)

// TownStatus is the observed state of a Town.
type TownStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Namespace the town's services and villages live in.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Catalog is the PowerCatalog in force, as name@version.
	// +optional
	Catalog string `json:"catalog,omitempty"`
	// RatingRules are the rating rules in force, as namespace/name:key of
	// their ConfigMap; empty when the town uses the built-in rules. While
	// the rules named are missing or invalid (condition RatingRulesValid
	// False) it keeps naming the last good rules.
	// +optional
	RatingRules string `json:"ratingRules,omitempty"`
	// Calendar is the working-day calendar in force over the official
	// schedule, as namespace/name:key of its ConfigMap; empty when the town
	// uses the official schedule alone. While the calendar named is missing
	// or invalid (condition CalendarValid False) it keeps naming the last
	// good one.
	// +optional
	Calendar string `json:"calendar,omitempty"`
	// Version of the services the town is moving to or runs.
	// +optional
	Version string `json:"version,omitempty"`
	// Rollout is the rollout gate's verdict on Version (District
	// spec.rollout): the town counts as upgraded, and the next wave moves,
	// only once Phase is Passed.
	// +optional
	Rollout *TownRolloutStatus `json:"rollout,omitempty"`
	// Services, one entry per service.
	// +optional
	// +listType=map
	// +listMapKey=name
	Services []ServiceStatus `json:"services,omitempty"`
	// Villages in the town's namespace.
	// +optional
	Villages int32 `json:"villages"`
	// ReadyVillages among them.
	// +optional
	ReadyVillages int32 `json:"readyVillages"`
	// Database is the town's PostgreSQL database (and role); its URL is in
	// the Secret wuxiao-database of the town's namespace.
	// +optional
	Database string `json:"database,omitempty"`
	// Topics are the town's Kafka topics found ready, sorted.
	// +optional
	// +listType=set
	Topics []string `json:"topics,omitempty"`
	// LiaisonCadres are the Kratos identities of the liaison cadres,
	// current and former. First sign-in codes are in the Secret
	// liaison-cadres of the town's recovery namespace (recovery-<town>,
	// keys: cadre ids), never here.
	// +optional
	// +listType=map
	// +listMapKey=cadre
	LiaisonCadres []CadreIdentity `json:"liaisonCadres,omitempty"`
}

// Town is one town (镇) or subdistrict (街道) tenant.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=wuxiao
// +kubebuilder:printcolumn:name="Code",type=string,JSONPath=`.spec.code`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.kind`
// +kubebuilder:printcolumn:name="Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Villages",type=integer,JSONPath=`.status.villages`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`,priority=1
// +kubebuilder:printcolumn:name="Rollout",type=string,JSONPath=`.status.rollout.phase`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 54 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="a Town's name must be a DNS label of at most 54 characters: its namespaces are town-<name> and recovery-<name>"
type Town struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TownSpec   `json:"spec"`
	Status TownStatus `json:"status,omitempty"`
}

// NamespaceName is the namespace the operator creates for a town.
func (t *Town) NamespaceName() string { return TownNamespace(t.Name) }

// TownNamespace is the namespace of the town with the given name.
func TownNamespace(town string) string { return "town-" + town }

// RecoveryNamespaceName is the namespace of the town's first sign-in codes
// (one Secret per village, one for the liaison cadres): the town's admins
// may read every Secret there and none in the town's namespace, where the
// services' keys are.
func (t *Town) RecoveryNamespaceName() string { return TownRecoveryNamespace(t.Name) }

// TownRecoveryNamespace is RecoveryNamespaceName of the town with the given
// name.
func TownRecoveryNamespace(town string) string { return "recovery-" + town }

// DeletionPrevented reports whether deletion of the town must be refused.
func (t *Town) DeletionPrevented() bool {
	return t.Spec.PreventDeletion == nil || *t.Spec.PreventDeletion
}

// +kubebuilder:object:root=true

// TownList is a list of Towns.
type TownList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Town `json:"items"`
}

func init() {
	register(&Town{}, &TownList{})
}
