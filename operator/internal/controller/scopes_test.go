package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gwapi "github.com/wuxiao/wuxiao/api/gateway"
	"github.com/wuxiao/wuxiao/api/identity"
	"github.com/wuxiao/wuxiao/api/settings"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// 片组 and 联村干部 are refused by the API server when a person could not
// make sense of them, with a message saying what to write.
func TestScopesValidated(t *testing.T) {
	ctx := context.Background()
	d := fixture(t)
	g := func(name string, towns ...string) wuxiaov1.DistrictGroup {
		return wuxiaov1.DistrictGroup{Name: name, DisplayName: "综合片组 " + name, Towns: towns}
	}
	groups := []struct {
		name   string
		groups []wuxiaov1.DistrictGroup
		want   string // "" = accepted
	}{
		{"two groups of two towns", []wuxiaov1.DistrictGroup{g("pian-1", "xikou", "jinping"), g("pian-2", "yuelin", "jiangkou")}, ""},
		{"a group of one town", []wuxiaov1.DistrictGroup{g("pian-1", "xikou")}, ""},
		{"a name used twice", []wuxiaov1.DistrictGroup{g("pian-1", "xikou"), g("pian-1", "jinping")}, "片组 names must be unique: two groups have the same name"},
		{"a town in two groups", []wuxiaov1.DistrictGroup{g("pian-1", "xikou", "jinping"), g("pian-2", "jinping")}, "a town can be in one 片组 only"},
		{"a group without towns", []wuxiaov1.DistrictGroup{g("pian-1", []string{}...)}, "片组 pian-1 needs at least one town"},
		{"a name that is no DNS label", []wuxiaov1.DistrictGroup{g("Pian 1", "xikou")}, "片组 name Pian 1 must be a DNS label"},
		{"a town that is no name", []wuxiaov1.DistrictGroup{g("pian-1", "Xikou")}, "片组 town Xikou must be the name of a Town"},
	}
	for i, c := range groups {
		t.Run("District/"+c.name, func(t *testing.T) {
			x := &wuxiaov1.District{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-grp%d", d.Name, i)}, Spec: *d.Spec.DeepCopy()}
			x.Spec.Groups = c.groups
			checkRefusal(t, k8s.Create(ctx, x, client.DryRunAll), c.want)
		})
	}

	base := newTown(d)
	prefix := base.Spec.Code[:9]
	cadre := func(id, email string, villages ...string) wuxiaov1.LiaisonCadre {
		return wuxiaov1.LiaisonCadre{ID: id, Name: "王芳", Email: email, Villages: villages}
	}
	cadres := []struct {
		name   string
		cadres []wuxiaov1.LiaisonCadre
		want   string
	}{
		{"two cadres", []wuxiaov1.LiaisonCadre{cadre("wang-fang", "wf@example.cn", prefix+"201", prefix+"202"), cadre("li-qiang", "lq@example.cn", prefix+"203")}, ""},
		{"no village", []wuxiaov1.LiaisonCadre{cadre("wang-fang", "wf@example.cn", []string{}...)}, "liaison cadre wang-fang needs at least one village"},
		{"another town's village", []wuxiaov1.LiaisonCadre{cadre("wang-fang", "wf@example.cn", prefix+"201"), cadre("li-qiang", "lq@example.cn", "330213999201")},
			"liaison cadres may be assigned only to villages of this town, whose codes start with " + prefix + "; one of the cadres names a village of another town"},
		{"a town's code", []wuxiaov1.LiaisonCadre{cadre("wang-fang", "wf@example.cn", prefix+"000")}, "must be the 12-digit code of a village"},
		{"a short code", []wuxiaov1.LiaisonCadre{cadre("wang-fang", "wf@example.cn", "3302131002")}, "must be the 12-digit code of a village"},
		{"one e-mail for two", []wuxiaov1.LiaisonCadre{cadre("wang-fang", "wf@example.cn", prefix+"201"), cadre("li-qiang", "wf@example.cn", prefix+"202")},
			"each liaison cadre needs an e-mail of their own (it is their login)"},
		{"an e-mail in upper case", []wuxiaov1.LiaisonCadre{cadre("wang-fang", "WF@example.cn", prefix+"201")}, "in lower case"},
		{"no e-mail", []wuxiaov1.LiaisonCadre{cadre("wang-fang", "", prefix+"201")}, "liaison cadre email must look like name@example.org"},
		{"a bad id", []wuxiaov1.LiaisonCadre{cadre("Wang Fang", "wf@example.cn", prefix+"201")}, "liaison cadre id must be lower-case letters"},
	}
	for _, c := range cadres {
		t.Run("Town/"+c.name, func(t *testing.T) {
			x := base.DeepCopy()
			x.Spec.LiaisonCadres = c.cadres
			checkRefusal(t, k8s.Create(ctx, x, client.DryRunAll), c.want)
		})
	}
}

func checkRefusal(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want != "" && err == nil:
		t.Fatalf("accepted, want a refusal saying %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("refused with %v, want it to say %q", err, want)
	}
}

// Every service of a town in a 片组 is told the group (WUXIAO_TOWN_GROUP);
// a town in none is told nothing; a change of the District's groups
// reaches the running towns; the gateway gets the whole map.
func TestTownGroupReachesServicesAndGateway(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	grouped, alone := readyTown(t, d), readyTown(t, d)
	update(t, d, func() {
		d.Spec.Groups = []wuxiaov1.DistrictGroup{{Name: "pian-1", DisplayName: "第一综合片组", Towns: []string{grouped.Name, "not-yet-created"}}}
	})
	groupOf := func(town string) (map[wuxiaov1.ServiceName]string, error) {
		out := map[wuxiaov1.ServiceName]string{}
		for _, svc := range wuxiaov1.AllServices {
			dep := &appsv1.Deployment{}
			if err := k8s.Get(ctx, types.NamespacedName{Namespace: wuxiaov1.TownNamespace(town), Name: string(svc)}, dep); err != nil {
				return nil, err
			}
			for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
				if e.Name == settings.EnvTownGroup {
					out[svc] = e.Value
				}
			}
		}
		return out, nil
	}
	expect := func(town, group string) {
		t.Helper()
		eventually(t, wait, func() error {
			got, err := groupOf(town)
			if err != nil {
				return err
			}
			for _, svc := range wuxiaov1.AllServices {
				if v, set := got[svc]; v != group || (group == "" && set) {
					return fmt.Errorf("town %s's %s: %s=%q (set %v), want %q", town, svc, settings.EnvTownGroup, v, set, group)
				}
			}
			return nil
		})
	}
	expect(grouped.Name, "pian-1")
	expect(alone.Name, "")

	// The second town joins another group; the first leaves its own.
	update(t, d, func() {
		d.Spec.Groups = []wuxiaov1.DistrictGroup{{Name: "pian-2", DisplayName: "第二综合片组", Towns: []string{alone.Name}}}
	})
	expect(alone.Name, "pian-2")
	expect(grouped.Name, "")

	// The gateway: the whole map, as JSON group → towns.
	gw := gatewayDistrict(t, func(x *wuxiaov1.District) {
		x.Spec.Groups = []wuxiaov1.DistrictGroup{{Name: "pian-1", DisplayName: "第一综合片组", Towns: []string{"xikou", "jinping"}},
			{Name: "pian-2", DisplayName: "第二综合片组", Towns: []string{"yuelin"}}}
	})
	eventually(t, wait, func() error {
		dep := &appsv1.Deployment{}
		if err := k8s.Get(ctx, gatewayKey(getDistrict(t, gw)), dep); err != nil {
			return err
		}
		got := gatewayEnv(dep.Spec.Template.Spec.Containers[0])[gwapi.EnvTownGroups]
		if want := `{"pian-1":["xikou","jinping"],"pian-2":["yuelin"]}`; got != want {
			return fmt.Errorf("gateway %s=%q, want %q", gwapi.EnvTownGroups, got, want)
		}
		return nil
	})
}

// A town's liaison cadres (联村干部) get identities like village officials:
// metadata_public {role: village-liaison-cadre, town, villages}, the first
// sign-in code in the town's liaison-cadres recovery Secret (not in status); a change of
// their villages rewrites the identity; a cadre taken off the list is
// deactivated, not deleted.
func TestLiaisonCadreIdentities(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	email := "wang.fang-" + runID + "-" + provision.RandomHex(3) + "@example.cn"
	var prefix string
	town := readyTown(t, d, func(tw *wuxiaov1.Town) {
		prefix = tw.Spec.Code[:9]
		tw.Spec.LiaisonCadres = []wuxiaov1.LiaisonCadre{
			{ID: "wang-fang", Name: "王芳", Email: email, Phone: "13800000009", Villages: []string{prefix + "201", prefix + "202"}},
		}
	})
	cadreOf := func() (wuxiaov1.CadreIdentity, error) {
		got := &wuxiaov1.Town{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(town), got); err != nil {
			return wuxiaov1.CadreIdentity{}, err
		}
		for _, c := range got.Status.LiaisonCadres {
			if c.Cadre == "wang-fang" {
				return c, nil
			}
		}
		return wuxiaov1.CadreIdentity{}, fmt.Errorf("no identity for wang-fang in status %+v", got.Status.LiaisonCadres)
	}
	metaOf := func(id string) (identity.Metadata, string) {
		ident := identityOf(t, id)
		var m identity.Metadata
		b, _ := json.Marshal(ident.MetadataPublic)
		must(t, json.Unmarshal(b, &m))
		return m, ident.GetState()
	}
	var st wuxiaov1.CadreIdentity
	eventually(t, wait, func() error {
		var err error
		if st, err = cadreOf(); err == nil && !st.Active {
			err = fmt.Errorf("inactive: %+v", st)
		}
		return err
	})
	m, state := metaOf(st.IdentityID)
	if m.Role != identity.RoleVillageLiaisonCadre || m.Town != town.Name || m.Village != "" || m.Group != "" ||
		!slices.Equal(m.Villages, []string{prefix + "201", prefix + "202"}) || state != "active" {
		t.Fatalf("metadata_public %+v, state %s", m, state)
	}
	traits, _ := identityOf(t, st.IdentityID).Traits.(map[string]any)
	if traits["email"] != strings.ToLower(email) || traits["name"] != "王芳" || traits["phone"] != "13800000009" {
		t.Fatalf("traits %v", traits)
	}
	rec := getSecret(t, town.RecoveryNamespaceName(), resources.LiaisonRecoverySecretName)
	var e RecoveryEntry
	if err := json.Unmarshal(rec.Data["wang-fang"], &e); err != nil || e.Code == "" || e.Login != strings.ToLower(email) {
		t.Fatalf("recovery entry %+v (%v)", e, err)
	}
	status, _ := json.Marshal(st)
	if strings.Contains(string(status), e.Code) {
		t.Fatal("the recovery code is in the Town's status")
	}

	// New villages: the same identity, rewritten.
	update(t, town, func() { town.Spec.LiaisonCadres[0].Villages = []string{prefix + "203"} })
	eventually(t, wait, func() error {
		cur, err := cadreOf()
		if err != nil {
			return err
		}
		if cur.IdentityID != st.IdentityID {
			return fmt.Errorf("a new identity %s for wang-fang (was %s)", cur.IdentityID, st.IdentityID)
		}
		if m, _ := metaOf(cur.IdentityID); !slices.Equal(m.Villages, []string{prefix + "203"}) {
			return fmt.Errorf("villages %v", m.Villages)
		}
		return nil
	})

	// Off the list: deactivated, kept, its recovery entry removed.
	update(t, town, func() { town.Spec.LiaisonCadres = nil })
	eventually(t, wait, func() error {
		cur, err := cadreOf()
		if err != nil {
			return err
		}
		if cur.Active {
			return fmt.Errorf("still active: %+v", cur)
		}
		if _, state := metaOf(cur.IdentityID); state != "inactive" {
			return fmt.Errorf("identity state %s", state)
		}
		// Its only entry: the Secret goes too.
		err = k8s.Get(ctx, client.ObjectKeyFromObject(rec), &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("Secret %s/%s with the cadre's recovery entry is not deleted (%w)", rec.Namespace, rec.Name, err)
		}
		return nil
	})
}
