// Who sees what of a complaint: staff views (ViewFor) and the public view
// of the tracking page (PublicViewOf).

package complaint

import (
	"slices"
	"time"
)

// villageCadreRoles never see cadre-conduct complaints of their own village.
var villageCadreRoles = []string{RoleSecretary, RoleDirector, RoleCommitteeMember, RoleAccountant, RoleCashier, RoleSupervisionChair}

// ViewFor returns what viewer may see of c, or false when c is hidden from
// them entirely:
//   - discipline staff (town-discipline of the town, district-discipline)
//     see everything, the reporter included;
//   - the village's liaison officer, town-official and town-finance of the
//     town and district-admin see everything but the reporter;
//   - the village's other officials see their village's complaints but the
//     reporter, and never those about cadre conduct;
//   - anyone else sees nothing (the public view is PublicViewOf).
func ViewFor(viewer Actor, c *Complaint) (*Complaint, bool) {
	visible := false
	switch viewer.Role {
	case RoleTownDiscipline:
		visible = viewer.Town == c.Town
	case RoleDistrictDiscipline, RoleDistrictAdmin:
		visible = true
	case RoleTownOfficial, RoleTownFinance:
		visible = viewer.Town == c.Town
	case RoleLiaisonOfficer:
		visible = viewer.Town == c.Town && viewer.Village == c.Village
	default:
		if slices.Contains(villageCadreRoles, viewer.Role) {
			visible = viewer.Town == c.Town && viewer.Village == c.Village && c.Category != CategoryCadreConduct
		}
	}
	if !visible {
		return nil, false
	}
	v := *c
	v.Attachments = slices.Clone(c.Attachments)
	v.Notes = slices.Clone(c.Notes)
	v.History = slices.Clone(c.History)
	v.Escalated = slices.Clone(c.Escalated)
	v.SecretHash = ""
	if c.Reporter != nil && viewer.IsDiscipline() {
		r := *c.Reporter
		v.Reporter = &r
	} else {
		v.Reporter = nil
	}
	return &v, true
}

// PublicView is what anyone holding the tracking code sees.
type PublicView struct {
	TrackingCode  string       `json:"trackingCode"`
	Category      Category     `json:"category"`
	CategoryLabel string       `json:"categoryLabel"`
	Village       string       `json:"village"`
	Status        Status       `json:"status"`
	Notes         []StatusNote `json:"notes"`
	FiledAt       time.Time    `json:"filedAt"`
	UpdatedAt     time.Time    `json:"updatedAt"`
	DueAt         *time.Time   `json:"dueAt,omitempty"`
}

// PublicViewOf is c's public view: no description, reporter, reasons or
// internal notes.
func PublicViewOf(c *Complaint) PublicView {
	p := PublicView{TrackingCode: c.TrackingCode, Category: c.Category, CategoryLabel: c.Category.Label(), Village: c.Village,
		Status: c.Status, Notes: []StatusNote{}, FiledAt: c.FiledAt, UpdatedAt: c.UpdatedAt, DueAt: c.DueAt}
	for _, n := range c.Notes {
		if n.Public {
			p.Notes = append(p.Notes, StatusNote{At: n.At, Body: n.Body, Public: true})
		}
	}
	return p
}
