// Package controller holds one reconciler per Wuxiao kind. Each is small:
// it validates, ensures the objects it owns, and reports status with the
// predeclared Ready/Reconciling/Stalled conditions.
package controller

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// NewScheme returns a scheme with the built-in kinds and Wuxiao's.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := wuxiaov1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// CacheOptions restricts the manager's cache to the built-in objects the
// operator manages, so its memory does not grow with the rest of the cluster
// (every ConfigMap, every Deployment).
func CacheOptions() cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{wuxiaov1.ManagedByLabel: wuxiaov1.ManagedByValue})}
	by := map[client.Object]cache.ByObject{}
	for _, o := range []client.Object{
		&corev1.Namespace{}, &corev1.ConfigMap{}, &corev1.Secret{}, &corev1.Service{}, &appsv1.Deployment{},
		&policyv1.PodDisruptionBudget{}, &networkingv1.NetworkPolicy{}, &rbacv1.Role{}, &rbacv1.RoleBinding{},
	} {
		by[o] = managed
	}
	return cache.Options{ByObject: by}
}

// Client-side rate limits of the operator's API requests, per resource kind
// (client-go keeps one limiter per REST client). A village costs two writes
// (finalizer, status), so the limit caps onboarding at QPS/2 villages per
// second; the API server's priority and fairness still protects itself.
const (
	DefaultQPS   = 100
	DefaultBurst = 200
)

// Concurrent reconciles: villages and towns are independent of each other.
const (
	VillageWorkers = 4
	TownWorkers    = 2
)

// Options configures the controllers.
type Options struct {
	ArchiveNamespace string
	// NameSuffix makes controller names unique when tests start several
	// managers in one process.
	NameSuffix string
}

// Setup registers every controller with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	rec := mgr.GetEventRecorder("wuxiao-operator")
	c, s := mgr.GetClient(), mgr.GetScheme()
	if err := (&TownReconciler{Client: c, Scheme: s, Recorder: rec, APIReader: mgr.GetAPIReader(), Name: "town" + opts.NameSuffix}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&VillageReconciler{Client: c, Scheme: s, Recorder: rec, ArchiveNamespace: opts.ArchiveNamespace, Name: "village" + opts.NameSuffix}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&DistrictReconciler{Client: c, APIReader: mgr.GetAPIReader(), Recorder: rec, Name: "district" + opts.NameSuffix}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&PowerCatalogReconciler{Client: c, Recorder: rec, Name: "powercatalog" + opts.NameSuffix}).SetupWithManager(mgr)
}
