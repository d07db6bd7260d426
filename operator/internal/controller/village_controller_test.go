package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

func getVillage(t *testing.T, v *wuxiaov1.Village) *wuxiaov1.Village {
	t.Helper()
	got := &wuxiaov1.Village{}
	must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(v), got))
	return got
}

func waitVillage(t *testing.T, v *wuxiaov1.Village, status metav1.ConditionStatus, reason, msg string) *wuxiaov1.Village {
	t.Helper()
	var got *wuxiaov1.Village
	eventually(t, wait, func() error {
		got = getVillage(t, v)
		if err := expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, status, reason); err != nil {
			return err
		}
		if _, _, m := readyOf(got.Status.Conditions); !contains(m, msg) {
			return fmt.Errorf("message %q lacks %q", m, msg)
		}
		return nil
	})
	return got
}

func TestVillageLifecycle(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)

	v := newVillage(town, "yantou", "201")
	must(t, k8s.Create(ctx, v))
	got := waitVillage(t, v, metav1.ConditionTrue, wuxiaov1.ReasonReconciled, "validated against town "+town.Name)
	if got.Status.Town != town.Name || got.Status.Catalog != town.Status.Catalog || got.Status.Officials != 2 ||
		got.Status.PortalURL != "https://jiandu.example.cn/v/"+v.Spec.Code {
		t.Errorf("status %+v", got.Status)
	}
	if !slices.Contains(got.Finalizers, wuxiaov1.ArchiveFinalizer) {
		t.Errorf("finalizers %v", got.Finalizers)
	}
	// The test catalog needs an accountant and a director, which the village
	// has; it has no liaison officer, which every village needs.
	if !slices.Equal(got.Status.MissingRoles, []wuxiaov1.OfficialRole{wuxiaov1.RoleLiaisonOfficer}) {
		t.Errorf("missing roles %v", got.Status.MissingRoles)
	}
	if got.Spec.Thresholds.RepresentativesResolutionAboveYuan == nil || *got.Spec.Thresholds.RepresentativesResolutionAboveYuan != 50000 || *got.Spec.Thresholds.TownApprovalAboveYuan != 200000 || got.Spec.Portal.Enabled == nil || !*got.Spec.Portal.Enabled {
		t.Errorf("defaults not applied: %+v %+v", got.Spec.Thresholds, got.Spec.Portal)
	}

	// Update: adding a liaison officer clears the warning.
	update(t, got, func() {
		got.Spec.Officials = append(got.Spec.Officials, wuxiaov1.Official{ID: "wang-fang", Name: "王芳", Role: wuxiaov1.RoleLiaisonOfficer, Email: "wf-" + provision.RandomHex(4) + "@example.cn"})
	})
	eventually(t, wait, func() error {
		g := getVillage(t, v)
		if g.Status.Officials != 3 || len(g.Status.MissingRoles) != 0 || g.Status.ObservedGeneration != g.Generation {
			return fmt.Errorf("status %+v", g.Status)
		}
		return nil
	})
	// The town counts it.
	eventually(t, wait, func() error {
		tw := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), tw))
		if tw.Status.Villages != 1 || tw.Status.ReadyVillages != 1 {
			return fmt.Errorf("town counts %d/%d", tw.Status.ReadyVillages, tw.Status.Villages)
		}
		return nil
	})

	// Delete: the village goes, its record stays in the archive namespace.
	final := getVillage(t, v)
	must(t, k8s.Delete(ctx, final))
	eventually(t, wait, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(v), &wuxiaov1.Village{}); !apierrors.IsNotFound(err) {
			return errors.Join(errors.New("village still present"), err)
		}
		return nil
	})
	archived := &corev1.ConfigMap{}
	must(t, k8s.Get(ctx, client.ObjectKey{Namespace: archiveNS, Name: ArchiveName(final)}, archived))
	var rec ArchiveRecord
	must(t, json.Unmarshal([]byte(archived.Data["village.json"]), &rec))
	if rec.Village.Spec.Code != v.Spec.Code || len(rec.Village.Spec.Officials) != 3 || rec.ArchivedAt.IsZero() {
		t.Errorf("archive record %+v", rec.Village.Spec)
	}
	if archived.Labels[ArchivedLabel] != "true" || archived.Labels[wuxiaov1.VillageLabel] != v.Spec.Code {
		t.Errorf("archive labels %v", archived.Labels)
	}
	if len(archived.OwnerReferences) != 0 {
		t.Errorf("the archive must outlive its town: owner references %v", archived.OwnerReferences)
	}
}

func TestVillageValidation(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	other := readyTown(t, d)

	first := newVillage(town, "first", "301")
	must(t, k8s.Create(ctx, first))
	waitVillage(t, first, metav1.ConditionTrue, wuxiaov1.ReasonReconciled, "")

	plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("plain-%d", seq.Add(1))}}
	must(t, k8s.Create(ctx, plain))

	cases := []struct {
		name   string
		v      *wuxiaov1.Village
		reason string
		msg    string
	}{
		{"code of another town", func() *wuxiaov1.Village {
			v := newVillage(town, "stray", "302")
			v.Spec.Code = other.Spec.Code[:9] + "302"
			return v
		}(), wuxiaov1.ReasonCodeMismatch, "does not start with " + town.Spec.Code[:9]},
		{"duplicate code", newVillage(town, "second", "301"), wuxiaov1.ReasonDuplicateCode, "already used by Village first"},
		{"namespace of no town", func() *wuxiaov1.Village {
			v := newVillage(town, "lost", "303")
			v.Namespace = plain.Name
			return v
		}(), wuxiaov1.ReasonTownNotFound, "is not a town's namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			must(t, k8s.Create(ctx, tc.v))
			waitVillage(t, tc.v, metav1.ConditionFalse, tc.reason, tc.msg)
		})
	}
	// The first claimant keeps its code.
	waitVillage(t, first, metav1.ConditionTrue, wuxiaov1.ReasonReconciled, "")
}

func TestVillagePausedIsNotArchived(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	town := readyTown(t, fixture(t))
	v := newVillage(town, "held", "401")
	must(t, k8s.Create(ctx, v))
	waitVillage(t, v, metav1.ConditionTrue, "", "")
	patchAnnotation(t, v, wuxiaov1.PausedAnnotation, "true")
	waitVillage(t, v, metav1.ConditionUnknown, wuxiaov1.ReasonPaused, "paused")
	must(t, k8s.Delete(ctx, getVillage(t, v)))
	// Paused: the finalizer stays, so the village (and its data) stay.
	eventually(t, wait, func() error {
		g := getVillage(t, v)
		if g.DeletionTimestamp.IsZero() {
			return fmt.Errorf("not marked for deletion yet")
		}
		return nil
	})
	patchAnnotation(t, v, wuxiaov1.PausedAnnotation, "")
	eventually(t, wait, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(v), &wuxiaov1.Village{}); !apierrors.IsNotFound(err) {
			return errors.Join(errors.New("village still present after resume"), err)
		}
		return nil
	})
}

// The Town's admins may manage villages in the town's namespace, and nowhere
// else; the API server's RBAC authorizer decides, not the operator.
func TestTownAdminsManageOnlyTheirVillages(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	mine := readyTown(t, d)
	theirs := readyTown(t, d)

	user, err := env.AddUser(envtest.User{Name: "it-staff", Groups: []string{mine.Spec.Admins[0].Name}}, nil)
	must(t, err)
	staff, err := client.New(user.Config(), client.Options{Scheme: NewScheme()})
	must(t, err)

	if err := staff.Create(ctx, newVillage(mine, "ok", "501")); err != nil {
		t.Fatalf("town admin cannot create a village in their own town: %v", err)
	}
	if err := staff.Create(ctx, newVillage(theirs, "nope", "501")); !apierrors.IsForbidden(err) {
		t.Fatalf("town admin created a village in another town: %v", err)
	}
	if err := staff.List(ctx, &wuxiaov1.VillageList{}, client.InNamespace(theirs.NamespaceName())); !apierrors.IsForbidden(err) {
		t.Fatalf("town admin listed another town's villages: %v", err)
	}
	if err := staff.Delete(ctx, theirs); !apierrors.IsForbidden(err) {
		t.Fatalf("town admin may touch Towns: %v", err)
	}
}
