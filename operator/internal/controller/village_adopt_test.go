package controller

import (
	"context"
	"strings"
	"testing"

	kratos "github.com/ory/kratos-client-go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wuxiao/wuxiao/api/identity"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

// An identity whose e-mail matches an official's is adopted only when the
// operator made it or it verified the address: anyone can register, or
// change their own e-mail to, an official's address, and must not be given
// the official's role by it.
func TestVillageAdoptsOnlyTrustedIdentities(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	admin := kratosAdmin(t)

	// Someone else's account (as a villager's self-registration makes it:
	// no metadata, address not verified) carrying the official's e-mail.
	taken := "chen.jing-" + provision.RandomHex(4) + "@example.cn"
	body := kratos.NewCreateIdentityBody("default", map[string]any{"email": taken, "name": "村民"})
	body.SetState("active")
	foreign, _, err := admin.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(*body).Execute()
	must(t, err)

	v := newVillage(town, "adopt-foreign", "211")
	v.Spec.Officials = append(v.Spec.Officials, wuxiaov1.Official{ID: "chen-jing", Name: "陈静", Role: wuxiaov1.RoleDirector, Email: taken})
	v.Spec.Officials = v.Spec.Officials[1:] // chen-jing is the director
	must(t, k8s.Create(ctx, v))
	got := waitVillage(t, v, metav1.ConditionFalse, ReasonIdentityConflict, foreign.Id)
	_, _, msg := readyOf(got.Status.Conditions)
	for _, want := range []string{"chen-jing", taken, "delete that identity", "verify the address"} {
		if !strings.Contains(msg, want) {
			t.Errorf("condition message %q does not say %q", msg, want)
		}
	}
	for _, id := range got.Status.Identities {
		if id.IdentityID == foreign.Id {
			t.Errorf("the foreign identity was adopted: %+v", id)
		}
	}
	after := identityOf(t, foreign.Id)
	if meta, _ := after.MetadataPublic.(map[string]any); meta["role"] != nil || meta["village"] != nil {
		t.Errorf("the foreign identity was given metadata %v", meta)
	}
	if traits, _ := after.Traits.(map[string]any); traits["name"] != "村民" {
		t.Errorf("the foreign identity's traits were rewritten: %v", traits)
	}

	// An identity that verified the address is the address' owner's: adopted.
	verified := "sun.li-" + provision.RandomHex(4) + "@example.cn"
	vbody := kratos.NewCreateIdentityBody("default", map[string]any{"email": verified, "name": "孙丽"})
	vbody.SetState("active")
	vbody.SetVerifiableAddresses([]kratos.VerifiableIdentityAddress{*kratos.NewVerifiableIdentityAddress("completed", verified, true, "email")})
	owned, _, err := admin.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(*vbody).Execute()
	must(t, err)
	u := newVillage(town, "adopt-verified", "213")
	u.Spec.Officials = append(u.Spec.Officials, wuxiaov1.Official{ID: "sun-li", Name: "孙丽", Role: wuxiaov1.RoleLiaisonOfficer, Email: verified})
	must(t, k8s.Create(ctx, u))
	gotU := waitVillage(t, u, metav1.ConditionTrue, wuxiaov1.ReasonReconciled, "")
	if !hasIdentity(gotU, "sun-li", owned.Id) {
		t.Errorf("the verified identity %s was not adopted: %+v", owned.Id, gotU.Status.Identities)
	}
	if m, _ := identityOf(t, owned.Id).MetadataAdmin.(map[string]any); m["managedBy"] != provision.ManagedBy {
		t.Errorf("the adopted identity carries no operator marker: %v", m)
	}

	// The operator's own identity, made before the Village's status recorded
	// it (a crash in between): adopted again, same id, role granted.
	own := "zhou.min-" + provision.RandomHex(4) + "@example.cn"
	k := provision.NewKratos(requireEnv(t, "WUXIAO_TEST_KRATOS_ADMIN_URL"))
	w := newVillage(town, "adopt-own", "212")
	ownID, err := k.Create(ctx, provision.OfficialTraits{Email: own, Name: "周敏"},
		provision.OfficialMetadata{Role: identity.Role(wuxiaov1.RoleLiaisonOfficer), Town: town.Name, Village: w.Spec.Code})
	must(t, err)
	w.Spec.Officials = append(w.Spec.Officials, wuxiaov1.Official{ID: "zhou-min", Name: "周敏", Role: wuxiaov1.RoleLiaisonOfficer, Email: own})
	must(t, k8s.Create(ctx, w))
	gotW := waitVillage(t, w, metav1.ConditionTrue, wuxiaov1.ReasonReconciled, "")
	if !hasIdentity(gotW, "zhou-min", ownID) {
		t.Errorf("the operator's own identity %s was not adopted: %+v", ownID, gotW.Status.Identities)
	}
	if meta, _ := identityOf(t, ownID).MetadataPublic.(map[string]any); meta["role"] != string(wuxiaov1.RoleLiaisonOfficer) || meta["village"] != w.Spec.Code {
		t.Errorf("the adopted identity's metadata %v", meta)
	}
}

func hasIdentity(v *wuxiaov1.Village, official, id string) bool {
	for _, st := range v.Status.Identities {
		if st.Official == official {
			return st.IdentityID == id && st.Active
		}
	}
	return false
}
