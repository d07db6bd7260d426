package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/wuxiao/wuxiao/api/settings"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// TownReconciler gives each Town its namespace, admin rights, catalog and the
// four services, and reports how they are doing.
type TownReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// APIReader reads Secrets the cache does not hold: the district's admin
	// password, and a town Secret the cache may not have seen yet.
	APIReader client.Reader
	// Name of the controller; tests running several managers in one
	// process set distinct names.
	Name string
	// Metrics reads the request counters of the town's pods for the
	// rollout gate (rollout_gate.go).
	Metrics RolloutMetrics
	// OperatorNamespace is admitted to the services' metrics port (see
	// Options.OperatorNamespace).
	OperatorNamespace string
	soaks             soakBaselines
	// checks remembers what the town's last reconciles verified on
	// PostgreSQL and Kafka (recent_checks.go).
	checks recentChecks
}

// +kubebuilder:rbac:groups=wuxiao.io,resources=towns,verbs=get;list;watch
// +kubebuilder:rbac:groups=wuxiao.io,resources=towns/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=wuxiao.io,resources=towns/finalizers,verbs=update
// +kubebuilder:rbac:groups=wuxiao.io,resources=districts;powercatalogs,verbs=get;list;watch
// The operator must hold every permission it grants town admins in their
// namespace (RBAC escalation prevention), hence create and delete on villages
// and read access to events.
// +kubebuilder:rbac:groups=wuxiao.io,resources=villages,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=wuxiao.io,resources=villages/status,verbs=get
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces;configmaps;services,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one Town to its spec.
func (r *TownReconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	town := &wuxiaov1.Town{}
	if err := r.Get(ctx, req.NamespacedName, town); err != nil {
		if apierrors.IsNotFound(err) {
			forgetTownMetrics(req.Name)
			r.checks.forget(req.Name, checkRoles)
			r.checks.forget(req.Name, checkTopics)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !town.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector removes what the Town owns
	}
	before := town.DeepCopy()
	var result ctrl.Result
	var err error
	if isPaused(town) {
		markPaused(&town.Status.Conditions, town.Generation)
	} else {
		cctx, created := withCreatedLog(ctx)
		result, err = r.reconcile(cctx, town)
		created.record(r.Recorder, town)
	}
	town.Status.ObservedGeneration = town.Generation
	recordConditionMetrics("Town", town.Name, town.Status.Conditions)
	recordTownInfo(town)
	if perr := patchStatus(ctx, r.Client, before, town, &before.Status, &town.Status); perr != nil {
		return ctrl.Result{}, errors.Join(err, perr)
	}
	return result, err
}

// townErrors: a stalled Town is looked at again every minute, since some
// causes (a foreign namespace, a missing Secret) are not watched; a
// transient error shows as Reconciling (ApplyFailed) with the error.
var townErrors = errorPolicy{stalledRequeue: time.Minute, transientReason: wuxiaov1.ReasonApplyFailed}

func (r *TownReconciler) reconcile(ctx context.Context, town *wuxiaov1.Town) (ctrl.Result, error) {
	// gate: when the rollout gate wants to look again (the end of a soak).
	gate, err := r.reconcileChildren(ctx, town)
	if err != nil {
		return townErrors.report(r.Recorder, town, &town.Status.Conditions, town.Generation, err)
	}
	soonest := func(d time.Duration) ctrl.Result {
		if gate > 0 && gate < d {
			d = gate
		}
		return ctrl.Result{RequeueAfter: d}
	}
	if meta.IsStatusConditionFalse(town.Status.Conditions, wuxiaov1.ConditionRatingRulesValid) ||
		meta.IsStatusConditionFalse(town.Status.Conditions, wuxiaov1.ConditionCalendarValid) {
		// A person fixes the rules or the calendar, maybe in a ConfigMap the operator does
		// not watch: look again soon.
		return soonest(time.Minute), nil
	}
	if town.Status.RatingRules != "" || town.Status.Calendar != "" {
		// Edits of a rules or calendar ConfigMap without the watch label arrive this way.
		return soonest(RatingRulesResync), nil
	}
	if again := notificationsAgain(town); again > 0 { // likewise the channels' Secrets
		return soonest(again), nil
	}
	return ctrl.Result{RequeueAfter: gate}, nil
}

// reconcileChildren brings the town's objects to the spec and returns when
// the rollout gate wants to look again (0: no need).
func (r *TownReconciler) reconcileChildren(ctx context.Context, town *wuxiaov1.Town) (time.Duration, error) {
	// The namespace comes first: everything else lives in it.
	fresh, err := r.ensureNamespace(ctx, town)
	if err != nil {
		return 0, err
	}
	town.Status.Namespace = town.NamespaceName()
	// The rest is independent steps, run concurrently (a new town's first
	// reconcile is some 35 API round trips, a database and a dozen topics:
	// one after the other they made its services, and the villages waiting
	// for its catalog, wait for all of them). Errors are reported in the
	// order below, as when the steps ran in sequence. The steps write
	// disjoint fields of town.Status; only configure touches the
	// conditions.
	s := newSteps(townStepLimit)
	failed := func(err error) (time.Duration, error) {
		if serr := s.Wait(); serr != nil {
			return 0, serr
		}
		return 0, err
	}
	// The admins' rights need nothing else: town IT staff can start
	// preparing villages while the rest waits.
	s.Go(func() error {
		_, err := applyChild(ctx, r, town, resources.VillageAdminRole(town), syncRules)
		return err
	})
	s.Go(func() error {
		_, err := applyChild(ctx, r, town, resources.TownAdminBinding(town), syncAdminBinding)
		return err
	})
	s.Go(func() error { return r.ensureRecovery(ctx, town) }) // town_recovery.go
	if err := r.countVillages(ctx, town); err != nil {
		return failed(err)
	}

	district := &wuxiaov1.District{}
	if err := r.Get(ctx, types.NamespacedName{Name: town.Spec.District}, district); err != nil {
		if apierrors.IsNotFound(err) {
			return failed(stall(wuxiaov1.ReasonDistrictNotFound, "District %q does not exist: create it, or correct spec.district", town.Spec.District))
		}
		return failed(err)
	}
	if !strings.HasPrefix(town.Spec.Code, district.Spec.Code[:6]) {
		return failed(stall(wuxiaov1.ReasonCodeMismatch, "code %s does not start with the 6 digits of District %s (%s): a town's code begins with its district's",
			town.Spec.Code, district.Name, district.Spec.Code[:6]))
	}
	// What the services need before they can start: their keys, the
	// database, the topics, the identities; then their configuration.
	r.ensureKeys(ctx, s, town)
	s.Go(func() error { return r.ensureDatabase(ctx, town, district, fresh) })
	s.Go(func() error { return r.ensureTopics(ctx, town, district) })
	s.Go(func() error { return r.ensureCadreIdentities(ctx, town, district) }) // town_cadres.go
	var cfg townConfig
	s.Go(func() (err error) {
		cfg, err = r.configure(ctx, town, district)
		return err
	})
	// The services' Services, PodDisruptionBudgets and NetworkPolicies
	// depend on nothing above; their pods come with the Deployments below.
	for _, svc := range wuxiaov1.AllServices {
		s.Go(func() error {
			_, err := applyChild(ctx, r, town, resources.Service(town, svc), syncService)
			return err
		})
		s.Go(func() error {
			_, err := applyChild(ctx, r, town, resources.PodDisruptionBudget(town, svc), func(have, want *policyv1.PodDisruptionBudget) { derive(&have.Spec, want.Spec) })
			return err
		})
		// Exact rules both ways: a peer added by hand, or one the District no
		// longer names, would widen what the pods may reach.
		s.Go(func() error {
			_, err := applyChild(ctx, r, town, resources.NetworkPolicy(district, town, svc, r.OperatorNamespace), syncNetworkPolicy)
			return err
		})
	}
	if err := s.Wait(); err != nil {
		return 0, err
	}

	// The Deployments last: their pods start once what they need exists,
	// and a Deployment rolls only when its catalog ConfigMap is current.
	in, version := cfg.in, cfg.in.Version
	statuses := make([]wuxiaov1.ServiceStatus, len(wuxiaov1.AllServices))
	deps := make([]*appsv1.Deployment, len(wuxiaov1.AllServices))
	ds := newSteps(townStepLimit)
	for i, svc := range wuxiaov1.AllServices {
		ds.Go(func() error {
			live, err := applyChild(ctx, r, town, resources.Deployment(in, svc, cfg.hash), syncDeployment)
			if err != nil {
				return err
			}
			statuses[i], deps[i] = serviceStatus(svc, version, live), live
			return nil
		})
	}
	if err := ds.Wait(); err != nil {
		return 0, err
	}
	town.Status.Services = statuses

	var notReady []string
	for _, s := range statuses {
		if !s.Ready {
			notReady = append(notReady, fmt.Sprintf("%s %d/%d", s.Name, s.ReadyReplicas, s.Replicas))
		}
	}
	switch {
	case len(notReady) > 0:
		markProgressing(&town.Status.Conditions, town.Generation, wuxiaov1.ReasonServicesNotReady,
			"waiting for services to become ready (ready/desired replicas): "+strings.Join(notReady, ", "))
	case cfg.holdReason != "":
		markProgressing(&town.Status.Conditions, town.Generation, wuxiaov1.ReasonWaitingForWave, cfg.holdReason)
	default:
		markReady(&town.Status.Conditions, town.Generation, fmt.Sprintf("all %d services are ready at %s", len(statuses), version))
	}
	recordVillageMetrics(town.Name, town.Status.Villages, town.Status.ReadyVillages)
	return r.rolloutGate(ctx, town, district, version, deps, len(notReady) == 0), nil
}

// townConfig is what configure decided for the town's Deployments.
type townConfig struct {
	in         resources.TownInput
	hash       string // of the catalog ConfigMap
	holdReason string // why the town holds at an older version ("": it does not)
}

// configure resolves the town's catalog, rating rules, calendar,
// notification channels and version, and writes the catalog ConfigMap the
// Deployments mount. One step, in this order: each may set a condition of
// the town, and none of the steps running beside it does.
func (r *TownReconciler) configure(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) (townConfig, error) {
	catalog, err := r.resolveCatalog(ctx, town, district)
	if err != nil {
		town.Status.Catalog = ""
		return townConfig{}, err
	}
	town.Status.Catalog = catalog.Name + "@" + catalog.Spec.Version
	ratingRules, err := r.ratingRules(ctx, town, district)
	if err != nil {
		return townConfig{}, err
	}
	if err := r.calendar(ctx, town, district); err != nil { // calendar.go
		return townConfig{}, err
	}
	if err := r.notifications(ctx, town, district); err != nil { // notifications.go
		return townConfig{}, err
	}
	version, holdReason, err := r.rolloutVersion(ctx, town, district)
	if err != nil {
		return townConfig{}, err
	}
	town.Status.Version = version
	viewTown, err := r.districtViewTown(ctx, district)
	if err != nil {
		return townConfig{}, err
	}
	in := resources.TownInput{Town: town, District: district, Catalog: catalog, Version: version, DistrictViewTown: viewTown}
	in.RatingRules = ratingRules
	cm, hash, err := resources.CatalogConfigMap(in)
	if err != nil {
		return townConfig{}, err
	}
	if _, err := applyChild(ctx, r, town, cm, func(have, want *corev1.ConfigMap) { derive(&have.Data, want.Data) }); err != nil {
		return townConfig{}, err
	}
	return townConfig{in: in, hash: hash, holdReason: holdReason}, nil
}

// syncDeployment says which fields of a town's Deployment the operator owns.
func syncDeployment(have, want *appsv1.Deployment) {
	derive(&have.Spec, want.Spec)
	// DeepDerivative accepts a longer live list: a setting removed
	// from the District (the last in the list) would stay. The
	// environment is the operator's alone, so it must match exactly.
	setIfDifferent(&have.Spec.Template.Spec.Containers[0].Env, want.Spec.Template.Spec.Containers[0].Env)
	// Likewise the init container holding the migration role: no
	// other may join it, and its environment is exact.
	hi, wi := &have.Spec.Template.Spec.InitContainers, want.Spec.Template.Spec.InitContainers
	if len(*hi) != len(wi) {
		*hi = wi
	}
	for i := range wi {
		setIfDifferent(&(*hi)[i].Env, wi[i].Env)
	}
}

// ensureNamespace applies the town's namespace and reports whether it was
// created just now: then nothing can exist in it yet, and the steps may
// trust the cache's "not found" without asking the API server.
func (r *TownReconciler) ensureNamespace(ctx context.Context, town *wuxiaov1.Town) (bool, error) {
	want := resources.Namespace(town)
	_, op, err := applyOwnedOp(ctx, r.Client, r.Scheme, r.Recorder, town, childNames{}, want, syncDeletable)
	if apierrors.IsAlreadyExists(err) {
		// The cache only holds namespaces the operator manages: this one is
		// someone else's, and the operator will not take it over.
		return false, stall(wuxiaov1.ReasonNamespaceTaken, "namespace %s already exists and is not managed by Wuxiao: delete or rename it, or rename the Town", want.Name)
	}
	return op == controllerutil.OperationResultCreated, err
}

// resolveCatalog returns the Town's PowerCatalog if it exists and is valid.
func (r *TownReconciler) resolveCatalog(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) (*wuxiaov1.PowerCatalog, error) {
	name, from := district.Spec.CatalogRef, "District "+district.Name+" spec.catalogRef"
	if town.Spec.CatalogRef != "" {
		name, from = town.Spec.CatalogRef, "spec.catalogRef"
	}
	cat := &wuxiaov1.PowerCatalog{}
	if err := r.Get(ctx, types.NamespacedName{Name: name}, cat); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, stall(wuxiaov1.ReasonCatalogNotFound, "PowerCatalog %q (named by %s) does not exist", name, from)
		}
		return nil, err
	}
	if cat.Status.ObservedGeneration != cat.Generation {
		return nil, &waiting{wuxiaov1.ReasonProgressing, fmt.Sprintf("PowerCatalog %q is still being validated", name)}
	}
	if !isReady(cat.Status.Conditions) {
		return nil, stall(wuxiaov1.ReasonCatalogInvalid, "PowerCatalog %q is not valid; see its status.problems", name)
	}
	return cat, nil
}

// rolloutVersion decides which service version the town runs. A new town
// starts at the district's version; an existing one moves to it only when the
// rollout is not paused and every town of a lower wave counts as upgraded:
// runs it, is Ready and passed the rollout gate (rollout_gate.go). A town of
// a lower wave that failed the gate halts the rollout. The version in force
// is read back from the Deployments.
func (r *TownReconciler) rolloutVersion(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) (string, string, error) {
	target := district.Spec.Services.Version
	dep := &appsv1.Deployment{}
	err := r.Get(ctx, types.NamespacedName{Namespace: town.NamespaceName(), Name: resources.ObjectName(wuxiaov1.ServiceWorkflow)}, dep)
	if apierrors.IsNotFound(err) {
		return target, "", nil
	}
	if err != nil {
		return "", "", err
	}
	current := dep.Labels[resources.VersionLabel]
	if current == "" || current == target {
		return target, "", nil
	}
	if district.Spec.Rollout.Paused {
		return current, fmt.Sprintf("holding at %s: the rollout of %s is paused on District %s", current, target, district.Name), nil
	}
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, towns, client.MatchingFields{townDistrictIndex: district.Name}); err != nil {
		return "", "", err
	}
	var waiting, failed []string
	for i := range towns.Items {
		o := &towns.Items[i]
		if o.Name == town.Name || o.Spec.RolloutWave >= town.Spec.RolloutWave {
			continue
		}
		switch {
		case gateFailed(o, target):
			failed = append(failed, o.Name)
		case !upgraded(o, target):
			waiting = append(waiting, o.Name)
		}
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		return current, fmt.Sprintf("holding at %s: the rollout of %s is halted, %s failed the rollout gate (see District %s)",
			current, target, strings.Join(failed, ", "), district.Name), nil
	}
	if len(waiting) > 0 {
		slices.Sort(waiting)
		return current, fmt.Sprintf("holding at %s until the towns of earlier waves run %s, are Ready and passed the rollout gate: %s",
			current, target, strings.Join(waiting, ", ")), nil
	}
	return target, "", nil
}

func (r *TownReconciler) countVillages(ctx context.Context, town *wuxiaov1.Town) error {
	villages := &wuxiaov1.VillageList{}
	// Read-only: skip the cache's deep copy, which dominates at 20,000 villages.
	if err := r.List(ctx, villages, client.InNamespace(town.NamespaceName()), client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	var ready int32
	for i := range villages.Items {
		if isReady(villages.Items[i].Status.Conditions) {
			ready++
		}
	}
	town.Status.Villages, town.Status.ReadyVillages = int32(len(villages.Items)), ready
	return nil
}

func serviceStatus(svc wuxiaov1.ServiceName, version string, d *appsv1.Deployment) wuxiaov1.ServiceStatus {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := wuxiaov1.ServiceStatus{Name: svc, Version: version, Replicas: want,
		ReadyReplicas: d.Status.ReadyReplicas, UpdatedReplicas: d.Status.UpdatedReplicas}
	current := d.Status.ObservedGeneration >= d.Generation
	s.Ready = current && d.Status.UpdatedReplicas >= want && d.Status.AvailableReplicas >= want && d.Status.ReadyReplicas >= want
	switch {
	case !current:
		s.Message = "the Deployment's controller has not seen the latest spec yet"
	case !s.Ready:
		s.Message = fmt.Sprintf("%d of %d replicas updated, %d available", d.Status.UpdatedReplicas, want, d.Status.AvailableReplicas)
	}
	return s
}

// districtViewTown is the town whose inspection service builds the
// district overview (resources.DistrictViewTown), or
// settings.NoDistrictView when that town does not exist: the services
// then tell district staff that no town builds it, rather than send them to
// a missing town. Towns are created and deleted under watch
// (siblingsOnMembershipChange), so this follows them.
func (r *TownReconciler) districtViewTown(ctx context.Context, district *wuxiaov1.District) (string, error) {
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, towns, client.MatchingFields{townDistrictIndex: district.Name}); err != nil {
		return "", err
	}
	view := resources.DistrictViewTown(district, towns.Items)
	for i := range towns.Items {
		if view != "" && towns.Items[i].Name == view {
			return view, nil
		}
	}
	return settings.NoDistrictView, nil
}

const townDistrictIndex = "spec.district"

// SetupWithManager registers the controller and its watches.
func (r *TownReconciler) SetupWithManager(mgr ctrl.Manager) error {
	ctx := context.Background()
	if err := mgr.GetFieldIndexer().IndexField(ctx, &wuxiaov1.Town{}, townDistrictIndex, func(o client.Object) []string {
		return []string{o.(*wuxiaov1.Town).Spec.District}
	}); err != nil {
		return err
	}
	name := r.Name
	if name == "" {
		name = "town"
	}
	ratingRules, err := r.settingSource(mgr, ratingRulesSetting)
	if err != nil {
		return err
	}
	calendars, err := r.settingSource(mgr, calendarSetting)
	if err != nil {
		return err
	}
	notifySecrets, err := r.notificationSecretSource(mgr)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		WithOptions(controller.Options{MaxConcurrentReconciles: TownWorkers}).
		For(&wuxiaov1.Town{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Namespace{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		// A town in a later wave waits for the towns of earlier waves.
		Watches(&wuxiaov1.Town{}, handler.EnqueueRequestsFromMapFunc(r.laterWaves)).
		// A town added or deleted may move the default district view.
		Watches(&wuxiaov1.Town{}, r.siblingsOnMembershipChange()).
		Watches(&wuxiaov1.District{}, handler.EnqueueRequestsFromMapFunc(r.townsOfDistrict)).
		Watches(&wuxiaov1.PowerCatalog{}, handler.EnqueueRequestsFromMapFunc(r.allTowns)).
		WatchesRawSource(ratingRules).
		WatchesRawSource(calendars).
		WatchesRawSource(notifySecrets).
		Watches(&wuxiaov1.Village{}, coalescedTownOfVillage(villageCountDelay)).
		Complete(traced("town", r))
}

func (r *TownReconciler) laterWaves(ctx context.Context, o client.Object) []reconcile.Request {
	t := o.(*wuxiaov1.Town)
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, towns, client.MatchingFields{townDistrictIndex: t.Spec.District}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range towns.Items {
		if towns.Items[i].Spec.RolloutWave > t.Spec.RolloutWave {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: towns.Items[i].Name}})
		}
	}
	return reqs
}

func (r *TownReconciler) townsOfDistrict(ctx context.Context, o client.Object) []reconcile.Request {
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, towns, client.MatchingFields{townDistrictIndex: o.GetName()}); err != nil {
		return nil
	}
	return townRequests(towns)
}

// siblingsOnMembershipChange enqueues every town of a town's district when
// that town is created, starts being deleted or is deleted: the first town
// by name, the default district view, may have changed. Other updates
// (status, spec) cannot move it and enqueue nothing.
func (r *TownReconciler) siblingsOnMembershipChange() handler.Funcs {
	siblings := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		towns := &wuxiaov1.TownList{}
		if err := r.List(ctx, towns, client.MatchingFields{townDistrictIndex: o.(*wuxiaov1.Town).Spec.District}); err != nil {
			return
		}
		for _, req := range townRequests(towns) {
			q.Add(req)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			siblings(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero() {
				siblings(ctx, e.ObjectNew, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			siblings(ctx, e.Object, q)
		},
	}
}

func (r *TownReconciler) allTowns(ctx context.Context, _ client.Object) []reconcile.Request {
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, towns); err != nil {
		return nil
	}
	return townRequests(towns)
}

func townRequests(towns *wuxiaov1.TownList) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(towns.Items))
	for i := range towns.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: towns.Items[i].Name}})
	}
	return reqs
}

// villageCountDelay coalesces village changes into one town reconcile: when
// hundreds of villages are onboarded at once, the town's village counts are
// written once per delay instead of once per village (the benchmark saw one
// Town status write per village without it).
const villageCountDelay = 2 * time.Second

// coalescedTownOfVillage enqueues the Town whose namespace a Village lives
// in, after delay; the work queue merges requests already waiting.
func coalescedTownOfVillage(delay time.Duration) handler.Funcs {
	add := func(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		if name, ok := strings.CutPrefix(o.GetNamespace(), "town-"); ok {
			q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}, delay)
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			// Only readiness matters to the counts.
			if isReady(e.ObjectOld.(*wuxiaov1.Village).Status.Conditions) != isReady(e.ObjectNew.(*wuxiaov1.Village).Status.Conditions) {
				add(e.ObjectNew, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
	}
}
