package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Category is one of the six kinds of village power of the "five smalls, one
// run" model (五小一跑).
// +kubebuilder:validation:Enum=decision;funds;project;duty;organisation;service
type Category string

const (
	CategoryDecision     Category = "decision"     // 小决策
	CategoryFunds        Category = "funds"        // 小资金（资产、资源）
	CategoryProject      Category = "project"      // 小项目
	CategoryDuty         Category = "duty"         // 小职责
	CategoryOrganisation Category = "organisation" // 小组织建设
	CategoryService      Category = "service"      // 一跑（最多跑一次）
)

// AllCategories lists the categories in the order the seed gives them.
var AllCategories = []Category{CategoryDecision, CategoryFunds, CategoryProject, CategoryDuty, CategoryOrganisation, CategoryService}

// ActorRole is who may perform a step: a village official's role, a town
// role, or a villager applying for a service.
// +kubebuilder:validation:Enum=secretary;director;committee-member;accountant;cashier;supervision-chair;liaison-officer;town-official;town-finance;town-discipline;villager
type ActorRole string

// ControlType is the kind of check a control performs; each raises a
// violation warning (违规预警) when it fails.
// +kubebuilder:validation:Enum=order;deadline;amount-threshold;posting-duration;conflict-of-interest;evidence-required
type ControlType string

const (
	ControlOrder              ControlType = "order"
	ControlDeadline           ControlType = "deadline"
	ControlAmountThreshold    ControlType = "amount-threshold"
	ControlPostingDuration    ControlType = "posting-duration"
	ControlConflictOfInterest ControlType = "conflict-of-interest"
	ControlEvidenceRequired   ControlType = "evidence-required"
)

// PortalSection is where a disclosure appears on the village portal.
// +kubebuilder:validation:Enum=wallet;subsidies;processes;catalog;notice-board
type PortalSection string

// PowerCatalogSpec is one version of a power list (权力清单).
type PowerCatalogSpec struct {
	// Version of the list, e.g. "2020.1". Services record it on every
	// process they start.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Version string `json:"version"`

	// Title of the list, e.g. 奉化区村级小微权力清单.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	Title string `json:"title"`

	// Items are the powers. "No power outside the list" (清单之外无权力):
	// a process can only be started for an item listed here.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	Items []PowerItem `json:"items"`
}

// PowerItem is one power, its process and the controls on it.
// "Every power has a process, every process has controls, every control has a
// norm, every norm has a legal basis" (每个权力有流程、每个流程有控制、
// 每个控制有规范、每个规范有依据): the rules below enforce it.
// +kubebuilder:validation:XValidation:rule="size(self.steps) > 0",messageExpression="'item ' + self.id + ' has no steps: every power has a process (每个权力有流程)'"
// +kubebuilder:validation:XValidation:rule="size(self.controls) > 0",messageExpression="'item ' + self.id + ' has no controls: every process has controls (每个流程有控制)'"
// +kubebuilder:validation:XValidation:rule="self.controls.all(c, self.norms.exists(n, n.id == c.norm))",messageExpression="'item ' + self.id + ': a control names a norm that is not in the item\\'s norms: every control has a norm (每个控制有规范)'"
// +kubebuilder:validation:XValidation:rule="self.controls.all(c, self.steps.exists(s, s.id == c.step))",messageExpression="'item ' + self.id + ': a control names a step that is not in the item\\'s steps'"
type PowerItem struct {
	// ID is the item's stable key, e.g. decision-major-matters.
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="item id must be lower-case letters, digits and dashes, e.g. funds-expenditure"
	// +kubebuilder:validation:MaxLength=63
	ID string `json:"id"`
	// Name of the power, e.g. 村级重大事项决策.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	Name string `json:"name"`
	// Category of the power.
	Category Category `json:"category"`
	// Description of what the power covers.
	// +optional
	// +kubebuilder:validation:MaxLength=1000
	Description string `json:"description,omitempty"`
	// Basis is the legal basis of the power itself (法律法规依据).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=300
	Basis []string `json:"basis"`
	// Materials an applicant must provide (申请材料) for an item whose
	// first step is the villager's: the portal's application form lists
	// them, with a file input each, and a cadre asking for what is missing
	// picks from them.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	Materials []Material `json:"materials,omitempty"`
	// Steps of the process; the first step is where every instance starts.
	// +kubebuilder:validation:MaxItems=30
	// +listType=atomic
	Steps []Step `json:"steps"`
	// Controls checked as the process runs.
	// +kubebuilder:validation:MaxItems=40
	// +listType=atomic
	Controls []Control `json:"controls"`
	// Norms the controls enforce.
	// +kubebuilder:validation:MaxItems=40
	// +listType=atomic
	Norms []Norm `json:"norms"`
	// Disclosure rules: what villagers see of each instance, where and when.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Disclosure []DisclosureRule `json:"disclosure,omitempty"`
}

// Material is one document an applicant provides, e.g. 身份证.
type Material struct {
	// Name of the material, e.g. 户口簿; unique within the item.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=60
	Name string `json:"name"`
	// Required: the application is incomplete without it.
	// +optional
	Required bool `json:"required,omitempty"`
	// Note tells the applicant what exactly to bring, e.g. 复印件即可.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Note string `json:"note,omitempty"`
}

// Step is one step of a process: who handles it, how, within what time.
type Step struct {
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="step id must be lower-case letters, digits and dashes, e.g. joint-meeting"
	// +kubebuilder:validation:MaxLength=63
	ID string `json:"id"`
	// Name of the step, e.g. 两委联席会议商议.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	Name string `json:"name"`
	// Handler is who is responsible (办理主体), e.g. 村党组织.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	Handler string `json:"handler"`
	// Role is the role an actor must hold to record the step.
	Role ActorRole `json:"role"`
	// Method is how the step is done (办理方式), e.g. 会议表决.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	Method string `json:"method"`
	// TimeLimit of the step (时间期限); none means no deadline.
	// +optional
	TimeLimit *TimeLimit `json:"timeLimit,omitempty"`
	// Next lists the steps that may follow; an empty list ends the process.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=63
	Next []string `json:"next,omitempty"`
}

// TimeLimit is a deadline in calendar or working days.
type TimeLimit struct {
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=365
	Days int32 `json:"days"`
	// +optional
	// +kubebuilder:default=working
	// +kubebuilder:validation:Enum=working;calendar
	Calendar string `json:"calendar,omitempty"`
}

// Control is a check on a step that raises a violation warning when it fails.
// +kubebuilder:validation:XValidation:rule="self.type != 'posting-duration' || (has(self.minDays) && self.minDays > 0)",messageExpression="'control ' + self.id + ' is a posting-duration control and needs minDays (e.g. 15 for a major decision\\'s plan)'"
type Control struct {
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="control id must be lower-case letters, digits and dashes"
	// +kubebuilder:validation:MaxLength=63
	ID string `json:"id"`
	// Step the control applies to.
	// +kubebuilder:validation:MaxLength=63
	Step string `json:"step"`
	// Type of check.
	Type ControlType `json:"type"`
	// Description shown with the warning, e.g. 公示期不少于15天.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=300
	Description string `json:"description"`
	// Norm is the id of the norm the control enforces.
	// +kubebuilder:validation:XValidation:rule="size(self) > 0",message="every control names a norm (每个控制有规范): set norm to the id of one of the item's norms"
	// +kubebuilder:validation:MaxLength=63
	Norm string `json:"norm"`
	// Threshold, for amount-threshold controls, names the village threshold
	// checked (Village spec.thresholds) and what satisfies the control when
	// the amount is above it: evidence of that kind attached to the
	// instance, or a completed step with that id. Defaults to
	// representatives-resolution.
	// +optional
	// +kubebuilder:validation:Enum=representatives-resolution;town-approval
	Threshold string `json:"threshold,omitempty"`
	// MinDays for posting-duration controls.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=365
	MinDays *int32 `json:"minDays,omitempty"`
}

// Norm is a rule (规范) and its legal basis (依据).
// +kubebuilder:validation:XValidation:rule="size(self.basis) > 0",messageExpression="'norm ' + self.id + ' has no basis: every norm has a legal basis (每个规范有依据)'"
type Norm struct {
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="norm id must be lower-case letters, digits and dashes"
	// +kubebuilder:validation:MaxLength=63
	ID string `json:"id"`
	// Text of the norm.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=500
	Text string `json:"text"`
	// Basis is the law, regulation or policy the norm rests on.
	// +kubebuilder:validation:MaxLength=300
	Basis string `json:"basis"`
}

// DisclosureRule says what of an instance is published to villagers.
type DisclosureRule struct {
	// What is published, e.g. 决议内容及实施结果.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	What string `json:"what"`
	// Section of the portal it appears in.
	Section PortalSection `json:"section"`
	// WithinDays of the triggering step it must be published.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=365
	WithinDays int32 `json:"withinDays,omitempty"`
	// ForDays it stays posted at least; 0 means permanently.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3650
	ForDays int32 `json:"forDays,omitempty"`
}

// CategoryCount is the number of items in one category.
type CategoryCount struct {
	Category Category `json:"category"`
	Items    int32    `json:"items"`
}

// PowerCatalogStatus is the observed state of a PowerCatalog.
type PowerCatalogStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Items in the catalog.
	// +optional
	Items int32 `json:"items"`
	// Categories with their item counts, in the seed's order.
	// +optional
	Categories []CategoryCount `json:"categories,omitempty"`
	// Problems found beyond the schema's rules; the catalog is not Ready
	// while any remain. At most 20 are listed.
	// +optional
	Problems []string `json:"problems,omitempty"`
}

// ConditionItemsRunnable, on a PowerCatalog, says whether every item can be
// run as it is written: its first step is a role's that someone holds, every
// step is on a path from the first step to an end, and its controls can be
// met (no posting step whose time limit ends before its minimum posting).
// False (reason ReasonItemNotRunnable) names each item and step at fault and
// what to change. An item that cannot be started or finished also keeps the
// catalog from Ready (it is among status.problems); a control that cannot be
// met leaves Ready as it is, since its processes still run, each raising a
// warning nobody earned: alert on this condition.
const (
	ConditionItemsRunnable = "ItemsRunnable"
	// ReasonEveryItemRuns (ItemsRunnable True).
	ReasonEveryItemRuns = "EveryItemRuns"
	// ReasonItemNotRunnable (ItemsRunnable False).
	ReasonItemNotRunnable = "ItemNotRunnable"
)

// PowerCatalog is a versioned list of the powers village cadres may exercise.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=catalog,categories=wuxiao
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Items",type=integer,JSONPath=`.status.items`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PowerCatalog struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PowerCatalogSpec   `json:"spec"`
	Status PowerCatalogStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// PowerCatalogList is a list of PowerCatalogs.
type PowerCatalogList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PowerCatalog `json:"items"`
}

func init() {
	register(&PowerCatalog{}, &PowerCatalogList{})
}
