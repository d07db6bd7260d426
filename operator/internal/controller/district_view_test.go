package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wuxiao/wuxiao/api/settings"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// Exactly one town's inspection service builds the district overview: every
// inspection Deployment of the district names the same town
// (WUXIAO_DISTRICT_VIEW_TOWN), and that town's own instance is the only one
// whose value is itself. The default is the first town by name and moves
// when an earlier one is added, or when the seat starts being deleted;
// spec.districtView.town overrides it; a named town that does not exist
// leaves no town building it, which the District and every inspection
// service are told. The other services never get the setting.
func TestDistrictViewRunsInOneTown(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	named := func(name string) func(*wuxiaov1.Town) {
		return func(tw *wuxiaov1.Town) {
			tw.Name = name
			tw.Spec.Admins = []wuxiaov1.TownAdmin{{Kind: "Group", Name: "town-it:" + name}}
		}
	}
	b, c := d.Name+"-b", d.Name+"-c"
	towns := []*wuxiaov1.Town{readyTown(t, d, named(c)), readyTown(t, d, named(b))}

	viewEnv := func(town, svc string) (string, bool, error) {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: wuxiaov1.TownNamespace(town), Name: svc}, dep); err != nil {
			return "", false, err
		}
		for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "WUXIAO_DISTRICT_VIEW_TOWN" {
				return e.Value, true, nil
			}
		}
		return "", false, nil
	}
	// expect waits until every town's inspection names want, exactly
	// builders towns build the view, and the District reports status.
	expect := func(want string, builders int, status, message string) {
		t.Helper()
		eventually(t, wait, func() error {
			n := 0
			for _, tw := range towns {
				v, ok, err := viewEnv(tw.Name, string(wuxiaov1.ServiceInspection))
				if err != nil {
					return err
				}
				if !ok || v != want {
					return fmt.Errorf("town %s's inspection: WUXIAO_DISTRICT_VIEW_TOWN=%q (set %v), want %q", tw.Name, v, ok, want)
				}
				if v == tw.Name {
					n++
				}
			}
			if n != builders {
				return fmt.Errorf("%d towns build the district view, want %d", n, builders)
			}
			got := &wuxiaov1.District{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
				return err
			}
			if got.Status.DistrictViewTown != status {
				return fmt.Errorf("District status.districtViewTown %q, want %q", got.Status.DistrictViewTown, status)
			}
			if _, _, m := readyOf(got.Status.Conditions); !contains(m, message) {
				return fmt.Errorf("District message %q does not say %q", m, message)
			}
			return nil
		})
	}

	// Default: the first town by name.
	expect(b, 1, b, "the district overview is built by "+b)
	for _, tw := range towns {
		for _, svc := range []wuxiaov1.ServiceName{wuxiaov1.ServiceWorkflow, wuxiaov1.ServiceDisclosure, wuxiaov1.ServiceComplaint} {
			if v, ok, err := viewEnv(tw.Name, string(svc)); err != nil || ok {
				t.Errorf("town %s's %s has WUXIAO_DISTRICT_VIEW_TOWN=%q (%v)", tw.Name, svc, v, err)
			}
		}
	}

	// A town that sorts earlier takes the default over.
	a := d.Name + "-a"
	towns = append(towns, readyTown(t, d, named(a)))
	expect(a, 1, a, "the district overview is built by "+a)

	// Named explicitly, it stays where it is named.
	update(t, d, func() { d.Spec.DistrictView.Town = c })
	expect(c, 1, c, "the district overview is built by "+c)

	// A named town that does not exist: no town builds it, every
	// inspection service is told so explicitly (never an empty value, which
	// would make each run the projection), and the District says so.
	missing := d.Name + "-z"
	update(t, d, func() { d.Spec.DistrictView.Town = missing })
	expect(settings.NoDistrictView, 0, "", fmt.Sprintf("spec.districtView.town names %q, which is not a town of this district", missing))

	// Back to the default; then the seat starts being deleted (a
	// finalizer holds it): the District and the other towns move on to the
	// next town at once, without waiting for the town to be gone.
	update(t, d, func() { d.Spec.DistrictView.Town = "" })
	expect(a, 1, a, "the district overview is built by "+a)
	seat := &wuxiaov1.Town{}
	must(t, k8s.Get(ctx, types.NamespacedName{Name: a}, seat))
	update(t, seat, func() { seat.Finalizers = append(seat.Finalizers, "test.wuxiao.io/hold") })
	t.Cleanup(func() {
		held := &wuxiaov1.Town{}
		if err := k8s.Get(ctx, types.NamespacedName{Name: a}, held); err == nil {
			held.Finalizers = nil
			_ = k8s.Update(ctx, held)
		}
	})
	must(t, k8s.Delete(ctx, seat))
	towns = slices.DeleteFunc(towns, func(tw *wuxiaov1.Town) bool { return tw.Name == a })
	expect(b, 1, b, "the district overview is built by "+b)
}
