package v1alpha1

// Scopes the seed describes below the district and above the village:
// 片组 (District spec.groups), a district standing-committee member and
// discipline group over two or more towns, and 联村干部 (Town
// spec.liaisonCadres), town cadres each answering for a few named villages.
// The services authorise on them through metadata_public (api/identity:
// "group" of a district official limited to a 片组, "villages" of a
// village-liaison-cadre), checked against what the operator tells each
// town's services about their own town (WUXIAO_TOWN_GROUP), never against
// the caller's word alone.

// DistrictGroup is one 片组 (综合片组): the towns one district
// standing-committee member and discipline group oversee.
// +kubebuilder:validation:XValidation:rule="size(self.towns) > 0",messageExpression="'片组 ' + self.name + ' needs at least one town: list the Town objects it oversees, e.g. towns: [xikou, jinping]'"
type DistrictGroup struct {
	// Name identifies the group in the district officials' identities
	// (metadata_public.group) and in WUXIAO_TOWN_GROUP: a DNS label, e.g.
	// pian-1.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",messageExpression="'片组 name ' + self + ' must be a DNS label (lower-case letters, digits and dashes), e.g. pian-1'"
	Name string `json:"name"`

	// DisplayName is the group's name as people know it, e.g. 第一综合片组.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	DisplayName string `json:"displayName"`

	// Towns are the names of the Town objects the group oversees. A town
	// is in at most one group; a town in none is seen only by district
	// officials without a group. Towns not (yet) created are allowed.
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=58
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",messageExpression="'片组 town ' + self + ' must be the name of a Town (a DNS label), e.g. xikou'"
	Towns []string `json:"towns"`
}

// LiaisonCadre is one 联村干部: a town official answering for the named
// villages of the town. The operator gives them an identity with role
// village-liaison-cadre, the town and these villages (api/identity); they
// read those villages' records and nothing else of the town.
// +kubebuilder:validation:XValidation:rule="size(self.villages) > 0",messageExpression="'liaison cadre ' + self.id + ' needs at least one village: list the 12-digit codes of the villages assigned to them'"
type LiaisonCadre struct {
	// ID is a stable key for the cadre within the town (letters, digits,
	// dashes); renaming a person keeps their identity.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="liaison cadre id must be lower-case letters, digits and dashes, e.g. wang-fang"
	ID string `json:"id"`
	// Name of the person, e.g. 王芳.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`
	// Email is the cadre's login, in lower case; their first sign-in code is
	// handed over as for village officials (Secret liaison-cadres of the
	// town's recovery namespace, recovery-<town>).
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@\\\\s]+@[^@\\\\s]+\\\\.[^@\\\\s]+$') && self == self.lowerAscii()",message="liaison cadre email must look like name@example.org, in lower case (it is their login)"
	Email string `json:"email"`
	// Phone is a mainland mobile number, 11 digits.
	// +optional
	// +kubebuilder:validation:MaxLength=11
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || self.matches('^1[3-9][0-9]{9}$')",message="liaison cadre phone must be an 11-digit mainland mobile number, e.g. 13800000000"
	Phone string `json:"phone,omitempty"`
	// Villages are the 12-digit codes of the villages the cadre is
	// assigned to, all of this town.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=12
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[0-9]{12}$') && !self.endsWith('000')",messageExpression="'liaison cadre village ' + self + ' must be the 12-digit code of a village (not ending in 000), e.g. 330283100201'"
	Villages []string `json:"villages"`
}

// CadreIdentity links a liaison cadre of Town spec.liaisonCadres to their
// Kratos identity.
type CadreIdentity struct {
	// Cadre is the cadre's id in spec.liaisonCadres.
	Cadre string `json:"cadre"`
	// IdentityID is the Kratos identity's id.
	IdentityID string `json:"identityID"`
	// Active is false once the cadre left spec.liaisonCadres (the
	// identity is deactivated, never deleted).
	Active bool `json:"active"`
	// Digest of the traits and metadata last written to the identity.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// GroupOf returns the name of the 片组 that town is in, or "".
func (s *DistrictSpec) GroupOf(town string) string {
	for _, g := range s.Groups {
		for _, t := range g.Towns {
			if t == town {
				return g.Name
			}
		}
	}
	return ""
}
