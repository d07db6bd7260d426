package controller

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The operator's writes: ensure (create or correct an owned object), the
// reconcilers' wrappers around it that record events, the per-kind sync
// functions saying which fields the operator owns, and patchStatus.

// ensure creates desired, or brings the existing object back to it, writing
// only when something the operator owns differs: the labels and annotations
// desired sets, the controller reference, and what sync copies. Fields the API
// server defaults, or that other controllers add, are left alone, so steady
// state costs no write while drift is still corrected.
// It returns the live object as last read or written.
func ensure[T client.Object](ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object, desired T, sync func(existing, desired T)) (T, controllerutil.OperationResult, error) {
	// CreateOrUpdate overwrites obj with the live object when one exists;
	// otherwise it creates obj as desired.
	obj := desired.DeepCopyObject().(T)
	op, err := controllerutil.CreateOrUpdate(ctx, c, obj, func() error {
		mergeMeta(obj, desired)
		if owner != nil {
			if err := controllerutil.SetControllerReference(owner, obj, scheme); err != nil {
				return fmt.Errorf("owner reference: %w", err)
			}
		}
		if sync != nil {
			sync(obj, desired)
		}
		return nil
	})
	return obj, op, err
}

// childNames says how an owner's events name its children: prefix before
// the kind ("gateway "), and whether with their namespace.
type childNames struct {
	prefix    string
	qualified bool
}

// createdKey holds, in a reconcile's context, a *createdLog: children
// created in that reconcile are then summed up in one event on their owner
// (createdLog.record) instead of one event each, which for a new town was
// 29 Event writes, a quarter of the operator's API requests in
// hack/bench/scale.
type createdKey struct{}

// createdLog counts the children created in one reconcile by kind.
type createdLog struct {
	mu     sync.Mutex
	kinds  []string
	counts map[string]int
}

func withCreatedLog(ctx context.Context) (context.Context, *createdLog) {
	l := &createdLog{counts: map[string]int{}}
	return context.WithValue(ctx, createdKey{}, l), l
}

func (l *createdLog) add(kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts[kind] == 0 {
		l.kinds = append(l.kinds, kind)
	}
	l.counts[kind]++
}

// record emits one Normal event "Created" on owner listing what was
// created, by kind in creation order, e.g. "created 29 objects: 1
// Namespace, 1 Role, 8 Secret, ...", or nothing when nothing was.
func (l *createdLog) record(rec events.EventRecorder, owner runtime.Object) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.kinds) == 0 {
		return
	}
	total, parts := 0, make([]string, 0, len(l.kinds))
	for _, k := range l.kinds {
		total += l.counts[k]
		parts = append(parts, fmt.Sprintf("%d %s", l.counts[k], k))
	}
	rec.Eventf(owner, nil, corev1.EventTypeNormal, "Created", "Create", "created %d objects: %s", total, strings.Join(parts, ", "))
}

// applyOwned ensures desired, a child of owner, records on owner an event
// when it was written or could not be (AlreadyExists excepted: the caller
// reports an object someone else holds), and returns the live object. A
// creation is only counted when ctx carries a createdLog.
func applyOwned[T client.Object](ctx context.Context, c client.Client, scheme *runtime.Scheme, rec events.EventRecorder, owner client.Object, names childNames, desired T, sync func(have, want T)) (T, error) {
	live, _, err := applyOwnedOp(ctx, c, scheme, rec, owner, names, desired, sync)
	return live, err
}

// applyOwnedOp is applyOwned that also says whether the object was created,
// updated or left alone.
func applyOwnedOp[T client.Object](ctx context.Context, c client.Client, scheme *runtime.Scheme, rec events.EventRecorder, owner client.Object, names childNames, desired T, sync func(have, want T)) (T, controllerutil.OperationResult, error) {
	live, op, err := ensure(ctx, c, scheme, owner, desired, sync)
	kind := strings.TrimPrefix(fmt.Sprintf("%T", desired), "*")
	kind = kind[strings.LastIndex(kind, ".")+1:]
	name := desired.GetName()
	if ns := desired.GetNamespace(); names.qualified && ns != "" {
		name = ns + "/" + name
	}
	what := names.prefix + kind + " " + name
	switch {
	case err != nil && !apierrors.IsAlreadyExists(err):
		rec.Eventf(owner, desired, corev1.EventTypeWarning, wuxiaov1.ReasonApplyFailed, "Apply", "%s: %v", what, err)
	case op == controllerutil.OperationResultCreated:
		if l, ok := ctx.Value(createdKey{}).(*createdLog); ok {
			l.add(kind)
		} else {
			rec.Eventf(owner, desired, corev1.EventTypeNormal, "Created", "Create", "created %s", what)
		}
	case op == controllerutil.OperationResultUpdated:
		// Either the spec changed or someone edited a generated object: both
		// are worth a line in `kubectl describe`.
		rec.Eventf(owner, desired, corev1.EventTypeNormal, "Updated", "Update", "brought %s back to the desired state", what)
		log.FromContext(ctx).Info("updated generated object", "kind", kind, "name", name)
	}
	return live, op, err
}

// applyChild ensures one child object of a town (events name it by kind
// and name).
func applyChild[T client.Object](ctx context.Context, r *TownReconciler, town *wuxiaov1.Town, desired T, sync func(have, want T)) (T, error) {
	return applyOwned(ctx, r.Client, r.Scheme, r.Recorder, town, childNames{}, desired, sync)
}

// applyGatewayChild ensures one object of the District's gateway, owned by
// the District (events name it "gateway <kind> <namespace>/<name>").
func applyGatewayChild[T client.Object](ctx context.Context, r *DistrictReconciler, d *wuxiaov1.District, desired T, sync func(have, want T)) (T, error) {
	return applyOwned(ctx, r.Client, r.Scheme(), r.Recorder, d, childNames{prefix: "gateway ", qualified: true}, desired, sync)
}

// patchStatus writes status only when it changed, as a merge patch so that
// it never conflicts with spec edits (opts may add an optimistic lock).
func patchStatus[S any](ctx context.Context, c client.Client, before, after client.Object, old, new *S, opts ...client.MergeFromOption) error {
	if equality.Semantic.DeepEqual(old, new) {
		return nil
	}
	return c.Status().Patch(ctx, after, client.MergeFromWithOptions(before, opts...))
}

// derive sets *have to want unless every field want sets already holds the
// same value in *have (fields want leaves empty are the API server's).
func derive[V any](have *V, want V) {
	if !equality.Semantic.DeepDerivative(want, *have) {
		*have = want
	}
}

// setIfDifferent sets *have to want unless they are semantically equal:
// for fields the operator owns entirely (nothing the API server defaults).
func setIfDifferent[V any](have *V, want V) {
	if !equality.Semantic.DeepEqual(*have, want) {
		*have = want
	}
}

// mergeMeta sets desired's labels and annotations on existing, keeping keys
// that others added.
func mergeMeta(existing, desired metav1.Object) {
	if l := desired.GetLabels(); len(l) > 0 {
		m := existing.GetLabels()
		if m == nil {
			m = map[string]string{}
		}
		maps.Copy(m, l)
		existing.SetLabels(m)
	}
	if a := desired.GetAnnotations(); len(a) > 0 {
		m := existing.GetAnnotations()
		if m == nil {
			m = map[string]string{}
		}
		maps.Copy(m, a)
		existing.SetAnnotations(m)
	}
}

// syncService copies only the fields the operator sets: the cluster IPs and
// other allocated fields are immutable and belong to the API server.
func syncService(have, want *corev1.Service) {
	derive(&have.Spec.Ports, want.Spec.Ports)
	derive(&have.Spec.Selector, want.Spec.Selector)
	if len(have.Spec.Selector) != len(want.Spec.Selector) {
		have.Spec.Selector = want.Spec.Selector
	}
	have.Spec.Type = want.Spec.Type
}

// syncNetworkPolicy keeps a town's or the gateway's NetworkPolicy exactly
// as generated, both directions: the API server defaults nothing in them.
func syncNetworkPolicy(have, want *networkingv1.NetworkPolicy) {
	derive(&have.Spec.PodSelector, want.Spec.PodSelector)
	setIfDifferent(&have.Spec.PolicyTypes, want.Spec.PolicyTypes)
	setIfDifferent(&have.Spec.Ingress, want.Spec.Ingress)
	setIfDifferent(&have.Spec.Egress, want.Spec.Egress)
}
