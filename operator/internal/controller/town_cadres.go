package controller

import (
	"context"
	"strings"

	"github.com/wuxiao/wuxiao/api/identity"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// ensureCadreIdentities gives every liaison cadre (联村干部) of the Town's
// spec an active identity whose metadata_public is {role:
// village-liaison-cadre, town, villages}, and deactivates those of cadres
// no longer listed, as for village officials (syncIdentities). Their
// first sign-in codes go to the Secret liaison-cadres of the town's
// recovery namespace, keyed by cadre id.
func (r *TownReconciler) ensureCadreIdentities(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) error {
	if len(town.Spec.LiaisonCadres) == 0 && len(town.Status.LiaisonCadres) == 0 {
		return nil // no cadres ever: no call to Kratos
	}
	known := map[string]identityRecord{}
	for _, id := range town.Status.LiaisonCadres {
		known[id.Cadre] = identityRecord{key: id.Cadre, identityID: id.IdentityID, active: id.Active, digest: id.Digest}
	}
	people := make([]person, 0, len(town.Spec.LiaisonCadres))
	for _, c := range town.Spec.LiaisonCadres {
		people = append(people, person{key: c.ID, what: "liaison cadre " + c.ID,
			traits: provision.OfficialTraits{Email: normalizeEmail(c.Email), Name: c.Name, Phone: c.Phone},
			meta: provision.OfficialMetadata{Role: identity.RoleVillageLiaisonCadre, Town: town.Name,
				Villages: append([]string(nil), c.Villages...)}})
	}
	recs, err := syncIdentities(ctx, identitySync{
		k: kratosFor(district.Spec.Kratos.AdminURL), people: people, known: known,
		writeRecovery: func(e map[string]*RecoveryEntry) error {
			return writeRecovery(ctx, r.Client, town, resources.LiaisonRecoverySecretName, e)
		},
		sameTenant: func(m identity.Metadata) bool {
			return m.Role == identity.RoleVillageLiaisonCadre && m.Town == town.Name
		},
	})
	town.Status.LiaisonCadres = nil
	for _, rec := range recs {
		town.Status.LiaisonCadres = append(town.Status.LiaisonCadres, wuxiaov1.CadreIdentity{Cadre: rec.key, IdentityID: rec.identityID,
			Active: rec.active, Digest: rec.digest})
	}
	return err
}

// normalizeEmail is a login as Kratos stores it (lower case, trimmed).
func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }
