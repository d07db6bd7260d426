package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// readyTown creates a Town and waits until it is Ready, playing kubelet.
func readyTown(t *testing.T, d *wuxiaov1.District, mutate ...func(*wuxiaov1.Town)) *wuxiaov1.Town {
	t.Helper()
	town := newTown(d)
	for _, m := range mutate {
		m(town)
	}
	must(t, k8s.Create(context.Background(), town))
	waitTownReady(t, town)
	return town
}

func waitTownReady(t *testing.T, town *wuxiaov1.Town) {
	t.Helper()
	waitTownReadyAt(t, town, "")
}

// waitTownReadyAt waits until the Town is Ready at version (any if empty). After
// a District change the Town's last status may still say Ready at the old
// version: only a status naming the new version proves a reconcile applied it.
func waitTownReadyAt(t *testing.T, town *wuxiaov1.Town, version string) {
	t.Helper()
	eventually(t, wait, func() error {
		kubelet(t, town.NamespaceName())
		got := &wuxiaov1.Town{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(town), got); err != nil {
			return err
		}
		*town = *got
		if version != "" && got.Status.Version != version {
			return fmt.Errorf("town %s is at %q, want %q", got.Name, got.Status.Version, version)
		}
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionTrue, wuxiaov1.ReasonReconciled)
	})
}

func TestTownProvisionsNamespaceRBACCatalogAndServices(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := newTown(d)
	must(t, k8s.Create(ctx, town))

	// Before any Deployment is available the Town is progressing, and says why.
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
		if err := expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonServicesNotReady); err != nil {
			return err
		}
		if _, _, msg := readyOf(got.Status.Conditions); !contains(msg, "workflow 0/2") {
			return fmt.Errorf("message %q does not name the waiting services", msg)
		}
		return nil
	})
	waitTownReady(t, town)

	ns := town.NamespaceName()
	if town.Status.Namespace != ns || town.Status.Version != "v0.1.0" || town.Status.Catalog != d.Spec.CatalogRef+"@2020.1" {
		t.Errorf("status = %+v", town.Status)
	}
	if len(town.Status.Services) != 4 {
		t.Fatalf("want 4 service statuses, got %+v", town.Status.Services)
	}
	for _, s := range town.Status.Services {
		if !s.Ready || s.Replicas != 2 || s.ReadyReplicas != 2 {
			t.Errorf("service status %+v", s)
		}
	}

	namespace := &corev1.Namespace{}
	must(t, k8s.Get(ctx, types.NamespacedName{Name: ns}, namespace))
	if namespace.Labels[wuxiaov1.TownLabel] != town.Name || namespace.Labels[resources.DeletableLabel] != "true" {
		t.Errorf("namespace labels %v", namespace.Labels)
	}
	if ref := metav1.GetControllerOf(namespace); ref == nil || ref.Name != town.Name || ref.Kind != "Town" {
		t.Errorf("namespace controller reference %v", ref)
	}
	rb := &rbacv1.RoleBinding{}
	must(t, k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: resources.TownAdminBindingName}, rb))
	if len(rb.Subjects) != 1 || rb.Subjects[0].Name != town.Spec.Admins[0].Name || rb.RoleRef.Name != resources.VillageAdminRoleName {
		t.Errorf("rolebinding %+v", rb)
	}
	// The recovery namespace: protected and owned like the town's; the
	// admins read the first sign-in codes there, and no Secret of the
	// town's namespace (the services' keys).
	recovery := &corev1.Namespace{}
	must(t, k8s.Get(ctx, types.NamespacedName{Name: town.RecoveryNamespaceName()}, recovery))
	if recovery.Labels[wuxiaov1.TownLabel] != town.Name || recovery.Labels[resources.DeletableLabel] != "true" || !metav1.IsControlledBy(recovery, town) {
		t.Errorf("recovery namespace %s: labels %v, owners %v", recovery.Name, recovery.Labels, recovery.OwnerReferences)
	}
	admin := town.Spec.Admins[0].Name
	for _, c := range []struct {
		verb, ns, name string
		want           bool
	}{
		{"get", town.RecoveryNamespaceName(), resources.VillageRecoverySecretName("330213101001"), true},
		{"list", town.RecoveryNamespaceName(), "", true},
		{"get", ns, resources.DatabaseSecretName, false},
		{"get", ns, resources.LegacyRecoverySecretName, false},
		{"list", ns, "", false},
		{"delete", town.RecoveryNamespaceName(), resources.LiaisonRecoverySecretName, false},
	} {
		eventually(t, wait, func() error { // RBAC reaches the authorizer's cache a moment after the write
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: "it-staff", Groups: []string{admin, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: c.verb, Resource: "secrets", Namespace: c.ns, Name: c.name},
			}}
			must(t, k8s.Create(ctx, sar))
			if sar.Status.Allowed != c.want {
				return fmt.Errorf("town admin %s secret %s/%s: allowed %v, want %v", c.verb, c.ns, c.name, sar.Status.Allowed, c.want)
			}
			return nil
		})
	}
	// An admin removed from spec.admins loses the codes at once (the last
	// one too: a shorter list is not "derived" from the longer).
	readsCodes := func(group string, want bool) {
		t.Helper()
		eventually(t, wait, func() error {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: "it-staff", Groups: []string{group, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: town.RecoveryNamespaceName(), Name: "village-330213101001"},
			}}
			must(t, k8s.Create(ctx, sar))
			if sar.Status.Allowed != want {
				return fmt.Errorf("group %s may read the codes: %v, want %v", group, sar.Status.Allowed, want)
			}
			return nil
		})
	}
	update(t, town, func() {
		town.Spec.Admins = []wuxiaov1.TownAdmin{{Kind: "Group", Name: admin + "-new"}, {Kind: "Group", Name: admin + "-second"}}
	})
	readsCodes(admin+"-second", true)
	update(t, town, func() { town.Spec.Admins = town.Spec.Admins[:1] })
	readsCodes(admin+"-second", false)
	readsCodes(admin, false)
	readsCodes(admin+"-new", true)
	cm := &corev1.ConfigMap{}
	must(t, k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: resources.CatalogConfigMapName}, cm))
	if !contains(cm.Data[resources.CatalogFileKey], `"funds-expenditure"`) {
		t.Errorf("catalog ConfigMap lacks the catalog: %.200s", cm.Data[resources.CatalogFileKey])
	}
	for _, svc := range wuxiaov1.AllServices {
		key := types.NamespacedName{Namespace: ns, Name: string(svc)}
		dep := &appsv1.Deployment{}
		must(t, k8s.Get(ctx, key, dep))
		if img := dep.Spec.Template.Spec.Containers[0].Image; img != "localhost/wuxiao/"+string(svc)+":v0.1.0" {
			t.Errorf("%s image %s", svc, img)
		}
		must(t, k8s.Get(ctx, key, &corev1.Service{}))
		must(t, k8s.Get(ctx, key, &policyv1.PodDisruptionBudget{}))
		np := &networkingv1.NetworkPolicy{}
		must(t, k8s.Get(ctx, key, np))
		// Public ingress only to the two portals.
		// (Ingress[1] admits Prometheus to the metrics port.)
		public := len(np.Spec.Ingress) == 2 && len(np.Spec.Ingress[0].From) == 0
		if public != svc.IsPublic() {
			t.Errorf("%s: network policy public=%v, want %v: %+v", svc, public, svc.IsPublic(), np.Spec.Ingress)
		}
	}
}

func TestTownOverrideTemplates(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d, func(town *wuxiaov1.Town) {
		town.Spec.Services = []wuxiaov1.ServiceTemplate{{
			Name:     wuxiaov1.ServiceDisclosure,
			Replicas: ptr.To(int32(3)),
			Metadata: &wuxiaov1.ObjectMetaTemplate{Labels: map[string]string{"team": "portal"}, Annotations: map[string]string{"note": "burst"}},
			Placement: &wuxiaov1.PodPlacement{NodeSelector: map[string]string{"zone": "a"},
				Tolerations: []corev1.Toleration{{Key: "portal", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
		}}
	})
	dep := &appsv1.Deployment{}
	must(t, k8s.Get(ctx, types.NamespacedName{Namespace: town.NamespaceName(), Name: "disclosure"}, dep))
	if *dep.Spec.Replicas != 3 || dep.Labels["team"] != "portal" || dep.Spec.Template.Labels["team"] != "portal" ||
		dep.Annotations["note"] != "burst" || dep.Spec.Template.Spec.NodeSelector["zone"] != "a" || len(dep.Spec.Template.Spec.Tolerations) != 1 {
		t.Errorf("override not applied: labels=%v annotations=%v spec=%+v", dep.Labels, dep.Annotations, dep.Spec.Template.Spec)
	}
	// The operator's own selector labels cannot be overridden.
	if dep.Spec.Selector.MatchLabels[wuxiaov1.ServiceLabel] != "disclosure" {
		t.Errorf("selector %v", dep.Spec.Selector.MatchLabels)
	}
	svc := &corev1.Service{}
	must(t, k8s.Get(ctx, types.NamespacedName{Namespace: town.NamespaceName(), Name: "disclosure"}, svc))
	if svc.Labels["team"] != "portal" {
		t.Errorf("service labels %v", svc.Labels)
	}
}

func TestTownCorrectsDrift(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	ns := town.NamespaceName()

	// Someone edits a generated Deployment by hand...
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workflow"}}
	update(t, dep, func() {
		dep.Spec.Template.Spec.Containers[0].Image = "evil/workflow:latest"
		dep.Spec.Replicas = ptr.To(int32(0))
	})
	// ...and deletes a Service and the admins' RoleBinding.
	must(t, k8s.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "complaint"}}))
	must(t, k8s.Delete(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resources.TownAdminBindingName}}))

	eventually(t, wait, func() error {
		got := &appsv1.Deployment{}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "workflow"}, got); err != nil {
			return err
		}
		if img := got.Spec.Template.Spec.Containers[0].Image; img != "localhost/wuxiao/workflow:v0.1.0" || *got.Spec.Replicas != 2 {
			return fmt.Errorf("deployment not restored: image %s replicas %d", img, *got.Spec.Replicas)
		}
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "complaint"}, &corev1.Service{}); err != nil {
			return err
		}
		return k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: resources.TownAdminBindingName}, &rbacv1.RoleBinding{})
	})
}

func TestSteadyStateWritesNothing(t *testing.T) {
	ctx := context.Background()
	first := startManager(t)
	d := fixture(t)
	town := readyTown(t, d)
	for i := 1; i <= 3; i++ {
		must(t, k8s.Create(ctx, newVillage(town, fmt.Sprintf("v%d", i), fmt.Sprintf("%03d", i))))
	}
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
		if got.Status.ReadyVillages != 3 {
			return fmt.Errorf("ready villages %d", got.Status.ReadyVillages)
		}
		dist := &wuxiaov1.District{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), dist))
		return expectReady(dist.Status.Conditions, dist.Generation, dist.Status.ObservedGeneration, metav1.ConditionTrue, "")
	})
	// A stalled town (its District is missing) must not write on retries either.
	stalledTown := newTown(d)
	stalledTown.Spec.District = "missing-district"
	must(t, k8s.Create(ctx, stalledTown))
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(stalledTown), got))
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonDistrictNotFound)
	})
	if len(first.Writes()) == 0 {
		t.Fatal("the first manager wrote nothing: the counter does not work")
	}

	// A second manager starting now reconciles every object once (a full
	// resync, as after an operator restart or upgrade): it must write nothing.
	first.waitQuiet(t, 2*time.Second)
	first.Reset()
	second := startManager(t)
	time.Sleep(3 * time.Second)
	second.mu.Lock()
	gets := second.counts["GET"]
	second.mu.Unlock()
	if gets == 0 {
		t.Fatal("the second manager made no request at all; it did not start")
	}
	if w := second.Writes(); len(w) != 0 {
		t.Errorf("steady state: the second manager wrote %d times: %v", len(w), w)
	}
	if w := first.Writes(); len(w) != 0 {
		t.Errorf("steady state: the first manager wrote %d times: %v", len(w), w)
	}
}

func TestTownPauseStopsChanges(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	ns := town.NamespaceName()

	patchAnnotation(t, town, wuxiaov1.PausedAnnotation, "true")
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionUnknown, wuxiaov1.ReasonPaused)
	})
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "inspection"}}
	update(t, dep, func() { dep.Spec.Replicas = ptr.To(int32(5)) })
	time.Sleep(2 * time.Second) // the watch event has long arrived; nothing may happen
	must(t, k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep))
	if *dep.Spec.Replicas != 5 {
		t.Fatalf("a paused town's Deployment was changed: replicas %d", *dep.Spec.Replicas)
	}

	patchAnnotation(t, town, wuxiaov1.PausedAnnotation, "")
	eventually(t, wait, func() error {
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(dep), dep))
		if *dep.Spec.Replicas != 2 {
			return fmt.Errorf("replicas %d after resume", *dep.Spec.Replicas)
		}
		return nil
	})
	waitTownReady(t, town)
}

func patchAnnotation(t *testing.T, o client.Object, key, value string) {
	t.Helper()
	fresh := o.DeepCopyObject().(client.Object)
	must(t, k8s.Get(context.Background(), client.ObjectKeyFromObject(o), fresh))
	before := fresh.DeepCopyObject().(client.Object)
	a := fresh.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	if value == "" {
		delete(a, key)
	} else {
		a[key] = value
	}
	fresh.SetAnnotations(a)
	must(t, k8s.Patch(context.Background(), fresh, client.MergeFrom(before)))
}

func TestTownPreventDeletion(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d, func(town *wuxiaov1.Town) { town.Spec.PreventDeletion = nil }) // the default: true

	got := &wuxiaov1.Town{}
	must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
	if got.Spec.PreventDeletion == nil || !*got.Spec.PreventDeletion {
		t.Fatalf("preventDeletion defaults to %v, want true", got.Spec.PreventDeletion)
	}
	err := k8s.Delete(ctx, got)
	if !apierrors.IsForbidden(err) || !contains(err.Error(), "spec.preventDeletion=true") {
		t.Fatalf("deleting a protected Town: %v", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: town.NamespaceName()}}
	if err := k8s.Delete(ctx, ns); !apierrors.IsForbidden(err) || !contains(err.Error(), "belongs to Town") {
		t.Fatalf("deleting a protected town's namespace: %v", err)
	}

	// Lifting the protection labels the namespace deletable, and deletion works.
	update(t, got, func() { got.Spec.PreventDeletion = ptr.To(false) })
	eventually(t, wait, func() error {
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(ns), ns))
		if ns.Labels[resources.DeletableLabel] != "true" {
			return fmt.Errorf("namespace labels %v", ns.Labels)
		}
		return nil
	})
	must(t, k8s.Delete(ctx, got))
	eventually(t, wait, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(got), &wuxiaov1.Town{}); !apierrors.IsNotFound(err) {
			return errors.Join(errors.New("town still there"), err)
		}
		return nil
	})
}

func TestTownStalledOnBadReferences(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	cases := []struct {
		name   string
		mutate func(*wuxiaov1.Town)
		reason string
		msg    string
	}{
		{"missing district", func(t *wuxiaov1.Town) { t.Spec.District = "nowhere" }, wuxiaov1.ReasonDistrictNotFound, `District "nowhere" does not exist`},
		{"code outside the district", func(t *wuxiaov1.Town) { t.Spec.Code = "330281100000" }, wuxiaov1.ReasonCodeMismatch, "does not start with the 6 digits"},
		{"missing catalog", func(t *wuxiaov1.Town) { t.Spec.CatalogRef = "no-such-catalog" }, wuxiaov1.ReasonCatalogNotFound, `PowerCatalog "no-such-catalog"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			town := newTown(d)
			tc.mutate(town)
			must(t, k8s.Create(ctx, town))
			eventually(t, wait, func() error {
				got := &wuxiaov1.Town{}
				must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
				if err := expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, tc.reason); err != nil {
					return err
				}
				_, _, msg := readyOf(got.Status.Conditions)
				if !contains(msg, tc.msg) {
					return fmt.Errorf("message %q lacks %q", msg, tc.msg)
				}
				for _, c := range got.Status.Conditions {
					if c.Type == wuxiaov1.ConditionStalled && c.Status != metav1.ConditionTrue {
						return fmt.Errorf("Stalled=%s", c.Status)
					}
				}
				return nil
			})
			// The namespace exists anyway, so town IT staff can prepare villages.
			must(t, k8s.Get(ctx, types.NamespacedName{Name: town.NamespaceName()}, &corev1.Namespace{}))
		})
	}
}

func TestTownRefusesForeignNamespace(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := newTown(d)
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: town.NamespaceName()}}))
	must(t, k8s.Create(ctx, town))
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonNamespaceTaken)
	})
	deps := &appsv1.DeploymentList{}
	must(t, k8s.List(ctx, deps, client.InNamespace(town.NamespaceName())))
	if len(deps.Items) != 0 {
		t.Errorf("the operator deployed into a namespace it does not own: %d deployments", len(deps.Items))
	}
}

func TestRolloutWaves(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	// A short soak: no pods run here, so the gate sees no requests and
	// passes when it ends (rollout_test.go tests the gate itself).
	update(t, d, func() { d.Spec.Rollout.SoakTime = &metav1.Duration{Duration: time.Second} })
	pilot := readyTown(t, d)
	later := readyTown(t, d, func(town *wuxiaov1.Town) { town.Spec.RolloutWave = 1 })

	// A new version reaches the pilot (wave 0) first; wave 1 holds.
	update(t, d, func() { d.Spec.Services.Version = "v0.2.0" })
	image := func(town *wuxiaov1.Town) string {
		dep := &appsv1.Deployment{}
		must(t, k8s.Get(ctx, types.NamespacedName{Namespace: town.NamespaceName(), Name: "workflow"}, dep))
		return dep.Spec.Template.Spec.Containers[0].Image
	}
	eventually(t, wait, func() error {
		if img := image(pilot); img != "localhost/wuxiao/workflow:v0.2.0" {
			return fmt.Errorf("pilot runs %s", img)
		}
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(later), got))
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonWaitingForWave)
	})
	if img := image(later); img != "localhost/wuxiao/workflow:v0.1.0" {
		t.Fatalf("wave 1 moved before wave 0 was ready: %s", img)
	}
	// Once the pilot's new pods are ready, wave 1 follows.
	waitTownReadyAt(t, pilot, "v0.2.0")
	eventually(t, wait, func() error {
		if img := image(later); img != "localhost/wuxiao/workflow:v0.2.0" {
			return fmt.Errorf("wave 1 still runs %s", img)
		}
		return nil
	})
	waitTownReadyAt(t, later, "v0.2.0")
}
