package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/catalog"
)

// PowerCatalogReconciler checks catalogs beyond their schema and reports
// item counts per category.
type PowerCatalogReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Name     string
}

// +kubebuilder:rbac:groups=wuxiao.io,resources=powercatalogs,verbs=get;list;watch
// +kubebuilder:rbac:groups=wuxiao.io,resources=powercatalogs/status,verbs=get;update;patch

// Reconcile validates one PowerCatalog.
func (r *PowerCatalogReconciler) Reconcile(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
	cat := &wuxiaov1.PowerCatalog{}
	if err := r.Get(ctx, req.NamespacedName, cat); err != nil {
		if apierrors.IsNotFound(err) {
			forgetConditionMetrics("PowerCatalog", req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := cat.DeepCopy()
	if isPaused(cat) {
		markPaused(&cat.Status.Conditions, cat.Generation)
	} else {
		problems := catalog.Validate(&cat.Spec)
		cat.Status.Problems = problems
		setItemsRunnable(&cat.Status.Conditions, cat.Generation, len(cat.Spec.Items), catalog.RunProblems(&cat.Spec))
		cat.Status.Items = int32(len(cat.Spec.Items))
		cat.Status.Categories = catalog.CountByCategory(&cat.Spec)
		if len(problems) > 0 {
			msg := fmt.Sprintf("%d problem(s) found, first: %s", len(problems), problems[0])
			markStalled(&cat.Status.Conditions, cat.Generation, wuxiaov1.ReasonCatalogInvalid, msg)
		} else {
			markReady(&cat.Status.Conditions, cat.Generation, summary(cat.Status.Categories))
		}
	}
	cat.Status.ObservedGeneration = cat.Generation
	recordConditionMetrics("PowerCatalog", cat.Name, cat.Status.Conditions)
	// One event per spec generation, not per resync.
	changed := before.Status.ObservedGeneration != cat.Generation
	if err := patchStatus(ctx, r.Client, before, cat, &before.Status, &cat.Status); err != nil {
		return ctrl.Result{}, err
	}
	if changed && len(cat.Status.Problems) > 0 {
		r.Recorder.Eventf(cat, nil, corev1.EventTypeWarning, wuxiaov1.ReasonCatalogInvalid, "Validate",
			"%d problem(s): %s", len(cat.Status.Problems), strings.Join(cat.Status.Problems, "; "))
	} else if c := meta.FindStatusCondition(cat.Status.Conditions, wuxiaov1.ConditionItemsRunnable); changed && c != nil && c.Status == metav1.ConditionFalse {
		// Ready, but some item's controls cannot be met as written.
		r.Recorder.Eventf(cat, nil, corev1.EventTypeWarning, wuxiaov1.ReasonItemNotRunnable, "Validate", "%s", c.Message)
	}
	return ctrl.Result{}, nil
}

// setItemsRunnable sets the ItemsRunnable condition from catalog.RunProblems.
func setItemsRunnable(conds *[]metav1.Condition, gen int64, items int, problems []string) {
	c := metav1.Condition{Type: wuxiaov1.ConditionItemsRunnable, Status: metav1.ConditionTrue, Reason: wuxiaov1.ReasonEveryItemRuns,
		Message: fmt.Sprintf("all %d items can be started and finished by the roles they name, and their controls met", items), ObservedGeneration: gen}
	if len(problems) > 0 {
		c.Status, c.Reason = metav1.ConditionFalse, wuxiaov1.ReasonItemNotRunnable
		c.Message = fmt.Sprintf("%d problem(s): %s", len(problems), strings.Join(problems, "; "))
	}
	meta.SetStatusCondition(conds, c)
}

func summary(counts []wuxiaov1.CategoryCount) string {
	parts := make([]string, 0, len(counts))
	total := int32(0)
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%s %d", c.Category, c.Items))
		total += c.Items
	}
	return fmt.Sprintf("%d items valid (%s)", total, strings.Join(parts, ", "))
}

// SetupWithManager registers the controller.
func (r *PowerCatalogReconciler) SetupWithManager(mgr ctrl.Manager) error {
	name := r.Name
	if name == "" {
		name = "powercatalog"
	}
	return ctrl.NewControllerManagedBy(mgr).Named(name).
		For(&wuxiaov1.PowerCatalog{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Complete(traced("powercatalog", r))
}
