package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"k8s.io/utils/ptr"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// TestVillageThresholdsPublished: a Village's registration on the real
// Kafka carries its spec.thresholds (the CRD's defaults when none are
// set), and a change of them is announced as a new generation.
func TestVillageThresholdsPublished(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	v := newVillage(town, "thresholds", "204")
	must(t, k8s.Create(ctx, v))
	topic := eventsv1.Topic(town.Name, eventsv1.StreamTenant)
	registered := func() *wuxiaov1.Village {
		t.Helper()
		var got *wuxiaov1.Village
		eventually(t, wait, func() error {
			got = getVillage(t, v)
			if got.Status.RegisteredGeneration != got.Generation {
				return fmt.Errorf("registered generation %d, generation %d", got.Status.RegisteredGeneration, got.Generation)
			}
			return nil
		})
		return got
	}
	for _, step := range []struct {
		name   string
		change func(*wuxiaov1.Village)
		want   eventsv1.VillageThresholds
	}{
		{"the CRD's defaults", nil, eventsv1.VillageThresholds{RepresentativesResolutionAboveYuan: 50000, TownApprovalAboveYuan: 200000}},
		{"lowered", func(g *wuxiaov1.Village) {
			g.Spec.Thresholds = wuxiaov1.VillageThresholds{RepresentativesResolutionAboveYuan: ptr.To[int64](20000), TownApprovalAboveYuan: ptr.To[int64](100000)}
		}, eventsv1.VillageThresholds{RepresentativesResolutionAboveYuan: 20000, TownApprovalAboveYuan: 100000}},
		{"raised", func(g *wuxiaov1.Village) {
			g.Spec.Thresholds.RepresentativesResolutionAboveYuan = ptr.To[int64](80000)
		}, eventsv1.VillageThresholds{RepresentativesResolutionAboveYuan: 80000, TownApprovalAboveYuan: 100000}},
	} {
		if step.change != nil {
			g := getVillage(t, v)
			update(t, g, func() { step.change(g) })
		}
		got := registered()
		var reg eventsv1.VillageRegistered
		must(t, json.Unmarshal(findEvent(t, d, topic, VillageEventID(got)).Value, &reg))
		if reg.Generation != got.Generation || reg.Thresholds == nil || *reg.Thresholds != step.want {
			t.Fatalf("%s: registration of generation %d carries thresholds %+v, want %+v", step.name, reg.Generation, reg.Thresholds, step.want)
		}
	}
}
