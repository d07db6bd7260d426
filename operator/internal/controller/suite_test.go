package controller

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
	"github.com/wuxiao/wuxiao/operator/testenv"
)

// One real API server for the package; each test starts its own manager so
// that it can count that manager's requests alone.
var (
	env *testenv.Env
	k8s client.Client // the test's own client (admin), never the manager's
	// operatorConfig authenticates as a user bound to exactly the generated
	// ClusterRole (config/rbac/role.yaml), so a missing RBAC marker fails
	// the tests as it would fail in a cluster.
	operatorConfig *rest.Config
	// managerCache is the running manager's cache (tests run one at a
	// time), which update waits on.
	managerCache client.Reader
)

func leastPrivilege() (*rest.Config, error) {
	ctx := context.Background()
	objs, err := testenv.ReadObjects(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		return nil, err
	}
	role := objs[0]
	if err := k8s.Create(ctx, role); err != nil {
		return nil, err
	}
	user, err := env.AddUser(envtest.User{Name: "wuxiao-operator"}, nil)
	if err != nil {
		return nil, err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "wuxiao-operator-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.GetName()},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "wuxiao-operator"}},
	}
	if err := k8s.Create(ctx, binding); err != nil {
		return nil, err
	}
	return user.Config(), nil
}

const archiveNS = "wuxiao-system"

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevel())))
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s, err = client.New(env.Config, client.Options{Scheme: NewScheme()})
	if err == nil {
		err = k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: archiveNS}})
	}
	if err == nil {
		operatorConfig, err = leastPrivilege()
	}
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	_ = env.Stop()
	os.Exit(code)
}

func zapLevel() zapLevelT {
	if os.Getenv("WUXIAO_TEST_DEBUG") != "" {
		return -1
	}
	// Quiet by default: stopping a manager per test logs cancelled requests
	// as errors; the tests assert behaviour, the logs are for debugging.
	return zapcore.DPanicLevel
}

type zapLevelT = zapcore.Level

// requestCounter counts the requests a manager makes, by verb.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
	writes []string
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		c.mu.Lock()
		c.counts[req.Method]++
		if req.Method != http.MethodGet {
			c.writes = append(c.writes, req.Method+" "+req.URL.Path)
		}
		c.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

// Writes returns the write requests seen so far.
func (c *requestCounter) Writes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// waitQuiet waits until no write has been made for the given time: events
// are sent asynchronously, after the reconcile that caused them.
func (c *requestCounter) waitQuiet(t *testing.T, quiet time.Duration) {
	t.Helper()
	last, since := len(c.Writes()), time.Now()
	eventually(t, wait, func() error {
		if n := len(c.Writes()); n != last {
			last, since = n, time.Now()
		}
		if time.Since(since) < quiet {
			return fmt.Errorf("still writing (%d writes)", last)
		}
		return nil
	})
}

func (c *requestCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts, c.writes = map[string]int{}, nil
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// startManager runs the operator's controllers against the test API server
// until the test ends, and returns a counter of its requests.
func startManager(t *testing.T) *requestCounter {
	t.Helper()
	// No town services run in these tests: a deleted village waits for
	// their acks only briefly. Each manager reads acks in a group of its own.
	return startManagerWith(t, Options{ArchiveNamespace: archiveNS, ArchiveAckTimeout: 2 * time.Second})
}

// startManagerWith is startManager with opts (the ack settings default to
// fast ones).
func startManagerWith(t *testing.T, opts Options) *requestCounter {
	t.Helper()
	if opts.AckGroup == "" {
		opts.AckGroup = "operator-test-" + provision.RandomHex(6)
	}
	if opts.AckResync == 0 {
		opts.AckResync = 500 * time.Millisecond
	}
	if opts.AckPoll == 0 {
		opts.AckPoll = 200 * time.Millisecond
	}
	counter := &requestCounter{counts: map[string]int{}}
	cfg := rest.CopyConfig(operatorConfig)
	cfg.QPS, cfg.Burst = DefaultQPS, DefaultBurst
	cfg.WrapTransport = counter.wrap
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:     NewScheme(),
		Cache:      CacheOptions(),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	managerCache = mgr.GetCache()
	t.Cleanup(func() {
		managerCache = nil
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return counter
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not within %v: %v", timeout, err)
}

// Generous: a loaded 2-core CI machine once needed more than 20 s for a
// rollout wave to follow; eventually returns as soon as the state is reached.
const wait = 60 * time.Second

// runID makes test data that outlives the run (Kratos identities) unique to it.
var runID = provision.RandomHex(4)

var seq atomic.Int32

// fixture creates a District, a valid PowerCatalog and the admin Secret under
// unique names, and returns the District.
// fixture creates a District on the real infrastructure, changed by opts
// before it is created: a change made by update right after would race
// the manager's cache, whose first town reconcile may still see the old
// spec.
func fixture(t *testing.T, opts ...func(*wuxiaov1.District)) *wuxiaov1.District {
	t.Helper()
	ctx := context.Background()
	n := seq.Add(1)
	name := fmt.Sprintf("d%d", n)
	cat := validCatalog("cat-" + name)
	must(t, k8s.Create(ctx, cat))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: archiveNS, Name: "pg-" + name},
		Data: map[string][]byte{"password": []byte("s3cret")}}
	must(t, k8s.Create(ctx, secret))
	// The operator provisions on the real PostgreSQL, Kafka and Kratos.
	pg := infraPostgres(t)
	d := &wuxiaov1.District{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: wuxiaov1.DistrictSpec{
			Code: "330213000000", DisplayName: "奉化区",
			Kafka:  wuxiaov1.KafkaSpec{BootstrapServers: strings.Split(requireEnv(t, "WUXIAO_TEST_KAFKA_BROKERS"), ","), Partitions: 3, ReplicationFactor: 1},
			Kratos: wuxiaov1.KratosSpec{PublicURL: requireEnv(t, "WUXIAO_TEST_KRATOS_PUBLIC_URL"), AdminURL: requireEnv(t, "WUXIAO_TEST_KRATOS_ADMIN_URL")},
			Postgres: wuxiaov1.PostgresSpec{Host: pg.Hostname(), Port: int32(atoi(t, pg.Port())), AdminUser: pg.User.Username(),
				SSLMode: pg.Query().Get("sslmode"), AdminPasswordSecret: wuxiaov1.SecretKeyRef{Namespace: archiveNS, Name: secret.Name}},
			Services:      wuxiaov1.ServicesSpec{Version: "v0.1.0"},
			CatalogRef:    cat.Name,
			PortalBaseURL: "https://jiandu.example.cn",
		},
	}
	for _, o := range opts {
		o(d)
	}
	must(t, k8s.Create(ctx, d))
	return d
}

// requireEnv returns a variable of ~/.cache/wuxiao/run/infra.env (hack/infra.sh).
func requireEnv(t *testing.T, key string) string {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		t.Fatalf("%s is not set: the operator tests provision on the real PostgreSQL, Kafka and Kratos; run `make test`, or `hack/infra.sh up` and source its env file", key)
	}
	return v
}

func infraPostgres(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(requireEnv(t, "WUXIAO_TEST_POSTGRES_URL"))
	must(t, err)
	return u
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	must(t, err)
	return n
}

func validCatalog(name string) *wuxiaov1.PowerCatalog {
	return &wuxiaov1.PowerCatalog{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: wuxiaov1.PowerCatalogSpec{Version: "2020.1", Title: "测试清单", Items: []wuxiaov1.PowerItem{{
			ID: "funds-expenditure", Name: "村级财务支出", Category: wuxiaov1.CategoryFunds,
			Basis: []string{"《村民委员会组织法》"},
			Steps: []wuxiaov1.Step{
				{ID: "apply", Name: "经办人申请", Handler: "报账员", Role: "accountant", Method: "填写支出单", Next: []string{"approve"}},
				{ID: "approve", Name: "审批", Handler: "村委会主任", Role: "director", Method: "签字审批",
					TimeLimit: &wuxiaov1.TimeLimit{Days: 3, Calendar: "working"}},
			},
			Controls: []wuxiaov1.Control{{ID: "limit", Step: "approve", Type: "amount-threshold", Description: "超过限额需村民代表会议决议", Norm: "n1"}},
			Norms:    []wuxiaov1.Norm{{ID: "n1", Text: "大额支出须经村民代表会议决议", Basis: "《村民委员会组织法》第二十四条"}},
		}}},
	}
}

// newTown returns a Town of district d with a unique name and code.
func newTown(d *wuxiaov1.District) *wuxiaov1.Town {
	n := seq.Add(1)
	return &wuxiaov1.Town{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", n)},
		Spec: wuxiaov1.TownSpec{
			District: d.Name, Code: fmt.Sprintf("330213%03d000", 100+n%800), Kind: wuxiaov1.TownKindTown,
			DisplayName: "溪口镇", PreventDeletion: ptr.To(false),
			Admins: []wuxiaov1.TownAdmin{{Kind: "Group", Name: fmt.Sprintf("town-it:t%d", n)}},
		},
	}
}

func newVillage(town *wuxiaov1.Town, name, suffix string) *wuxiaov1.Village {
	return &wuxiaov1.Village{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: town.NamespaceName()},
		Spec: wuxiaov1.VillageSpec{
			Code: town.Spec.Code[:9] + suffix, Kind: wuxiaov1.VillageKindVillage, DisplayName: "岩头村",
			Officials: []wuxiaov1.Official{
				{ID: "zhang-wei", Name: "张伟", Role: wuxiaov1.RoleDirector, Phone: "13800000001"},
				{ID: "li-na", Name: "李娜", Role: wuxiaov1.RoleAccountant, Phone: "13800000002"},
			},
		},
	}
}

// kubelet stands in for the Deployment controller and kubelet, which envtest
// lacks: it reports every Deployment of the namespace as fully rolled out.
func kubelet(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	deps := &appsv1.DeploymentList{}
	must(t, k8s.List(ctx, deps, client.InNamespace(ns)))
	for i := range deps.Items {
		d := &deps.Items[i]
		r := ptr.Deref(d.Spec.Replicas, 1)
		if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == r && d.Status.UpdatedReplicas == r {
			continue
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}
		must(t, k8s.Status().Update(ctx, d))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// condition returns the Ready condition's status and reason.
func readyOf(conds []metav1.Condition) (metav1.ConditionStatus, string, string) {
	for _, c := range conds {
		if c.Type == wuxiaov1.ConditionReady {
			return c.Status, c.Reason, c.Message
		}
	}
	return "", "", ""
}

func expectReady(conds []metav1.Condition, gen, observed int64, want metav1.ConditionStatus, reason string) error {
	s, r, m := readyOf(conds)
	if observed != gen {
		return fmt.Errorf("observedGeneration %d, generation %d", observed, gen)
	}
	if s != want || (reason != "" && r != reason) {
		return fmt.Errorf("Ready=%s reason=%s (%s), want %s/%s", s, r, m, want, reason)
	}
	return nil
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// update re-reads obj, applies change and writes it, retrying when the
// operator wrote the object (its status) in between, as a person re-running
// kubectl edit would.
func update(t *testing.T, obj client.Object, change func()) {
	t.Helper()
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change()
		return k8s.Update(context.Background(), obj)
	}))
	waitCached(t, obj)
}

// waitCached waits until the running manager's cache holds obj as written
// or later. Without it, a test that changes a District and creates a Town
// at once races the cache: the first reconcile may still see the old spec
// (and, say, create the database a test expects unreachable).
func waitCached(t *testing.T, obj client.Object) {
	t.Helper()
	if managerCache == nil {
		return
	}
	gvk, err := k8s.GroupVersionKindFor(obj)
	must(t, err)
	if gvk.Group != wuxiaov1.GroupVersion.Group {
		return
	}
	written, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	must(t, err)
	cached := obj.DeepCopyObject().(client.Object)
	eventually(t, 10*time.Second, func() error {
		if err := managerCache.Get(context.Background(), client.ObjectKeyFromObject(obj), cached); err != nil {
			return err
		}
		// etcd's resource versions are integers: a test may compare them.
		if rv, _ := strconv.ParseInt(cached.GetResourceVersion(), 10, 64); rv < written {
			return fmt.Errorf("the manager's cache has %s %s at resourceVersion %d, written %d", gvk.Kind, obj.GetName(), rv, written)
		}
		return nil
	})
}
