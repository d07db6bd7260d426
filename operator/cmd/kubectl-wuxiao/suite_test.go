package main

// The commands run against a real API server (envtest) with the operator's
// controllers running as a user bound to exactly its generated ClusterRole,
// and provisioning on the real PostgreSQL, Kafka and Kratos
// (~/.cache/wuxiao/run/infra.env). The town's four services are played by
// ackServices, which acknowledges every registered village on the town's
// tenant-acks topic as the services' outboxes do, so villages turn Live.
// The town IT person runs the commands as a user bound to nothing but the
// Role the operator creates for a Town's spec.admins.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/controller"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
	"github.com/wuxiao/wuxiao/operator/testenv"
)

var (
	env *testenv.Env
	k8s client.Client // the test's admin client
)

const archiveNS = "wuxiao-system"

func TestMain(m *testing.M) {
	// Quiet unless debugging: stopping the manager logs cancelled requests.
	var logs io.Writer = discard{}
	if os.Getenv("WUXIAO_TEST_DEBUG") != "" {
		logs = os.Stderr
	}
	logf.SetLogger(zap.New(zap.WriteTo(logs)))
	code := 1
	var err error
	env, err = testenv.Start()
	if err == nil {
		k8s, err = client.New(env.Config, client.Options{Scheme: newScheme()})
	}
	if err == nil {
		err = k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: archiveNS}})
	}
	var stop func()
	if err == nil {
		stop, err = startOperator()
	}
	if err == nil {
		code = m.Run()
		stop()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	if env != nil {
		_ = env.Stop()
	}
	os.Exit(code)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// startOperator runs the operator's controllers as a user bound to exactly
// the generated ClusterRole (config/rbac/role.yaml).
func startOperator() (func(), error) {
	ctx := context.Background()
	objs, err := testenv.ReadObjects(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		return nil, err
	}
	if err := k8s.Create(ctx, objs[0]); err != nil {
		return nil, err
	}
	user, err := env.AddUser(envtest.User{Name: "wuxiao-operator"}, nil)
	if err != nil {
		return nil, err
	}
	if err := k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "wuxiao-operator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: objs[0].GetName()},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "wuxiao-operator"}},
	}); err != nil {
		return nil, err
	}
	cfg := user.Config()
	cfg.QPS, cfg.Burst = controller.DefaultQPS, controller.DefaultBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: controller.NewScheme(), Cache: controller.CacheOptions(),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, err
	}
	if err := controller.Setup(mgr, controller.Options{ArchiveNamespace: archiveNS, ArchiveAckTimeout: 2 * time.Second,
		AckGroup: "kubectl-wuxiao-test-" + provision.RandomHex(6), AckResync: 500 * time.Millisecond, AckPoll: 200 * time.Millisecond}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}, nil
}

const wait = 90 * time.Second

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not within %v: %v", timeout, err)
}

func requireEnv(t testing.TB, key string) string {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		t.Fatalf("%s is not set: these tests provision on the real PostgreSQL, Kafka and Kratos; run `make test`, or `hack/infra.sh up` and source its env file", key)
	}
	return v
}

var (
	seqMu sync.Mutex
	seq   int
)

func next() int {
	seqMu.Lock()
	defer seqMu.Unlock()
	seq++
	return seq
}

// district creates a District with a valid catalog on the real
// infrastructure.
func district(t testing.TB) *wuxiaov1.District {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("kw-d%d", next())
	cat := &wuxiaov1.PowerCatalog{
		ObjectMeta: metav1.ObjectMeta{Name: "cat-" + name},
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
	must(t, k8s.Create(ctx, cat))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: archiveNS, Name: "pg-" + name},
		Data: map[string][]byte{"password": []byte("s3cret")}}
	must(t, k8s.Create(ctx, secret))
	pg, err := url.Parse(requireEnv(t, "WUXIAO_TEST_POSTGRES_URL"))
	must(t, err)
	port, err := strconv.Atoi(pg.Port())
	must(t, err)
	d := &wuxiaov1.District{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: wuxiaov1.DistrictSpec{
			Code: "330213000000", DisplayName: "奉化区",
			Kafka:  wuxiaov1.KafkaSpec{BootstrapServers: strings.Split(requireEnv(t, "WUXIAO_TEST_KAFKA_BROKERS"), ","), Partitions: 1, ReplicationFactor: 1},
			Kratos: wuxiaov1.KratosSpec{PublicURL: requireEnv(t, "WUXIAO_TEST_KRATOS_PUBLIC_URL"), AdminURL: requireEnv(t, "WUXIAO_TEST_KRATOS_ADMIN_URL")},
			Postgres: wuxiaov1.PostgresSpec{Host: pg.Hostname(), Port: int32(port), AdminUser: pg.User.Username(),
				SSLMode: pg.Query().Get("sslmode"), AdminPasswordSecret: wuxiaov1.SecretKeyRef{Namespace: archiveNS, Name: secret.Name}},
			Services:      wuxiaov1.ServicesSpec{Version: "v0.1.0"},
			CatalogRef:    cat.Name,
			PortalBaseURL: "https://jiandu.example.cn",
		},
	}
	must(t, k8s.Create(ctx, d))
	return d
}

// townIT is a Ready town, its services acknowledging villages, and the
// rest config of its IT person: a user in the group the Town names as its
// admins, with no other rights.
type townIT struct {
	town *wuxiaov1.Town
	cfg  *rest.Config
	// kubeconfig is cfg as a kubeconfig file's content, for real kubectl.
	kubeconfig []byte
}

func readyTown(t testing.TB, d *wuxiaov1.District, name string) townIT {
	t.Helper()
	ctx := context.Background()
	name = fmt.Sprintf("%s-%d", name, next())
	group := "town-it:" + name
	town := &wuxiaov1.Town{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: wuxiaov1.TownSpec{
			District: d.Name, Code: fmt.Sprintf("330213%03d000", 900+next()%99), Kind: wuxiaov1.TownKindTown,
			DisplayName: "溪口镇", PreventDeletion: ptr.To(false),
			Admins: []wuxiaov1.TownAdmin{{Kind: "Group", Name: group}},
		},
	}
	must(t, k8s.Create(ctx, town))
	eventually(t, wait, func() error {
		kubelet(t, town.NamespaceName())
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(town), town); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(town.Status.Conditions, wuxiaov1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || town.Status.ObservedGeneration != town.Generation {
			return fmt.Errorf("town not Ready: %+v", town.Status.Conditions)
		}
		return nil
	})
	user, err := env.AddUser(envtest.User{Name: "it-" + name, Groups: []string{group}}, nil)
	must(t, err)
	kubeconfig, err := user.KubeConfig()
	must(t, err)
	ackServices(t, d, town)
	return townIT{town: town, cfg: user.Config(), kubeconfig: kubeconfig}
}

// kubelet reports every Deployment of the namespace as rolled out
// (envtest has no controllers or nodes).
func kubelet(t testing.TB, ns string) {
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

// ackServices plays the town's four services until the test ends: each
// village generation the operator registered is acknowledged live by all
// four on the town's tenant-acks topic, in CloudEvents binary mode as the
// services' outboxes publish (provision.Publish's headers), in batches so
// that hundreds of villages are acknowledged in seconds.
func ackServices(t testing.TB, d *wuxiaov1.District, town *wuxiaov1.Town) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w := &kafka.Writer{Addr: kafka.TCP(d.Spec.Kafka.BootstrapServers...), Topic: eventsv1.Topic(town.Name, eventsv1.StreamTenantAcks),
		Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond}
	t.Cleanup(func() { cancel(); <-done; _ = w.Close() })
	go func() {
		defer close(done)
		acked := map[string]bool{}
		for ctx.Err() == nil {
			list := &wuxiaov1.VillageList{}
			if err := k8s.List(ctx, list, client.InNamespace(town.NamespaceName())); err == nil {
				var msgs []kafka.Message
				var keys []string
				for _, v := range list.Items {
					key := fmt.Sprintf("%s/%d", v.UID, v.Status.RegisteredGeneration)
					if v.Status.RegisteredGeneration == 0 || acked[key] {
						continue
					}
					for _, svc := range controller.TownServices {
						ev, err := eventsv1.NewVillageAck(svc, town.Name, v.Spec.Code, string(v.UID), v.Status.RegisteredGeneration, eventsv1.StateLive, time.Now())
						if err != nil {
							t.Errorf("ack: %v", err)
							return
						}
						h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
						msgs = append(msgs, kafka.Message{Key: []byte(ev.Key()), Value: ev.Data, Headers: []kafka.Header{
							h("ce_specversion", eventsv1.SpecVersion), h("ce_id", ev.ID), h("ce_source", ev.Source),
							h("ce_type", ev.Type), h("ce_time", ev.Time.UTC().Format(time.RFC3339Nano)),
							h("ce_town", ev.Town), h("content-type", eventsv1.ContentType), h("ce_village", ev.Village),
						}})
					}
					keys = append(keys, key)
				}
				if len(msgs) > 0 && w.WriteMessages(ctx, msgs...) == nil {
					for _, k := range keys {
						acked[k] = true
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

// kw runs kubectl-wuxiao with cfg's identity.
func kw(t testing.TB, cfg *rest.Config, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&app{out: &out, errOut: &errOut, config: cfg})
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// phone is a mobile number unique to this run: Kratos keeps identities
// between runs, and a login must not belong to another run's town.
func phone(t testing.TB) string {
	n, err := rand.Int(rand.Reader, big.NewInt(1e8))
	must(t, err)
	return fmt.Sprintf("139%08d", n.Int64())
}

func villages(t testing.TB, ns string) map[string]wuxiaov1.Village {
	t.Helper()
	list := &wuxiaov1.VillageList{}
	must(t, k8s.List(context.Background(), list, client.InNamespace(ns)))
	out := map[string]wuxiaov1.Village{}
	for _, v := range list.Items {
		out[v.Spec.Code] = v
	}
	return out
}
