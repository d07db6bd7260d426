package v1alpha1

import (
	"strings"
	"unicode/utf8"
)

// DisciplineSpec names the district's discipline commission as it signs
// warning and rectification notices (预警通知书, 整改通知书) and supervision
// orders, and the prefix their document numbers start with.
type DisciplineSpec struct {
	// IssuingAuthority is the district commission's name as it heads and
	// signs documents, e.g. 中共宁波市奉化区纪律检查委员会. Default:
	// 中共<displayName>纪委 (中共奉化区纪委).
	// +optional
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.trim() == self && !self.contains('\\n')",message="discipline.issuingAuthority is printed as it is on every notice: no leading or trailing spaces and no line breaks, e.g. 中共宁波市奉化区纪律检查委员会"
	IssuingAuthority string `json:"issuingAuthority,omitempty"`

	// DocumentPrefix starts the documents' numbers; the kind of document
	// follows it (预 warning, 整 rectification, 督 supervision order), then
	// the year and the number: 奉纪预〔2026〕3号. Default: the first
	// character of displayName followed by 纪 (奉纪). Towns may set their
	// own (Town spec.discipline.documentPrefix); numbers run per town.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\s0-9〔〕\\\\[\\\\]()（）号]')",message="discipline.documentPrefix is the text before the year in a document number (奉纪预〔2026〕3号): no spaces, digits, brackets or 号, e.g. 奉纪"
	DocumentPrefix string `json:"documentPrefix,omitempty"`
}

// TownDisciplineSpec names the town's discipline commission, which signs
// notices after the district's and receives the villages' answers.
type TownDisciplineSpec struct {
	// IssuingAuthority is the town commission's name, e.g. 中共溪口镇纪委
	// or 锦屏街道纪工委. Default: displayName followed by 纪委 for a town,
	// 纪工委 for a subdistrict (溪口镇纪委, 锦屏街道纪工委).
	// +optional
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.trim() == self && !self.contains('\\n')",message="discipline.issuingAuthority is printed as it is on every notice: no leading or trailing spaces and no line breaks, e.g. 溪口镇纪委"
	IssuingAuthority string `json:"issuingAuthority,omitempty"`

	// DocumentPrefix overrides the district's document prefix for this
	// town's notices and orders, e.g. 溪纪 (溪纪预〔2026〕1号). Towns sharing
	// the district's prefix number their documents each from 1, so two
	// towns' documents can then share a number; a prefix per town keeps
	// numbers unique across the district.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="!self.matches('[\\\\s0-9〔〕\\\\[\\\\]()（）号]')",message="discipline.documentPrefix is the text before the year in a document number (溪纪预〔2026〕1号): no spaces, digits, brackets or 号, e.g. 溪纪"
	DocumentPrefix string `json:"documentPrefix,omitempty"`
}

// DisciplineAuthority is the district commission that signs documents:
// spec.discipline.issuingAuthority, else 中共<displayName>纪委.
func (d *District) DisciplineAuthority() string {
	if d.Spec.Discipline != nil && d.Spec.Discipline.IssuingAuthority != "" {
		return d.Spec.Discipline.IssuingAuthority
	}
	return "中共" + d.Spec.DisplayName + "纪委"
}

// DisciplineAuthority is the town commission that signs documents after
// the district's: spec.discipline.issuingAuthority, else the display name
// followed by 纪委 (a town) or 纪工委 (a subdistrict).
func (t *Town) DisciplineAuthority() string {
	if t.Spec.Discipline != nil && t.Spec.Discipline.IssuingAuthority != "" {
		return t.Spec.Discipline.IssuingAuthority
	}
	if t.Spec.Kind == TownKindSubdistrict {
		return t.Spec.DisplayName + "纪工委"
	}
	return t.Spec.DisplayName + "纪委"
}

// DocumentPrefix is the prefix of the town's document numbers: the town's
// spec.discipline.documentPrefix, else the district's, else the first
// character of the district's display name followed by 纪 (奉纪).
func DocumentPrefix(d *District, t *Town) string {
	if t != nil && t.Spec.Discipline != nil && t.Spec.Discipline.DocumentPrefix != "" {
		return t.Spec.Discipline.DocumentPrefix
	}
	if d.Spec.Discipline != nil && d.Spec.Discipline.DocumentPrefix != "" {
		return d.Spec.Discipline.DocumentPrefix
	}
	name := strings.TrimSpace(d.Spec.DisplayName)
	r, _ := utf8.DecodeRuneInString(name)
	if r == utf8.RuneError {
		return "纪"
	}
	return string(r) + "纪"
}
