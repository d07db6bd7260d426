package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// VillageReconciler validates each Village against its Town and catalog, and
// archives it when it is deleted: a village's records are citizens' data and
// are never simply dropped.
type VillageReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// ArchiveNamespace receives the archive record of every deleted village.
	ArchiveNamespace string
	Name             string
	// Services must acknowledge a deleted village's archival before it is
	// let go, for at most ArchiveAckTimeout, looking every AckPoll.
	Services          []string
	ArchiveAckTimeout time.Duration
	AckPoll           time.Duration
}

// +kubebuilder:rbac:groups=wuxiao.io,resources=villages,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=wuxiao.io,resources=villages/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=wuxiao.io,resources=villages/finalizers,verbs=update
// +kubebuilder:rbac:groups=wuxiao.io,resources=towns;districts;powercatalogs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete

// ArchivedLabel marks a deleted village's archive record.
const ArchivedLabel = "wuxiao.io/archived"

const villageCodeIndex = "spec.code"

// villageErrors differ from the Town's, kept as they were: a stalled
// Village is not requeued (its Town and its own spec come back through
// watches; other causes wait for an edit of the Village), one waiting on
// its District or catalog looks again every 30 seconds besides the
// watches, and a transient error leaves the conditions as they were (a
// conflict on one write does not flip a Ready village and recount its
// town).
var villageErrors = errorPolicy{waitingRequeue: 30 * time.Second}

// archiveErrors: a failed archiving step keeps the Village Terminating and
// says why (Reconciling, reason Archiving, or Stalled when Kafka is gone).
var archiveErrors = errorPolicy{transientReason: wuxiaov1.ReasonArchiving, action: "Archive"}

// Reconcile validates or archives one Village.
func (r *VillageReconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	v := &wuxiaov1.Village{}
	if err := r.Get(ctx, req.NamespacedName, v); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := v.DeepCopy()
	if isPaused(v) {
		// Paused means no change at all, including archiving on delete.
		markPaused(&v.Status.Conditions, v.Generation)
		return ctrl.Result{}, patchStatus(ctx, r.Client, before, v, &before.Status, &v.Status)
	}
	if !v.DeletionTimestamp.IsZero() {
		return r.archive(ctx, v)
	}
	if controllerutil.AddFinalizer(v, wuxiaov1.ArchiveFinalizer) {
		if err := r.Update(ctx, v); err != nil {
			return ctrl.Result{}, err
		}
		before = v.DeepCopy()
	}

	town, district, err := r.validate(ctx, v)
	if wait := quietWait(v, err, time.Now()); wait > 0 {
		// Its status would say "waiting for the catalog" and, a moment
		// later, Ready: two writes where one does (the Town's catalog
		// change brings the village back; the requeue reports the wait if
		// it lasts).
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if err == nil {
		err = r.provision(ctx, v, town, district)
	}
	result, retErr := villageErrors.report(r.Recorder, v, &v.Status.Conditions, v.Generation, err)
	if err == nil {
		msg := "validated against town " + v.Status.Town + " and catalog " + v.Status.Catalog
		if len(v.Status.MissingRoles) > 0 {
			msg += fmt.Sprintf("; no official holds %v, which some catalog steps need", v.Status.MissingRoles)
		}
		markReady(&v.Status.Conditions, v.Generation, msg)
		// Ready, so the town's services may learn of it; a failure is
		// retried and does not take readiness away (so it bypasses the
		// error policy).
		retErr = r.register(ctx, v, town, district)
		if err := r.reissue(ctx, v, town, district); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}
	v.Status.ObservedGeneration = v.Generation
	if perr := patchStatus(ctx, r.Client, before, v, &before.Status, &v.Status); perr != nil {
		return ctrl.Result{}, errors.Join(retErr, perr)
	}
	return result, retErr
}

// provision gives a valid village what it needs outside its own object:
// the QR code of its portal and its officials' identities.
func (r *VillageReconciler) provision(ctx context.Context, v *wuxiaov1.Village, town *wuxiaov1.Town, district *wuxiaov1.District) error {
	if err := r.ensureQR(ctx, v, town); err != nil {
		return err
	}
	return r.ensureIdentities(ctx, v, town, district)
}

func (r *VillageReconciler) validate(ctx context.Context, v *wuxiaov1.Village) (*wuxiaov1.Town, *wuxiaov1.District, error) {
	townName, ok := strings.CutPrefix(v.Namespace, "town-")
	if !ok {
		return nil, nil, stall(wuxiaov1.ReasonTownNotFound, "namespace %s is not a town's namespace (town-<name>): create Villages in the namespace of their Town", v.Namespace)
	}
	town := &wuxiaov1.Town{}
	if err := r.Get(ctx, types.NamespacedName{Name: townName}, town); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, stall(wuxiaov1.ReasonTownNotFound, "Town %q does not exist", townName)
		}
		return nil, nil, err
	}
	v.Status.Town = town.Name
	if v.Spec.Code[:9] != town.Spec.Code[:9] {
		return nil, nil, stall(wuxiaov1.ReasonCodeMismatch, "code %s does not start with %s, the first 9 digits of Town %s (%s)",
			v.Spec.Code, town.Spec.Code[:9], town.Name, town.Spec.Code)
	}
	same := &wuxiaov1.VillageList{}
	if err := r.List(ctx, same, client.InNamespace(v.Namespace), client.MatchingFields{villageCodeIndex: v.Spec.Code}); err != nil {
		return nil, nil, err
	}
	for i := range same.Items {
		// The first Village to claim a code keeps it.
		if o := &same.Items[i]; o.UID != v.UID && o.DeletionTimestamp.IsZero() && olderThan(o, v) {
			return nil, nil, stall(wuxiaov1.ReasonDuplicateCode, "code %s is already used by Village %s", v.Spec.Code, o.Name)
		}
	}
	v.Status.Officials = int32(len(v.Spec.Officials))

	district := &wuxiaov1.District{}
	if err := r.Get(ctx, types.NamespacedName{Name: town.Spec.District}, district); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, &waiting{wuxiaov1.ReasonDistrictNotFound, fmt.Sprintf("waiting for District %q of Town %s", town.Spec.District, town.Name)}
		}
		return nil, nil, err
	}
	if town.Status.Catalog == "" {
		w := &waiting{wuxiaov1.ReasonCatalogNotFound, fmt.Sprintf("Town %s has no valid power catalog yet; see its status", town.Name)}
		if !meta.IsStatusConditionTrue(town.Status.Conditions, wuxiaov1.ConditionStalled) {
			return nil, nil, townStarting{w}
		}
		return nil, nil, w
	}
	v.Status.Catalog = town.Status.Catalog
	v.Status.PortalURL = strings.TrimSuffix(district.Spec.PortalBaseURL, "/") + "/v/" + v.Spec.Code

	catName, _, _ := strings.Cut(town.Status.Catalog, "@")
	cat := &wuxiaov1.PowerCatalog{}
	if err := r.Get(ctx, types.NamespacedName{Name: catName}, cat); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, &waiting{wuxiaov1.ReasonCatalogNotFound, fmt.Sprintf("PowerCatalog %q is gone; Town %s will report it", catName, town.Name)}
		}
		return nil, nil, err
	}
	v.Status.MissingRoles = missingRoles(v, cat)
	return town, district, nil
}

// villageQuietWait is how long after its creation a new Village whose Town
// is still being provisioned waits, without writing its status, for the
// Town's catalog: villages onboarded together with their town (the scale
// benchmark's 12 x 347) otherwise wrote "waiting" and then Ready, 100-230
// status writes more. A Town that is stalled is reported at once.
const villageQuietWait = 10 * time.Second

// townStarting is the wait for the catalog of a Town that is not stalled:
// it is being provisioned and resolves its catalog by itself.
type townStarting struct{ *waiting }

func (t townStarting) Unwrap() error { return t.waiting }

// quietWait returns how long a Village may still wait for its starting
// Town without reporting it (0: report now): only one that has never
// reported a condition, within villageQuietWait of its creation.
func quietWait(v *wuxiaov1.Village, err error, now time.Time) time.Duration {
	var ts townStarting
	if !errors.As(err, &ts) || meta.FindStatusCondition(v.Status.Conditions, wuxiaov1.ConditionReady) != nil {
		return 0
	}
	return max(v.CreationTimestamp.Add(villageQuietWait).Sub(now), 0)
}

func olderThan(a, b *wuxiaov1.Village) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// missingRoles lists the village roles the catalog's steps need, and the
// liaison officer every village needs, that no official holds. Town roles and villagers are not the village's to provide.
func missingRoles(v *wuxiaov1.Village, cat *wuxiaov1.PowerCatalog) []wuxiaov1.OfficialRole {
	held := map[wuxiaov1.OfficialRole]bool{}
	for _, o := range v.Spec.Officials {
		held[o.Role] = true
	}
	var missing []wuxiaov1.OfficialRole
	// Every village has a supervision liaison officer (监察联络员), whatever
	// the catalog says: complaints are routed to them.
	if !held[wuxiaov1.RoleLiaisonOfficer] {
		missing = append(missing, wuxiaov1.RoleLiaisonOfficer)
	}
	for i := range cat.Spec.Items {
		for _, s := range cat.Spec.Items[i].Steps {
			role := wuxiaov1.OfficialRole(s.Role)
			if isVillageRole(role) && !held[role] && !slices.Contains(missing, role) {
				missing = append(missing, role)
			}
		}
	}
	slices.Sort(missing)
	return missing
}

func isVillageRole(r wuxiaov1.OfficialRole) bool {
	switch r {
	case wuxiaov1.RoleSecretary, wuxiaov1.RoleDirector, wuxiaov1.RoleCommitteeMember, wuxiaov1.RoleAccountant,
		wuxiaov1.RoleCashier, wuxiaov1.RoleSupervisionChair, wuxiaov1.RoleLiaisonOfficer:
		return true
	}
	return false
}

// ArchiveRecord is what remains in the archive namespace of a deleted Village.
type ArchiveRecord struct {
	ArchivedAt time.Time         `json:"archivedAt"`
	Village    *wuxiaov1.Village `json:"village"`
}

// ArchiveName is the name of a village's archive ConfigMap; the UID keeps a
// later village of the same name from overwriting it.
func ArchiveName(v *wuxiaov1.Village) string {
	return fmt.Sprintf("village-%s-%s-%s", v.Namespace, v.Name, string(v.UID)[:8])
}

func (r *VillageReconciler) archive(ctx context.Context, v *wuxiaov1.Village) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(v, wuxiaov1.ArchiveFinalizer) {
		return ctrl.Result{}, nil
	}
	// The town's services archive it first (they keep its records).
	if wait, err := r.announceArchive(ctx, v); wait > 0 || err != nil {
		return ctrl.Result{RequeueAfter: wait}, err
	}
	// The officials of an archived village lose their access.
	if err := r.deactivateAll(ctx, v); err != nil {
		return r.archiveFailed(ctx, v, fmt.Errorf("cannot deactivate the officials' identities: %w; the Village stays until they are", err))
	}
	// Their first sign-in codes, handed over or not, go with them.
	if err := r.deleteRecovery(ctx, v); err != nil {
		return r.archiveFailed(ctx, v, fmt.Errorf("cannot delete the officials' sign-in codes: %w; the Village stays until it can", err))
	}
	snapshot := v.DeepCopy()
	snapshot.ManagedFields = nil
	doc, err := json.MarshalIndent(ArchiveRecord{ArchivedAt: time.Now().UTC(), Village: snapshot}, "", "  ")
	if err != nil {
		return ctrl.Result{}, err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: ArchiveName(v), Namespace: r.ArchiveNamespace,
			Labels: map[string]string{
				ArchivedLabel: "true", wuxiaov1.ManagedByLabel: wuxiaov1.ManagedByValue,
				wuxiaov1.TownLabel: strings.TrimPrefix(v.Namespace, "town-"), wuxiaov1.VillageLabel: v.Spec.Code,
			},
		},
		Data: map[string]string{"village.json": string(doc)},
	}
	if err := r.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
		err = fmt.Errorf("cannot archive into namespace %s: %w; the Village stays until it can be archived", r.ArchiveNamespace, err)
		// On every attempt: the archive namespace is the administrator's to fix.
		r.Recorder.Eventf(v, nil, corev1.EventTypeWarning, wuxiaov1.ReasonArchiving, "Archive", "%s", err.Error())
		return r.archiveFailed(ctx, v, err)
	}
	r.Recorder.Eventf(v, nil, corev1.EventTypeNormal, "Archived", "Archive", "archived as ConfigMap %s/%s", cm.Namespace, cm.Name)
	controllerutil.RemoveFinalizer(v, wuxiaov1.ArchiveFinalizer)
	return ctrl.Result{}, r.Update(ctx, v)
}

// deleteRecovery deletes the archived village's recovery Secret, named by
// its town and code (not by status, which a village provisioned before the
// recovery namespaces names otherwise), unless another Village of the town
// claims the same code: the Secret is then that village's.
func (r *VillageReconciler) deleteRecovery(ctx context.Context, v *wuxiaov1.Village) error {
	town, ok := strings.CutPrefix(v.Namespace, "town-")
	if !ok {
		return nil
	}
	same := &wuxiaov1.VillageList{}
	if err := r.List(ctx, same, client.InNamespace(v.Namespace), client.MatchingFields{villageCodeIndex: v.Spec.Code}); err != nil {
		return err
	}
	for i := range same.Items {
		if o := &same.Items[i]; o.UID != v.UID && o.DeletionTimestamp.IsZero() {
			return nil
		}
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: wuxiaov1.TownRecoveryNamespace(town), Name: resources.VillageRecoverySecretName(v.Spec.Code)}}
	return client.IgnoreNotFound(r.Delete(ctx, s))
}

// archiveFailed reports a failed archiving step through archiveErrors and
// writes the status at once (best effort: the step's error is the one to
// return), since a successful archive ends with the Village gone.
func (r *VillageReconciler) archiveFailed(ctx context.Context, v *wuxiaov1.Village, err error) (ctrl.Result, error) {
	before := v.DeepCopy()
	result, err := archiveErrors.report(r.Recorder, v, &v.Status.Conditions, v.Generation, err)
	_ = patchStatus(ctx, r.Client, before, v, &before.Status, &v.Status)
	return result, err
}

// SetupWithManager registers the controller, its index and watches.
func (r *VillageReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &wuxiaov1.Village{}, villageCodeIndex, func(o client.Object) []string {
		return []string{o.(*wuxiaov1.Village).Spec.Code}
	}); err != nil {
		return err
	}
	name := r.Name
	if name == "" {
		name = "village"
	}
	// A Town matters to its villages when it appears, goes, changes spec or
	// resolves another catalog, not on every status write.
	townChanged := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*wuxiaov1.Town), e.ObjectNew.(*wuxiaov1.Town)
		return o.Generation != n.Generation || o.Status.Catalog != n.Status.Catalog || len(o.Status.Topics) != len(n.Status.Topics)
	}}
	return ctrl.NewControllerManagedBy(mgr).Named(name).
		// Villages are independent of each other: onboarding hundreds at
		// once should not wait on one round trip at a time.
		WithOptions(controller.Options{MaxConcurrentReconciles: VillageWorkers}).
		For(&wuxiaov1.Village{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// The QR ConfigMap's creation is the village's own doing (a
		// reconcile then would find its status not yet in the cache and
		// redo its work); edits and deletions are drift to correct.
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }})).
		Watches(&wuxiaov1.Town{}, handler.EnqueueRequestsFromMapFunc(r.villagesOfTown), builder.WithPredicates(townChanged)).
		Watches(&wuxiaov1.District{}, handler.EnqueueRequestsFromMapFunc(r.villagesOfDistrict), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&wuxiaov1.PowerCatalog{}, handler.EnqueueRequestsFromMapFunc(r.allVillages), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(traced("village", r))
}

func (r *VillageReconciler) villagesOfTown(ctx context.Context, o client.Object) []reconcile.Request {
	return r.villageRequests(ctx, client.InNamespace(wuxiaov1.TownNamespace(o.GetName())))
}

func (r *VillageReconciler) villagesOfDistrict(ctx context.Context, o client.Object) []reconcile.Request {
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, towns, client.MatchingFields{townDistrictIndex: o.GetName()}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range towns.Items {
		reqs = append(reqs, r.villageRequests(ctx, client.InNamespace(towns.Items[i].NamespaceName()))...)
	}
	return reqs
}

func (r *VillageReconciler) allVillages(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.villageRequests(ctx)
}

func (r *VillageReconciler) villageRequests(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	villages := &wuxiaov1.VillageList{}
	if err := r.List(ctx, villages, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(villages.Items))
	for i := range villages.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: villages.Items[i].Namespace, Name: villages.Items[i].Name}})
	}
	return reqs
}

// ReissueAnnotation, set on a Village to a comma-separated list of official
// ids (kubectl wuxiao officials reissue), asks the operator for a new
// one-time first sign-in code for each: the previous code stops working,
// the new one replaces it in the village's recovery Secret, and the operator
// removes the annotation and records the time in ReissuedAtAnnotation (and
// a Normal event naming the officials, never a code or link).
const ReissueAnnotation = "wuxiao.io/reissue-recovery"

// ReissuedAtAnnotation is when the operator last reissued codes (RFC 3339).
const ReissuedAtAnnotation = "wuxiao.io/recovery-reissued-at"

// reissue serves ReissueAnnotation on a Ready village.
func (r *VillageReconciler) reissue(ctx context.Context, v *wuxiaov1.Village, town *wuxiaov1.Town, district *wuxiaov1.District) error {
	req, ok := v.Annotations[ReissueAnnotation]
	if !ok {
		return nil
	}
	secret := &corev1.Secret{}
	secretName := resources.VillageRecoverySecretName(v.Spec.Code)
	if err := r.Get(ctx, types.NamespacedName{Namespace: town.RecoveryNamespaceName(), Name: secretName}, secret); client.IgnoreNotFound(err) != nil {
		return err
	}
	k := kratosFor(district.Spec.Kratos.AdminURL)
	var done, refused []string
	for _, id := range strings.Split(req, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		o := slices.IndexFunc(v.Spec.Officials, func(o wuxiaov1.Official) bool { return o.ID == id })
		ident := slices.IndexFunc(v.Status.Identities, func(i wuxiaov1.OfficialIdentity) bool { return i.Official == id && i.Active })
		if o < 0 || ident < 0 {
			refused = append(refused, id)
			continue
		}
		// The previous code first: a failure leaves it as it was, and the
		// request is retried.
		var old RecoveryEntry
		if raw, ok := secret.Data[id]; ok && json.Unmarshal(raw, &old) == nil && old.Link != "" {
			if err := burnRecoveryFlow(ctx, district.Spec.Kratos.PublicURL, old.Link); err != nil {
				return &unavailable{wuxiaov1.ReasonIdentityUnavailable, fmt.Sprintf("official %s: invalidating the previous sign-in code: %v", id, err)}
			}
		}
		code, link, expires, err := k.RecoveryCode(ctx, v.Status.Identities[ident].IdentityID)
		if err != nil {
			return &unavailable{wuxiaov1.ReasonIdentityUnavailable, err.Error()}
		}
		entry := &RecoveryEntry{Login: OfficialLogin(v, v.Spec.Officials[o]), Code: code, Link: link, ExpiresAt: expires.UTC()}
		if err := r.writeRecovery(ctx, town, v, map[string]*RecoveryEntry{id: entry}); err != nil {
			return err
		}
		done = append(done, id)
	}
	now := time.Now().UTC().Truncate(time.Second)
	patched := v.DeepCopy()
	delete(patched.Annotations, ReissueAnnotation)
	if len(done) > 0 {
		patched.Annotations[ReissuedAtAnnotation] = now.Format(time.RFC3339)
	}
	if err := r.Patch(ctx, patched, client.MergeFrom(v)); err != nil {
		return err
	}
	if len(done) > 0 {
		r.Recorder.Eventf(v, nil, corev1.EventTypeNormal, "RecoveryReissued", "Reissue",
			"new one-time sign-in codes for %s in Secret %s; the previous ones no longer work", strings.Join(done, ", "), town.RecoveryNamespaceName()+"/"+secretName)
	}
	if len(refused) > 0 {
		r.Recorder.Eventf(v, nil, corev1.EventTypeWarning, "RecoveryNotReissued", "Reissue",
			"no active official %s in this village: no code issued", strings.Join(refused, ", "))
	}
	return nil
}

// burnRecoveryFlow makes the recovery flow of a sign-in link unusable.
// Kratos has no API to revoke a code, but refuses every code, the right
// one too, once a flow had more than 5 submissions (against guessing), so
// six wrong submissions retire it. A flow that is gone or expired is done.
func burnRecoveryFlow(ctx context.Context, publicURL, link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return errors.New("the previous link does not parse")
	}
	flow := u.Query().Get("flow")
	if flow == "" {
		return nil
	}
	target := strings.TrimSuffix(publicURL, "/") + "/self-service/recovery?flow=" + url.QueryEscape(flow)
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 6 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(`{"method":"code","code":"000000"}`))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("the Kratos public API: %w", err)
		}
		_ = resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusBadRequest:
			continue // a wrong code counted
		case http.StatusSeeOther, http.StatusNotFound, http.StatusGone, http.StatusForbidden, http.StatusUnprocessableEntity:
			return nil // retired, gone, expired, or (000000 was right) used
		default:
			return fmt.Errorf("the Kratos public API answered %d", resp.StatusCode)
		}
	}
	return nil
}
