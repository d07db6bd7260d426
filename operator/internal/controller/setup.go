// Package controller holds one reconciler per Wuxiao kind. Each is small:
// it validates, ensures the objects it owns, and reports status with the
// predeclared Ready/Reconciling/Stalled conditions.
package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

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
		&corev1.Namespace{}, &corev1.Secret{}, &corev1.Service{}, &appsv1.Deployment{},
		&policyv1.PodDisruptionBudget{}, &networkingv1.NetworkPolicy{}, &rbacv1.Role{}, &rbacv1.RoleBinding{},
		// The district gateway's.
		&corev1.ServiceAccount{}, &rbacv1.ClusterRole{}, &rbacv1.ClusterRoleBinding{}, &networkingv1.Ingress{},
	} {
		by[o] = managed
	}
	// A village's QR ConfigMap (some 13 KiB of PNG and SVG) and archive
	// record are cached without their data, which the operator never reads
	// back: only a digest of it (qrUpToDate compares the digest of what it
	// would write). At 20,000 villages the images alone would be 260 MiB of
	// cache. ByObject is keyed by pointer: a second &corev1.ConfigMap{} key
	// would be a second entry for the same kind, and which one the cache
	// used would change from run to run (TestCacheOptionsOneEntryPerKind).
	by[&corev1.ConfigMap{}] = cache.ByObject{Label: managed.Label, Transform: stripVillageConfigMapData}
	// Nothing reads managedFields, a good part of every cached object.
	return cache.Options{ByObject: by, DefaultTransform: cache.TransformStripManagedFields()}
}

// CachedDataDigestAnnotation is set, in the operator's cache only, on a
// ConfigMap of a village (label wuxiao.io/village) whose data the cache
// does not keep: a digest of its data and binaryData (dataDigest). It is
// never written to the API server.
const CachedDataDigestAnnotation = "wuxiao.io/cached-data-digest"

// stripVillageConfigMapData is the cache's transform of ConfigMaps: see
// CacheOptions.
func stripVillageConfigMapData(in any) (any, error) {
	cm, ok := in.(*corev1.ConfigMap)
	if !ok {
		return in, nil
	}
	cm.ManagedFields = nil
	if cm.Labels[wuxiaov1.VillageLabel] == "" || (cm.Data == nil && cm.BinaryData == nil) {
		return cm, nil
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[CachedDataDigestAnnotation] = dataDigest(cm.Data, cm.BinaryData)
	cm.Data, cm.BinaryData = nil, nil
	return cm, nil
}

// dataDigest is a SHA-256 over a ConfigMap's keys and values.
func dataDigest(data map[string]string, bin map[string][]byte) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(h, "d%d:%s%d:", len(k), k, len(data[k]))
		h.Write([]byte(data[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(bin)) {
		fmt.Fprintf(h, "b%d:%s%d:", len(k), k, len(bin[k]))
		h.Write(bin[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Client-side rate limit of the operator's API requests: none by default
// (QPS -1), as controller-runtime's pkg/client/config does, on
// SIG API Machinery's advice: the API server's priority and fairness
// queues and sheds load itself. A limit of 100 a second per kind (one
// limiter per REST client) capped onboarding at 50 villages a second (a
// village is two writes of its kind: finalizer, status) and cost 0.6 s of
// ~5.5 at 12 towns × 347 villages (hack/bench/scale). --kube-api-qps sets
// one where a cluster's operators want it.
const (
	DefaultQPS   = -1
	DefaultBurst = 200
)

// Concurrent reconciles: villages and towns are independent of each other.
// A reconcile of either waits mostly on round trips (a village's writes
// and its event; a town's database, topics and some 30 objects), and a
// town's villages wait for its catalog. 16 each: a district's towns (12 in
// Fenghua) start at once instead of the last four waiting a whole first
// reconcile for a worker, and 16 villages in flight keep the API server
// busy where 8 left it waiting (hack/bench/scale, 12 × 347: 6.0 → 5.5 s).
// A town's reconcile opens its PostgreSQL connections one at a time, so
// the operator holds at most TownWorkers of them.
const (
	VillageWorkers = 16
	TownWorkers    = 16
)

// Options configures the controllers.
type Options struct {
	ArchiveNamespace string
	// NameSuffix makes controller names unique when tests start several
	// managers in one process.
	NameSuffix string
	// AckGroup is the Kafka consumer group reading the services' acks
	// [DefaultAckGroup]; AckResync how often the towns are listed for new
	// acks topics [30s].
	AckGroup  string
	AckResync time.Duration
	// ArchiveAckTimeout bounds how long a deleted Village waits for the
	// services to acknowledge its archival [DefaultArchiveAckTimeout];
	// AckPoll is how often it looks [5s].
	ArchiveAckTimeout time.Duration
	AckPoll           time.Duration
	// RolloutMetrics reads the towns' request counters for the rollout
	// gate [a PodMetricsScraper scraping the pods' metrics port].
	RolloutMetrics RolloutMetrics
	// OperatorNamespace is the operator's own namespace when it runs in
	// the cluster: the towns' NetworkPolicies admit it to the services'
	// metrics port, which the rollout gate reads. Empty (an operator
	// outside the cluster) adds no such rule.
	OperatorNamespace string
}

// DefaultArchiveAckTimeout: past it, a deleted village is archived even if
// some service has not acknowledged (it applies the archival from the
// tenant stream when it catches up).
const DefaultArchiveAckTimeout = 10 * time.Minute

func (o *Options) defaults() {
	if o.AckGroup == "" {
		o.AckGroup = DefaultAckGroup
	}
	if o.AckResync <= 0 {
		o.AckResync = 30 * time.Second
	}
	if o.ArchiveAckTimeout <= 0 {
		o.ArchiveAckTimeout = DefaultArchiveAckTimeout
	}
	if o.AckPoll <= 0 {
		o.AckPoll = 5 * time.Second
	}
}

// Setup registers every controller with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	opts.defaults()
	rec := mgr.GetEventRecorder("wuxiao-operator")
	c, s := mgr.GetClient(), mgr.GetScheme()
	if opts.RolloutMetrics == nil {
		opts.RolloutMetrics = &PodMetricsScraper{}
	}
	if s, ok := opts.RolloutMetrics.(*PodMetricsScraper); ok && s.Reader == nil {
		s.Reader = mgr.GetAPIReader()
	}
	if err := (&TownReconciler{Client: c, Scheme: s, Recorder: rec, APIReader: mgr.GetAPIReader(), Name: "town" + opts.NameSuffix,
		Metrics: opts.RolloutMetrics, OperatorNamespace: opts.OperatorNamespace}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&VillageReconciler{Client: c, Scheme: s, Recorder: rec, ArchiveNamespace: opts.ArchiveNamespace, Name: "village" + opts.NameSuffix,
		Services: TownServices, ArchiveAckTimeout: opts.ArchiveAckTimeout, AckPoll: opts.AckPoll}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := mgr.Add(&AckConsumer{Client: c, APIReader: mgr.GetAPIReader(), Group: opts.AckGroup, Resync: opts.AckResync,
		Services: TownServices, Log: mgr.GetLogger().WithName("acks")}); err != nil {
		return err
	}
	if err := (&DistrictReconciler{Client: c, APIReader: mgr.GetAPIReader(), Recorder: rec, Name: "district" + opts.NameSuffix}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&PowerCatalogReconciler{Client: c, Recorder: rec, Name: "powercatalog" + opts.NameSuffix}).SetupWithManager(mgr)
}
