package controller

import (
	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The CRD's defaults of spec.thresholds, for a Village stored before they
// were defaulted (the API server fills them in on every write since).
const (
	defaultRepresentativesResolutionAboveYuan = 50000
	defaultTownApprovalAboveYuan              = 200000
)

// registeredThresholds are the Village's thresholds as its registration
// carries them to the town's services. A change of spec.thresholds is a new
// generation, so it is announced like any other change of the Village.
func registeredThresholds(v *wuxiaov1.Village) *eventsv1.VillageThresholds {
	t := &eventsv1.VillageThresholds{
		RepresentativesResolutionAboveYuan: defaultRepresentativesResolutionAboveYuan,
		TownApprovalAboveYuan:              defaultTownApprovalAboveYuan,
	}
	if p := v.Spec.Thresholds.RepresentativesResolutionAboveYuan; p != nil {
		t.RepresentativesResolutionAboveYuan = *p
	}
	if p := v.Spec.Thresholds.TownApprovalAboveYuan; p != nil {
		t.TownApprovalAboveYuan = *p
	}
	return t
}
