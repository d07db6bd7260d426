package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// ensureRecovery applies the town's recovery namespace, where the first
// sign-in codes of its officials and liaison cadres are handed over
// (resources.RecoverySecret), the admins' right to read it, and moves the
// codes of a former single Secret there.
func (r *TownReconciler) ensureRecovery(ctx context.Context, town *wuxiaov1.Town) error {
	want := resources.RecoveryNamespace(town)
	if errs := validation.IsDNS1123Label(want.Name); len(errs) > 0 {
		// New Towns are held to 54 characters by the CRD; one created
		// before that limit cannot have this namespace.
		return stall(wuxiaov1.ReasonInvalidSpec, "the Town's name has %d characters: its recovery namespace %s, where its officials' first sign-in codes are handed over, cannot exist (%s); a Town's name may have at most 54: recreate the Town under a shorter name",
			len(town.Name), want.Name, strings.Join(errs, "; "))
	}
	_, _, err := applyOwnedOp(ctx, r.Client, r.Scheme, r.Recorder, town, childNames{}, want, syncDeletable)
	if apierrors.IsAlreadyExists(err) {
		return stall(wuxiaov1.ReasonNamespaceTaken, "namespace %s already exists and is not managed by Wuxiao: delete or rename it, or rename the Town", want.Name)
	}
	if err != nil {
		return err
	}
	if _, err := applyChild(ctx, r, town, resources.RecoveryReaderRole(town), syncRules); err != nil {
		return err
	}
	if _, err := applyChild(ctx, r, town, resources.RecoveryReaderBinding(town), syncAdminBinding); err != nil {
		return err
	}
	return r.moveLegacyRecovery(ctx, town)
}

// syncDeletable keeps a town namespace's DeletableLabel as the Town says.
func syncDeletable(have, want *corev1.Namespace) {
	if _, ok := want.Labels[resources.DeletableLabel]; !ok {
		delete(have.Labels, resources.DeletableLabel)
	}
}

// syncAdminBinding makes a binding's subjects the Town's admins, exactly:
// derive would keep an admin removed from the end of spec.admins (a want
// that is a prefix of what is there counts as derived), and their access.
func syncAdminBinding(have, want *rbacv1.RoleBinding) {
	setIfDifferent(&have.Subjects, want.Subjects)
	if len(want.Subjects) == 0 {
		have.Subjects = nil
	}
}

// syncRules makes a Role's rules exactly the operator's (a rule dropped
// from the operator's Role, such as the town namespace's former recovery
// Secret, is removed from the live one).
func syncRules(have, want *rbacv1.Role) { setIfDifferent(&have.Rules, want.Rules) }

// moveLegacyRecovery moves the entries of the Secret that held all of a
// town's codes in its own namespace (resources.LegacyRecoverySecretName;
// keys <village code>.<official id> and liaison.<cadre id>) to the recovery
// namespace, without replacing a code issued there since, and deletes it.
func (r *TownReconciler) moveLegacyRecovery(ctx context.Context, town *wuxiaov1.Town) error {
	old := &corev1.Secret{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: town.NamespaceName(), Name: resources.LegacyRecoverySecretName}, old); err != nil {
		return client.IgnoreNotFound(err)
	}
	current, err := r.currentPeople(ctx, town)
	if err != nil {
		return err
	}
	groups := map[string]map[string][]byte{}
	dead := 0
	for key, raw := range old.Data {
		owner, id, ok := strings.Cut(key, ".")
		if !ok {
			continue // not an entry the operator wrote
		}
		if !current[owner][id] {
			// An archived village's official, a removed one or a former
			// cadre: their identity is deactivated and their code is of
			// no use; moving it would only keep it readable.
			dead++
			continue
		}
		name := resources.VillageRecoverySecretName(owner)
		if owner == "liaison" {
			name = resources.LiaisonRecoverySecretName
		}
		if groups[name] == nil {
			groups[name] = map[string][]byte{}
		}
		groups[name][id] = raw
	}
	for name, data := range groups {
		_, _, err := ensure(ctx, r.Client, nil, nil, resources.RecoverySecret(town, name, data), func(have, want *corev1.Secret) {
			if have.Data == nil {
				have.Data = map[string][]byte{}
			}
			for k, b := range want.Data {
				if _, ok := have.Data[k]; !ok {
					have.Data[k] = b
				}
			}
		})
		if err != nil {
			return fmt.Errorf("moving first sign-in codes to Secret %s/%s: %w", town.RecoveryNamespaceName(), name, err)
		}
	}
	if err := r.Delete(ctx, old, client.Preconditions{UID: &old.UID, ResourceVersion: &old.ResourceVersion}); client.IgnoreNotFound(err) != nil {
		return err
	}
	r.Recorder.Eventf(town, nil, corev1.EventTypeNormal, "RecoveryMoved", "Move",
		"%d first sign-in codes moved from Secret %s/%s to %d Secrets of namespace %s; %d of people no longer listed dropped",
		len(old.Data)-dead, old.Namespace, old.Name, len(groups), town.RecoveryNamespaceName(), dead)
	return nil
}

// currentPeople lists who may hold a first sign-in code in the town, as
// the legacy Secret keyed them: village code (or "liaison") -> person id ->
// listed. A Village being deleted counts as archived.
func (r *TownReconciler) currentPeople(ctx context.Context, town *wuxiaov1.Town) (map[string]map[string]bool, error) {
	villages := &wuxiaov1.VillageList{}
	if err := r.List(ctx, villages, client.InNamespace(town.NamespaceName())); err != nil {
		return nil, err
	}
	out := map[string]map[string]bool{"liaison": {}}
	for _, c := range town.Spec.LiaisonCadres {
		out["liaison"][c.ID] = true
	}
	for i := range villages.Items {
		v := &villages.Items[i]
		if !v.DeletionTimestamp.IsZero() {
			continue
		}
		if out[v.Spec.Code] == nil {
			out[v.Spec.Code] = map[string]bool{}
		}
		for _, o := range v.Spec.Officials {
			out[v.Spec.Code][o.ID] = true
		}
	}
	return out, nil
}
