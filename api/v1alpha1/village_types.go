package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VillageKind distinguishes administrative villages (行政村) from urban
// communities (社区).
// +kubebuilder:validation:Enum=village;community
type VillageKind string

const (
	VillageKindVillage   VillageKind = "village"
	VillageKindCommunity VillageKind = "community"
)

// OfficialRole is the fixed set of roles a village official can hold. The
// services decide from it who may run which step of a process.
// +kubebuilder:validation:Enum=secretary;director;committee-member;accountant;cashier;supervision-chair;liaison-officer
type OfficialRole string

const (
	// RoleSecretary is the village Party organisation secretary (党组织书记).
	RoleSecretary OfficialRole = "secretary"
	// RoleDirector is the chair of the villagers' committee (村委会主任).
	RoleDirector OfficialRole = "director"
	// RoleCommitteeMember sits on the village committees (两委委员).
	RoleCommitteeMember OfficialRole = "committee-member"
	// RoleAccountant keeps the village books (报账员/会计).
	RoleAccountant OfficialRole = "accountant"
	// RoleCashier handles payments (出纳).
	RoleCashier OfficialRole = "cashier"
	// RoleSupervisionChair chairs the village affairs supervision committee (村务监督委员会主任).
	RoleSupervisionChair OfficialRole = "supervision-chair"
	// RoleLiaisonOfficer staffs the village's supervision liaison station (监察联络员).
	RoleLiaisonOfficer OfficialRole = "liaison-officer"
)

// VillageSpec describes one village or community tenant.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.code) || self.code == oldSelf.code",message="spec.code is immutable: a village's administrative division code cannot change; archive this Village and create a new one"
type VillageSpec struct {
	// Code is the village's 12-digit administrative division code. Its first
	// 9 digits are its town's, e.g. 330213100201 in town 330213100000.
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{12}$')",message="code must be a 12-digit administrative division code, e.g. 330213100201"
	// +kubebuilder:validation:XValidation:rule="!self.endsWith('000')",message="a village's code ends in its own 3 digits, never 000 (that is the town's code)"
	// +kubebuilder:validation:MaxLength=12
	Code string `json:"code"`

	// Kind is village (行政村) or community (社区).
	Kind VillageKind `json:"kind"`

	// DisplayName is the village's name, e.g. 岩头村.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	DisplayName string `json:"displayName"`

	// Officials are the village cadres and its liaison officer; each gets an
	// identity whose role and village scope are set by the operator.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=40
	// +kubebuilder:validation:XValidation:rule="self.filter(o, o.role == 'secretary').size() <= 1",message="a village has at most one secretary (党组织书记)"
	// +kubebuilder:validation:XValidation:rule="self.filter(o, o.role == 'director').size() <= 1",message="a village has at most one director (村委会主任)"
	Officials []Official `json:"officials,omitempty"`

	// Thresholds of the village's controls.
	// +optional
	// +kubebuilder:default={}
	Thresholds VillageThresholds `json:"thresholds,omitempty"`

	// Portal settings of the village's public pages.
	// +optional
	// +kubebuilder:default={}
	Portal PortalSpec `json:"portal,omitempty"`
}

// Official is one village cadre or liaison officer.
// +kubebuilder:validation:XValidation:rule="(has(self.phone) && size(self.phone) > 0) || (has(self.email) && size(self.email) > 0)",message="an official needs a phone or an email so that their account can be handed over"
type Official struct {
	// ID is a stable key for the official within the village (letters,
	// digits, dashes); renaming a person keeps their identity.
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="official id must be lower-case letters, digits and dashes, e.g. zhang-wei"
	// +kubebuilder:validation:MaxLength=63
	ID string `json:"id"`
	// Name of the person, e.g. 张伟.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`
	// Role of the person in the village.
	Role OfficialRole `json:"role"`
	// Phone is a mainland mobile number, 11 digits.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || self.matches('^1[3-9][0-9]{9}$')",message="phone must be an 11-digit mainland mobile number, e.g. 13800000000"
	// +kubebuilder:validation:MaxLength=11
	Phone string `json:"phone,omitempty"`
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || self.matches('^[^@\\\\s]+@[^@\\\\s]+\\\\.[^@\\\\s]+$')",message="email must look like name@example.org"
	// +kubebuilder:validation:MaxLength=254
	Email string `json:"email,omitempty"`
}

// VillageThresholds are the amounts at which a village's spending needs more
// than the cadres' own decision.
// +kubebuilder:validation:XValidation:rule="!has(self.representativesResolutionAboveYuan) || !has(self.townApprovalAboveYuan) || self.representativesResolutionAboveYuan <= self.townApprovalAboveYuan",message="thresholds.representativesResolutionAboveYuan must not exceed thresholds.townApprovalAboveYuan"
type VillageThresholds struct {
	// RepresentativesResolutionAboveYuan: spending above it needs a villagers'
	// representatives' resolution (村民代表会议决议).
	// +optional
	// +kubebuilder:default=50000
	// +kubebuilder:validation:Minimum=0
	RepresentativesResolutionAboveYuan *int64 `json:"representativesResolutionAboveYuan,omitempty"`
	// TownApprovalAboveYuan: spending above it also needs the town's approval.
	// +optional
	// +kubebuilder:default=200000
	// +kubebuilder:validation:Minimum=0
	TownApprovalAboveYuan *int64 `json:"townApprovalAboveYuan,omitempty"`
}

// PortalSpec configures the village's public portal.
type PortalSpec struct {
	// Enabled publishes the portal and its QR code.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// ContactPhone shown to villagers (the liaison station's number).
	// +optional
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || self.matches('^[0-9+-]{5,20}$')",message="portal.contactPhone must be digits, + and - only, e.g. 0574-88000000"
	ContactPhone string `json:"contactPhone,omitempty"`
	// Announcement shown at the top of the portal.
	// +optional
	// +kubebuilder:validation:MaxLength=500
	Announcement string `json:"announcement,omitempty"`
}

// VillageStatus is the observed state of a Village.
type VillageStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Town the village belongs to (from its namespace).
	// +optional
	Town string `json:"town,omitempty"`
	// Catalog in force for the village, as name@version.
	// +optional
	Catalog string `json:"catalog,omitempty"`
	// PortalURL is the public address encoded in the village's QR code.
	// +optional
	PortalURL string `json:"portalURL,omitempty"`
	// Officials counts the officials with an identity to hand over.
	// +optional
	Officials int32 `json:"officials"`
	// MissingRoles are roles that steps of the town's catalog need and no
	// official of the village holds: processes needing them cannot advance.
	// +optional
	MissingRoles []OfficialRole `json:"missingRoles,omitempty"`
	// Identities are the Kratos identities of the officials, current and
	// former (a former official's identity is deactivated, never deleted).
	// No credentials: first-login recovery codes are in the Secret named by
	// recoverySecret.
	// +optional
	// +listType=map
	// +listMapKey=official
	Identities []OfficialIdentity `json:"identities,omitempty"`
	// RecoverySecret is <namespace>/<name> of the Secret holding each new
	// official's first-login recovery code and link (keys: official ids):
	// village-<code> in the town's recovery namespace, recovery-<town>.
	// +optional
	RecoverySecret string `json:"recoverySecret,omitempty"`
	// QRConfigMap names the ConfigMap in the town's namespace holding the
	// portal's QR code (binaryData qr.png, data qr.svg).
	// +optional
	QRConfigMap string `json:"qrConfigMap,omitempty"`
	// RegisteredGeneration is the generation last announced to the town's
	// services on the tenant stream.
	// +optional
	RegisteredGeneration int64 `json:"registeredGeneration,omitempty"`
	// Services reports what each of the town's services acknowledged of
	// the village on the tenant-acks stream.
	// +optional
	// +listType=map
	// +listMapKey=name
	Services []ServiceAck `json:"services,omitempty"`
	// Live counts the town's services where the village is live, e.g. 4/4.
	// +optional
	Live string `json:"live,omitempty"`
	// ArchiveAnnouncedAt is when the village's archival was published to
	// the town's services; its deletion waits (bounded) for their acks.
	// +optional
	ArchiveAnnouncedAt *metav1.Time `json:"archiveAnnouncedAt,omitempty"`
}

// ServiceAck is one service's latest acknowledgement of the village.
type ServiceAck struct {
	// Name of the service: workflow, disclosure, complaint or inspection.
	Name string `json:"name"`
	// Live: the service applied the village's registration and it is not
	// archived there.
	Live bool `json:"live"`
	// State is live or archived.
	State string `json:"state"`
	// Generation of the Village the service acknowledged.
	Generation int64 `json:"generation"`
	// LastAckTime is when the service applied it.
	LastAckTime metav1.Time `json:"lastAckTime"`
}

// OfficialIdentity links an official of spec.officials to their identity.
type OfficialIdentity struct {
	// Official is the official's id in spec.officials.
	Official string `json:"official"`
	// IdentityID is the Kratos identity's id.
	IdentityID string `json:"identityID"`
	// Role the identity's metadata grants.
	Role OfficialRole `json:"role"`
	// Active is false once the official left spec.officials.
	Active bool `json:"active"`
	// Digest of the traits and metadata last written to the identity: a
	// change of the official's entry rewrites the identity, an unchanged
	// one costs no call to Kratos.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// Village is one village (村) or community (社区) tenant. It lives in its
// town's namespace so that town IT staff can be given rights there only.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=vil,categories=wuxiao
// +kubebuilder:printcolumn:name="Code",type=string,JSONPath=`.spec.code`
// +kubebuilder:printcolumn:name="Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Town",type=string,JSONPath=`.status.town`
// +kubebuilder:printcolumn:name="Portal",type=string,JSONPath=`.status.portalURL`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Live",type=string,JSONPath=`.status.live`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Village struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   VillageSpec   `json:"spec"`
	Status VillageStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// VillageList is a list of Villages.
type VillageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Village `json:"items"`
}

func init() {
	register(&Village{}, &VillageList{})
}
