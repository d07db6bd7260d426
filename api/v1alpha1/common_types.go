package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
)

// Condition types shared by every Wuxiao resource. Ready is the summary;
// Reconciling and Stalled follow kstatus so that generic tools (kubectl wait,
// Flux, Argo CD) understand progress and failure without knowing our kinds.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	// ConditionRatingRulesValid, on a Town, says whether the rating rules
	// named by its spec.ratingRulesRef (or its District's) load; without a
	// reference it is True for the built-in rules. False (reason
	// RatingRulesNotFound or RatingRulesInvalid, the message naming every
	// field at fault) leaves Ready as it is: the inspection service keeps the
	// last good rules, and everything else of the town (a version rollout,
	// the other services) is still reconciled, so a typo in one ConfigMap
	// never freezes the district's towns. Alert on this condition.
	ConditionRatingRulesValid = "RatingRulesValid"
	// ConditionCalendarValid, on a Town, says whether the working-day
	// calendar named by its spec.calendarRef (or its District's) is valid
	// and handed to the workflow service; without a reference it is True
	// for the official schedule alone. On a District it says the same of
	// the District's own spec.calendarRef. False (reason CalendarNotFound or
	// CalendarInvalid, the message naming the line at fault) leaves Ready as
	// it is: the workflow service keeps the last good calendar, and the rest
	// of the town is reconciled. Alert on this condition.
	ConditionCalendarValid = "CalendarValid"
)

// Condition reasons. They are predeclared so that alerts and tests can match
// on them; messages carry the detail a person needs to act.
const (
	ReasonReconciled       = "Reconciled"
	ReasonProgressing      = "Progressing"
	ReasonPaused           = "Paused"
	ReasonInvalidSpec      = "InvalidSpec"
	ReasonDistrictNotFound = "DistrictNotFound"
	ReasonDistrictNotReady = "DistrictNotReady"
	ReasonCatalogNotFound  = "CatalogNotFound"
	ReasonCatalogInvalid   = "CatalogInvalid"
	ReasonSecretNotFound   = "SecretNotFound"
	ReasonTownNotFound     = "TownNotFound"
	ReasonCodeMismatch     = "CodeMismatch"
	ReasonDuplicateCode    = "DuplicateCode"
	ReasonServicesNotReady = "ServicesNotReady"
	ReasonWaitingForWave   = "WaitingForWave"
	ReasonNamespaceTaken   = "NamespaceTaken"
	ReasonArchiving        = "Archiving"
	ReasonApplyFailed      = "ApplyFailed"
	// ReasonDatabaseUnavailable: the district's PostgreSQL cannot be reached,
	// or refuses the admin, so the town's database cannot be provisioned.
	ReasonDatabaseUnavailable = "DatabaseUnavailable"
	// ReasonKafkaUnavailable: the town's topics cannot be created or are not
	// ready on the district's Kafka.
	ReasonKafkaUnavailable = "KafkaUnavailable"
	// ReasonIdentityUnavailable: the district's Kratos admin API refused or
	// could not be reached while provisioning officials' identities.
	ReasonIdentityUnavailable = "IdentityUnavailable"
	// ReasonRatingRulesLoaded (RatingRulesValid True): the named rating
	// rules load, or the town uses the built-in ones.
	ReasonRatingRulesLoaded = "RatingRulesLoaded"
	// ReasonRatingRulesNotFound (RatingRulesValid False): the ConfigMap or
	// key named by a rating rules reference (spec.ratingRulesRef) does not
	// exist.
	ReasonRatingRulesNotFound = "RatingRulesNotFound"
	// ReasonRatingRulesInvalid (RatingRulesValid False): the rating rules do
	// not load; the message names every field at fault. The inspection
	// service keeps the last good rules until they are fixed.
	ReasonRatingRulesInvalid = "RatingRulesInvalid"
	// ReasonCalendarLoaded (CalendarValid True): the named calendar is
	// valid and handed over, or the town uses the official schedule alone.
	ReasonCalendarLoaded = "CalendarLoaded"
	// ReasonCalendarNotFound (CalendarValid False): the ConfigMap or key
	// named by a calendar reference (spec.calendarRef) does not exist.
	ReasonCalendarNotFound = "CalendarNotFound"
	// ReasonCalendarInvalid (CalendarValid False): the calendar does not
	// parse (a date that is not YYYY-MM-DD or does not exist, a day both a
	// holiday and a working day, an unknown key); the message names every
	// line at fault. The workflow service keeps the last good calendar.
	ReasonCalendarInvalid = "CalendarInvalid"
)

// Well-known annotations, labels and finalizers.
const (
	// PausedAnnotation, set to "true" on a District, Town, Village or
	// PowerCatalog, stops the operator from changing anything it manages for
	// that object until it is removed. Status then reports reason Paused.
	PausedAnnotation = "wuxiao.io/paused"

	// TownLabel marks a town's namespace and everything generated for a town.
	TownLabel = "wuxiao.io/town"
	// VillageLabel marks objects generated for one village.
	VillageLabel = "wuxiao.io/village"
	// ServiceLabel names the Wuxiao service an object belongs to.
	ServiceLabel = "wuxiao.io/service"
	// ManagedByLabel value on everything the operator creates.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "wuxiao-operator"

	// ArchiveFinalizer keeps a Village until its records are archived.
	ArchiveFinalizer = "wuxiao.io/archive"

	// RatingRulesLabel, set to "true" on a ConfigMap that a ratingRulesRef
	// names, makes the operator see edits of the ConfigMap at once; without
	// it the operator re-reads the rules every 10 minutes. (The
	// operator only watches ConfigMaps it is told about, so that its memory
	// does not grow with every ConfigMap of the cluster.)
	RatingRulesLabel = "wuxiao.io/rating-rules"
	// CalendarLabel, set to "true" on a ConfigMap that a calendarRef names,
	// makes the operator see edits of the ConfigMap at once; without it the
	// operator re-reads the calendar every 10 minutes.
	CalendarLabel = "wuxiao.io/calendar"

	// CalendarConfigMapName is the ConfigMap in a town's namespace holding
	// the validated calendar (key CalendarFileKey, canonical JSON) that the
	// workflow Deployment mounts as a directory at CalendarMountPath (not
	// subPath: the kubelet updates the file in place).
	CalendarConfigMapName = "working-calendar"
	CalendarFileKey       = "calendar.json"
	CalendarMountPath     = "/etc/wuxiao/calendar"
)

// ServiceName is one of the four per-town microservices.
// +kubebuilder:validation:Enum=workflow;disclosure;complaint;inspection
type ServiceName string

const (
	ServiceWorkflow   ServiceName = "workflow"
	ServiceDisclosure ServiceName = "disclosure"
	ServiceComplaint  ServiceName = "complaint"
	ServiceInspection ServiceName = "inspection"
)

// AllServices lists the per-town services in a stable order.
var AllServices = []ServiceName{ServiceWorkflow, ServiceDisclosure, ServiceComplaint, ServiceInspection}

// IsPublic reports whether the service serves pages to villagers and so accepts
// ingress from outside the town's namespace.
func (s ServiceName) IsPublic() bool {
	return s == ServiceDisclosure || s == ServiceComplaint
}

// ObjectMetaTemplate adds labels and annotations to a generated object.
type ObjectMetaTemplate struct {
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PodPlacement says where a service's pods may run.
type PodPlacement struct {
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// ServiceTemplate overrides what the operator generates for one service of a
// town, in the manner of Strimzi's templates: the operator's own labels,
// selectors and ports always win.
type ServiceTemplate struct {
	// Name of the service the template applies to.
	Name ServiceName `json:"name"`
	// Replicas of the service's Deployment. Defaults to 2 so that a node
	// drain never takes a village's portal offline (the PDB keeps one up).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=50
	Replicas *int32 `json:"replicas,omitempty"`
	// Resources of the service container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// Metadata added to the Deployment, its pods, the Service, the PDB and
	// the NetworkPolicy.
	// +optional
	Metadata *ObjectMetaTemplate `json:"metadata,omitempty"`
	// Placement of the pods.
	// +optional
	Placement *PodPlacement `json:"placement,omitempty"`
}

// SecretKeyRef points at one key of a Secret in a named namespace.
type SecretKeyRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data. Defaults to "password".
	// +optional
	// +kubebuilder:default=password
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// ConfigMapKeyRef points at one key of a ConfigMap in a named namespace.
type ConfigMapKeyRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the ConfigMap's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}
