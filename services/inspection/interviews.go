package inspection

import (
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// Interview is a talk (约谈) the discipline office held with a cadre.
type Interview struct {
	ID        string    `json:"id"`
	Village   string    `json:"village"`
	CadreID   string    `json:"cadreId,omitempty"`
	CadreName string    `json:"cadreName"`
	CadrePost string    `json:"cadrePost,omitempty"` // e.g. 村党组织书记
	HeldAt    time.Time `json:"heldAt"`
	// Interviewers: who held it.
	Interviewers []string `json:"interviewers"`
	Reason       string   `json:"reason"`
	Outcome      string   `json:"outcome"`
	// OrderNumber, when the interview followed a supervision order.
	OrderNumber string `json:"orderNumber,omitempty"`
	RecordedBy  string `json:"recordedBy"`
	// RecordedByRole: town-discipline or district-discipline.
	RecordedByRole string    `json:"recordedByRole"`
	RecordedAt     time.Time `json:"recordedAt"`
}

// validate checks an interview to record at now, by field (what the
// store must check, the order and the village's registration, excepted).
func (in Interview) validate(now time.Time) []httpapi.FieldError {
	var errs []httpapi.FieldError
	if !identity.ValidVillage(in.Village) {
		errs = append(errs, httpapi.FieldError{Field: "village", Detail: "is not a 12-digit village code"})
	}
	if strings.TrimSpace(in.CadreName) == "" {
		errs = append(errs, httpapi.FieldError{Field: "cadreName", Detail: "is required: who was interviewed"})
	}
	if in.HeldAt.IsZero() || in.HeldAt.After(now) {
		errs = append(errs, httpapi.FieldError{Field: "heldAt", Detail: "is required and cannot be in the future"})
	}
	if len(in.Interviewers) == 0 {
		errs = append(errs, httpapi.FieldError{Field: "interviewers", Detail: "name at least one interviewer"})
	}
	if strings.TrimSpace(in.Reason) == "" {
		errs = append(errs, httpapi.FieldError{Field: "reason", Detail: "is required"})
	}
	errs = append(errs, interviewTooLong(in)...)
	if strings.TrimSpace(in.Outcome) == "" {
		errs = append(errs, httpapi.FieldError{Field: "outcome", Detail: "is required"})
	}
	return errs
}
