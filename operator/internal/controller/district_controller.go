package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// DistrictReconciler checks a District's references, counts its towns and
// runs its gateway (district_gateway.go).
type DistrictReconciler struct {
	client.Client
	// APIReader reads Secrets straight from the API server: the operator
	// does not cache (or watch) every Secret of the cluster.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Name      string
}

// +kubebuilder:rbac:groups=wuxiao.io,resources=districts,verbs=get;list;watch
// +kubebuilder:rbac:groups=wuxiao.io,resources=districts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// districtErrors: a stalled District is looked at again every minute,
// since the Secrets it names are not watched; a transient error leaves the
// conditions as they were.
var districtErrors = errorPolicy{stalledRequeue: time.Minute}

// Reconcile validates one District and summarises its towns.
func (r *DistrictReconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	d := &wuxiaov1.District{}
	if err := r.Get(ctx, req.NamespacedName, d); err != nil {
		if apierrors.IsNotFound(err) {
			forgetConditionMetrics("District", req.Name)
			forgetRolloutHalted(req.Name)
			forgetDistrictMetrics(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := d.DeepCopy()
	result := ctrl.Result{}
	var gatewayErr, validateErr error
	if isPaused(d) {
		markPaused(&d.Status.Conditions, d.Generation)
	} else {
		// The gateway needs nothing the validation below checks: it runs
		// even while a reference is broken.
		gatewayErr = r.reconcileGateway(ctx, d)
		if c := meta.FindStatusCondition(d.Status.Conditions, wuxiaov1.ConditionGatewayReady); c != nil && c.Reason == wuxiaov1.ReasonGatewayNamespaceTaken {
			// Namespaces the operator does not manage are not watched.
			result.RequeueAfter = time.Minute
		}
		// The District's own calendar (calendar.go); like the gateway, a
		// bad one does not change Ready.
		again, calErr := r.districtCalendar(ctx, d)
		gatewayErr = errors.Join(gatewayErr, calErr)
		if again > 0 && (result.RequeueAfter == 0 || again < result.RequeueAfter) {
			result.RequeueAfter = again
		}
		// Likewise the notification channels (notifications.go).
		again, notifyErr := r.districtNotifications(ctx, d)
		gatewayErr = errors.Join(gatewayErr, notifyErr)
		if again > 0 && (result.RequeueAfter == 0 || again < result.RequeueAfter) {
			result.RequeueAfter = again
		}
		err := r.countTowns(ctx, d)
		if err == nil {
			// The rollout gate's verdicts (rollout_gate.go); like the
			// gateway, a halt does not change Ready.
			err = r.reportRolloutHalt(ctx, d)
		}
		if err == nil {
			err = r.validate(ctx, d)
		}
		if err == nil {
			view := "the district overview is built by " + d.Status.DistrictViewTown
			if d.Status.DistrictViewTown == "" && d.Spec.DistrictView.Town != "" {
				view = fmt.Sprintf("no town builds the district overview: spec.districtView.town names %q, which is not a town of this district",
					d.Spec.DistrictView.Town)
			} else if d.Status.DistrictViewTown == "" {
				view = "no town builds the district overview yet"
			}
			markReady(&d.Status.Conditions, d.Generation, fmt.Sprintf("references valid; %d of %d towns ready, %d on %s; %s",
				d.Status.ReadyTowns, d.Status.Towns, d.Status.TownsOnVersion, d.Spec.Services.Version, view))
		}
		var res ctrl.Result
		res, validateErr = districtErrors.report(r.Recorder, d, &d.Status.Conditions, d.Generation, err)
		result.RequeueAfter = max(result.RequeueAfter, res.RequeueAfter)
	}
	d.Status.ObservedGeneration = d.Generation
	recordConditionMetrics("District", d.Name, d.Status.Conditions)
	recordDistrictMetrics(d)
	if err := errors.Join(gatewayErr, validateErr, patchStatus(ctx, r.Client, before, d, &before.Status, &d.Status)); err != nil {
		return ctrl.Result{}, err
	}
	return result, nil
}

func (r *DistrictReconciler) validate(ctx context.Context, d *wuxiaov1.District) error {
	cat := &wuxiaov1.PowerCatalog{}
	if err := r.Get(ctx, types.NamespacedName{Name: d.Spec.CatalogRef}, cat); err != nil {
		if apierrors.IsNotFound(err) {
			return stall(wuxiaov1.ReasonCatalogNotFound, "PowerCatalog %q named by spec.catalogRef does not exist", d.Spec.CatalogRef)
		}
		return err
	}
	if cat.Status.ObservedGeneration == cat.Generation && !isReady(cat.Status.Conditions) {
		return stall(wuxiaov1.ReasonCatalogInvalid, "PowerCatalog %q named by spec.catalogRef is not valid; see its status.problems", d.Spec.CatalogRef)
	}
	ref := d.Spec.Postgres.AdminPasswordSecret
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return stall(wuxiaov1.ReasonSecretNotFound, "Secret %s/%s named by spec.postgres.adminPasswordSecret does not exist", ref.Namespace, ref.Name)
		}
		return err
	}
	key := ref.Key
	if key == "" {
		key = "password"
	}
	if len(secret.Data[key]) == 0 {
		return stall(wuxiaov1.ReasonSecretNotFound, "Secret %s/%s has no key %q (spec.postgres.adminPasswordSecret.key)", ref.Namespace, ref.Name, key)
	}
	return nil
}

func (r *DistrictReconciler) countTowns(ctx context.Context, d *wuxiaov1.District) error {
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, towns, client.MatchingFields{townDistrictIndex: d.Name}); err != nil {
		return err
	}
	var ready, onVersion int32
	for i := range towns.Items {
		t := &towns.Items[i]
		if isReady(t.Status.Conditions) {
			ready++
			if t.Status.Version == d.Spec.Services.Version {
				onVersion++
			}
		}
	}
	d.Status.Towns, d.Status.ReadyTowns, d.Status.TownsOnVersion = int32(len(towns.Items)), ready, onVersion
	// Where the district overview runs, if that town exists.
	view := resources.DistrictViewTown(d, towns.Items)
	d.Status.DistrictViewTown = ""
	for i := range towns.Items {
		if towns.Items[i].Name == view {
			d.Status.DistrictViewTown = view
		}
	}
	return nil
}

// SetupWithManager registers the controller. It relies on the Town index that
// the Town controller registers.
func (r *DistrictReconciler) SetupWithManager(mgr ctrl.Manager) error {
	name := r.Name
	if name == "" {
		name = "district"
	}
	// Only what the District's summary shows: a town's readiness,
	// version or rollout gate, and a town starting deletion (the default
	// district view skips it).
	townSummaryChanged := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*wuxiaov1.Town), e.ObjectNew.(*wuxiaov1.Town)
		return isReady(o.Status.Conditions) != isReady(n.Status.Conditions) || o.Status.Version != n.Status.Version ||
			o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero() || gatePhase(o) != gatePhase(n) ||
			calendarState(o) != calendarState(n) || notificationsState(o) != notificationsState(n)
	}}
	return ctrl.NewControllerManagedBy(mgr).Named(name).
		For(&wuxiaov1.District{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&wuxiaov1.Town{}, handler.EnqueueRequestsFromMapFunc(districtOfTown), builder.WithPredicates(townSummaryChanged)).
		Watches(&wuxiaov1.PowerCatalog{}, handler.EnqueueRequestsFromMapFunc(r.referencing)).
		// The gateway's objects: drift, and the Deployment's and Ingress's status.
		Owns(&corev1.Namespace{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.ClusterRole{}).
		Owns(&rbacv1.ClusterRoleBinding{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&networkingv1.Ingress{}).
		Complete(traced("district", r))
}

// districtOfTown enqueues the District a Town belongs to.
func districtOfTown(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.(*wuxiaov1.Town).Spec.District}}}
}

// referencing enqueues the Districts whose spec.catalogRef names a PowerCatalog.
func (r *DistrictReconciler) referencing(ctx context.Context, o client.Object) []reconcile.Request {
	list := &wuxiaov1.DistrictList{}
	if err := r.List(ctx, list); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if list.Items[i].Spec.CatalogRef == o.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
		}
	}
	return reqs
}
