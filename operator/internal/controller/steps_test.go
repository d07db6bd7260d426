package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

// Errors come back in the order the steps were started, whatever order
// they failed in, and no more than the limit run at once.
func TestStepsReportInStartOrder(t *testing.T) {
	errA, errB := errors.New("a"), errors.New("b")
	cases := []struct {
		name  string
		limit int
		fail  map[int]error
		want  error
	}{
		{"none fails", 2, nil, nil},
		{"the later fails first", 4, map[int]error{1: errA, 3: errB}, errA},
		{"only the last fails", 1, map[int]error{4: errB}, errB},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var running, most atomic.Int32
			// Each step ends after the one started after it (the last
			// one first): the first failure in time is the last in order.
			done := make([]chan struct{}, 5)
			for i := range done {
				done[i] = make(chan struct{})
			}
			s := newSteps(tc.limit)
			ran := make([]bool, len(done))
			for i := range done {
				s.Go(func() error {
					n := running.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					defer running.Add(-1)
					defer close(done[i])
					if i+1 < len(done) && tc.limit > i+1 {
						<-done[i+1] // the next step can have started: the limit leaves room
					}
					ran[i] = true
					return tc.fail[i]
				})
			}
			if err := s.Wait(); !errors.Is(err, tc.want) {
				t.Errorf("Wait() = %v, want %v", err, tc.want)
			}
			for i, ok := range ran {
				if !ok {
					t.Errorf("step %d did not run (a failure must not stop the others)", i)
				}
			}
			if m := most.Load(); int(m) > tc.limit {
				t.Errorf("%d steps ran at once, limit %d", m, tc.limit)
			}
		})
	}
}

// A Village waits without writing its status only while it has reported
// nothing yet, its Town is starting (not stalled) and it is young.
func TestQuietWait(t *testing.T) {
	created := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	starting := townStarting{&waiting{wuxiaov1.ReasonCatalogNotFound, "no catalog yet"}}
	reported := []metav1.Condition{{Type: wuxiaov1.ConditionReady, Status: metav1.ConditionFalse, Reason: wuxiaov1.ReasonCatalogNotFound}}
	cases := []struct {
		name  string
		err   error
		conds []metav1.Condition
		after time.Duration
		want  time.Duration
	}{
		{"town starting, new village", starting, nil, 3 * time.Second, villageQuietWait - 3*time.Second},
		{"town starting, wrapped", fmt.Errorf("validate: %w", starting), nil, 0, villageQuietWait},
		{"town starting too long", starting, nil, villageQuietWait + time.Second, 0},
		{"village already reported", starting, reported, time.Second, 0},
		{"town stalled (a plain wait)", &waiting{wuxiaov1.ReasonCatalogNotFound, "no catalog"}, nil, time.Second, 0},
		{"no error", nil, nil, time.Second, 0},
		{"another error", errors.New("conflict"), nil, time.Second, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := &wuxiaov1.Village{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)},
				Status: wuxiaov1.VillageStatus{Conditions: tc.conds}}
			if got := quietWait(v, tc.err, created.Add(tc.after)); got != tc.want {
				t.Errorf("quietWait = %v, want %v", got, tc.want)
			}
		})
	}
}

// With its steps applied concurrently, a town still reports the failing
// step's condition (the earliest in order when several fail, as when they
// ran in sequence), applies what does not depend on it, deploys nothing
// that would need it, and recovers once the server is back.
func TestTownFailedStepWithConcurrentApply(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	cases := []struct {
		name         string
		postgresDown bool
		reason       string
		server       string
		database     bool // the database step succeeded beside the failing one
	}{
		{"Kafka unreachable", false, wuxiaov1.ReasonKafkaUnavailable, "127.0.0.1:1", true},
		{"PostgreSQL and Kafka unreachable", true, wuxiaov1.ReasonDatabaseUnavailable, "127.0.0.1:2", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var kafkaUp []string
			var pg wuxiaov1.PostgresSpec
			// Nothing listens on ports 1 and 2.
			d := fixture(t, func(d *wuxiaov1.District) {
				kafkaUp, pg = d.Spec.Kafka.BootstrapServers, d.Spec.Postgres
				d.Spec.Kafka.BootstrapServers = []string{"127.0.0.1:1"}
				if tc.postgresDown {
					d.Spec.Postgres.Host, d.Spec.Postgres.Port = "127.0.0.1", 2
				}
			})
			town := newTown(d)
			must(t, k8s.Create(ctx, town))
			got := &wuxiaov1.Town{}
			eventually(t, wait, func() error {
				must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
				if err := expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, tc.reason); err != nil {
					return err
				}
				if c := meta.FindStatusCondition(got.Status.Conditions, wuxiaov1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, tc.server) {
					return fmt.Errorf("Stalled %+v does not name the server %s", c, tc.server)
				}
				if tc.database && got.Status.Database != provision.TownDatabase(town.Name) {
					return fmt.Errorf("status.database %q: the database step did not run beside the failing one", got.Status.Database)
				}
				return nil
			})
			if !tc.database && got.Status.Database != "" {
				t.Errorf("status.database %q with PostgreSQL unreachable", got.Status.Database)
			}
			if got.Status.Catalog == "" {
				t.Error("status.catalog is empty: the catalog step did not run beside the failing one")
			}
			ns := client.InNamespace(town.NamespaceName())
			svcs, pols, deps := &corev1.ServiceList{}, &networkingv1.NetworkPolicyList{}, &appsv1.DeploymentList{}
			must(t, k8s.List(ctx, svcs, ns))
			must(t, k8s.List(ctx, pols, ns))
			must(t, k8s.List(ctx, deps, ns))
			if n := len(wuxiaov1.AllServices); len(svcs.Items) != n || len(pols.Items) != n {
				t.Errorf("%d Services and %d NetworkPolicies, want %d each (they need neither server)", len(svcs.Items), len(pols.Items), n)
			}
			if len(deps.Items) != 0 {
				t.Errorf("%d Deployments while a step they need fails", len(deps.Items))
			}
			update(t, d, func() { d.Spec.Kafka.BootstrapServers, d.Spec.Postgres = kafkaUp, pg })
			waitTownReady(t, town)
		})
	}
}
