package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wuxiao/wuxiao/api/settings"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The inspection service is told who signs its notices and how they are
// numbered: the town's display name, the district's and the town's
// commissions and the document prefix, from District and Town
// spec.discipline or their defaults; a change of the District reaches the
// running towns. Other services get none of it.
func TestDisciplineNamesReachInspection(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	plain := readyTown(t, d)
	sub := readyTown(t, d, func(tw *wuxiaov1.Town) {
		tw.Spec.Kind, tw.Spec.DisplayName = wuxiaov1.TownKindSubdistrict, "锦屏街道"
		tw.Spec.Discipline = &wuxiaov1.TownDisciplineSpec{DocumentPrefix: "锦纪"}
	})

	envOf := func(town, svc string) (map[string]string, error) {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: wuxiaov1.TownNamespace(town), Name: svc}, dep); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
			out[e.Name] = e.Value
		}
		return out, nil
	}
	expect := func(town string, want map[string]string) {
		t.Helper()
		eventually(t, wait, func() error {
			env, err := envOf(town, string(wuxiaov1.ServiceInspection))
			if err != nil {
				return err
			}
			for k, v := range want {
				if env[k] != v {
					return fmt.Errorf("town %s's inspection: %s=%q, want %q", town, k, env[k], v)
				}
			}
			return nil
		})
	}

	// Defaults: from the display names and the town's kind.
	expect(plain.Name, map[string]string{settings.EnvTownName: "溪口镇", settings.EnvDistrictIssuer: "中共奉化区纪委",
		settings.EnvTownIssuer: "溪口镇纪委", settings.EnvDocumentPrefix: "奉纪"})
	expect(sub.Name, map[string]string{settings.EnvTownName: "锦屏街道", settings.EnvDistrictIssuer: "中共奉化区纪委",
		settings.EnvTownIssuer: "锦屏街道纪工委", settings.EnvDocumentPrefix: "锦纪"})
	for _, svc := range []wuxiaov1.ServiceName{wuxiaov1.ServiceWorkflow, wuxiaov1.ServiceComplaint, wuxiaov1.ServiceDisclosure} {
		env, err := envOf(plain.Name, string(svc))
		must(t, err)
		if _, ok := env[settings.EnvDistrictIssuer]; ok {
			t.Errorf("%s got %s: only the inspection service signs documents", svc, settings.EnvDistrictIssuer)
		}
	}

	// The District names its commission: every town's inspection follows;
	// the town with its own prefix keeps it.
	// update retries when the operator wrote the District's status between
	// the read and the write.
	got := d.DeepCopy()
	update(t, got, func() {
		got.Spec.Discipline = &wuxiaov1.DisciplineSpec{IssuingAuthority: "中共宁波市奉化区纪律检查委员会", DocumentPrefix: "奉区纪"}
	})
	expect(plain.Name, map[string]string{settings.EnvDistrictIssuer: "中共宁波市奉化区纪律检查委员会", settings.EnvDocumentPrefix: "奉区纪"})
	expect(sub.Name, map[string]string{settings.EnvDistrictIssuer: "中共宁波市奉化区纪律检查委员会", settings.EnvDocumentPrefix: "锦纪"})
}

// spec.discipline's names are printed as they are on every notice: the
// API server refuses what would misprint, with a message saying what to
// write instead.
func TestDisciplineNamesValidated(t *testing.T) {
	ctx := context.Background()
	d := fixture(t)
	cases := []struct {
		name string
		spec wuxiaov1.DisciplineSpec
		want string // "" = accepted
	}{
		{"full names", wuxiaov1.DisciplineSpec{IssuingAuthority: "中共宁波市奉化区纪律检查委员会", DocumentPrefix: "奉纪"}, ""},
		{"trailing space", wuxiaov1.DisciplineSpec{IssuingAuthority: "中共奉化区纪委 "}, "no leading or trailing spaces"},
		{"line break", wuxiaov1.DisciplineSpec{IssuingAuthority: "中共奉化区\n纪委"}, "no line breaks"},
		{"prefix with the year", wuxiaov1.DisciplineSpec{DocumentPrefix: "奉纪〔2026〕"}, "no spaces, digits, brackets"},
		{"prefix with a space", wuxiaov1.DisciplineSpec{DocumentPrefix: "奉 纪"}, "no spaces, digits, brackets"},
		{"prefix too long", wuxiaov1.DisciplineSpec{DocumentPrefix: "奉化区纪律检查委员会"}, "documentPrefix"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := &wuxiaov1.District{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-disc%d", d.Name, i)}, Spec: *d.Spec.DeepCopy()}
			x.Spec.Discipline = &c.spec
			err := k8s.Create(ctx, x, client.DryRunAll)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want a refusal saying %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("refused with %v, want it to say %q", err, c.want)
			}
		})
	}
}
