package inspection

// Who reads and writes what: the access rules the handlers apply before
// any lookup (the integrity files' own rule, canIntegrity, is in
// integrity.go).

import "github.com/wuxiao/wuxiao/services/internal/identity"

// canReadRating: the town's discipline office, district staff and the
// village's own officials read a village's rating; other town staff,
// other villages' officials and villagers do not.
func (s *Service) canReadRating(p identity.Principal, village string) bool {
	if !p.CanReadVillage(s.Town, village) {
		return false
	}
	return p.IsDiscipline() || p.Role.IsDistrictRole() || p.Role.IsVillageRole()
}

// canReadDistrict: district staff and the town's discipline office.
func (s *Service) canReadDistrict(p identity.Principal) bool {
	return p.Role.IsDistrictRole() || (p.Role == identity.RoleTownDiscipline && p.Town == s.Town)
}

// canReadNotice: discipline staff covering the town, and officials of the
// addressed village.
func (s *Service) canReadNotice(p identity.Principal, village string) bool {
	if p.IsDiscipline() && p.InTown(s.Town) {
		return true
	}
	return p.Role.IsVillageRole() && p.CanReadVillage(s.Town, village)
}

// isTownDiscipline: the discipline office of this service's town, which
// plans tours, raises findings, issues orders and records interviews.
func (s *Service) isTownDiscipline(p identity.Principal) bool {
	return p.Role == identity.RoleTownDiscipline && p.Town == s.Town
}

// isDistrictDiscipline: the district's discipline staff covering this
// town (every town, or their 片组's: Principal.InTown decides).
func (s *Service) isDistrictDiscipline(p identity.Principal) bool {
	return p.Role == identity.RoleDistrictDiscipline && p.InTown(s.Town)
}

// canRunInspection: who runs inspection rounds (tours, visits, findings,
// the rectifications' review) and orders (issue, accept or return the
// answers, interviews) in this town: its discipline office and the
// district's discipline staff covering it (the district inspection
// office's rounds, 区委巡察). Every record keeps the role that made it.
// Notices stay the town office's to sign (they are its documents).
func (s *Service) canRunInspection(p identity.Principal) bool {
	return s.isTownDiscipline(p) || s.isDistrictDiscipline(p)
}

// whyRun answers who may not run rounds or orders (canRunInspection).
const whyRun = "only the town's discipline office (town-discipline) or the district's discipline staff covering the town do this"

// canReadInspection: the town's discipline office and the district's
// covering the town. Nobody else reads tours, findings, orders or
// interviews; village officials read their own village's rectification
// tasks only (see rectifications).
func (s *Service) canReadInspection(p identity.Principal) bool {
	return s.canRunInspection(p)
}

// canSeeTask: the inspection readers, and officials of the task's own
// village, who must rectify it. Village officials see nothing else of a
// tour: not its team, other findings or other villages' tasks.
func (s *Service) canSeeTask(p identity.Principal, t *RectificationTask) bool {
	return s.canReadInspection(p) || (p.Role.IsVillageRole() && p.CanReadVillage(s.Town, t.Village))
}
