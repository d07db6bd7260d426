package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

func TestRecentChecks(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	a, b := digest("postgres://a", "10"), digest("postgres://a", "11")
	cases := []struct {
		name   string
		record bool // record a for xikou/roles at t0
		forget bool
		town   string
		kind   string
		d      [32]byte
		at     time.Time
		want   bool
	}{
		{"never verified", false, false, "xikou", checkRoles, a, t0, false},
		{"same digest, just now", true, false, "xikou", checkRoles, a, t0.Add(time.Second), true},
		{"same digest, just inside the interval", true, false, "xikou", checkRoles, a, t0.Add(RecheckInterval - time.Second), true},
		{"same digest, interval over", true, false, "xikou", checkRoles, a, t0.Add(RecheckInterval), false},
		{"another digest (a limit changed)", true, false, "xikou", checkRoles, b, t0.Add(time.Second), false},
		{"another kind", true, false, "xikou", checkTopics, a, t0.Add(time.Second), false},
		{"another town", true, false, "dayan", checkRoles, a, t0.Add(time.Second), false},
		{"forgotten", true, true, "xikou", checkRoles, a, t0.Add(time.Second), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c recentChecks
			if tc.record {
				c.record("xikou", checkRoles, a, t0)
			}
			if tc.forget {
				c.forget("xikou", checkRoles)
			}
			if got := c.fresh(tc.town, tc.kind, tc.d, tc.at); got != tc.want {
				t.Errorf("fresh = %v, want %v", got, tc.want)
			}
		})
	}
	if digest("ab", "c") == digest("a", "bc") {
		t.Error("digest does not separate its parts")
	}
}

// A town's reconciles sign in as its five database roles once, not on
// every reconcile; a change of what was verified (a connection limit)
// signs in again at once. Counted on the real PostgreSQL: the sessions
// opened to the town's database, which only those checks open here (no
// service runs under envtest; the roles are provisioned from database
// postgres). The last step shows the count sees the checks.
func TestTownRolesSignInOncePerInterval(t *testing.T) {
	ctx := context.Background()
	d := fixture(t)
	name := "recheck-" + runID
	t.Cleanup(func() { dropTown(t, d, name) })
	startManager(t)
	town := readyTown(t, d, func(town *wuxiaov1.Town) { town.Name = name })

	admin, err := connect(ctx, requireEnv(t, "WUXIAO_TEST_POSTGRES_URL"))
	must(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	sessions := func() int64 {
		t.Helper()
		// Each session is counted when it starts; a fresh snapshot per read.
		_, err := admin.Exec(ctx, "SELECT pg_stat_clear_snapshot()")
		must(t, err)
		var n int64
		must(t, admin.QueryRow(ctx, "SELECT coalesce(sessions, 0) FROM pg_stat_database WHERE datname = $1", provision.TownDatabase(name)).Scan(&n))
		return n
	}
	reconciled := func() {
		t.Helper()
		eventually(t, wait, func() error {
			waitTownReady(t, town)
			if town.Status.ObservedGeneration != town.Generation {
				return fmt.Errorf("observed generation %d of %d", town.Status.ObservedGeneration, town.Generation)
			}
			return nil
		})
	}
	before := sessions()
	// Three reconciles that change nothing on PostgreSQL.
	for i := range 3 {
		update(t, town, func() { town.Spec.DisplayName = fmt.Sprintf("复查镇 %d", i) })
		reconciled()
	}
	time.Sleep(time.Second) // a check's session would have started by now
	if got := sessions(); got != before {
		t.Errorf("%d sessions opened by 3 reconciles that changed nothing, want 0 (5 each before RecheckInterval)", got-before)
	}
	// A connection limit changes with the replicas: checked at once.
	update(t, town, func() {
		town.Spec.Services = append(town.Spec.Services, wuxiaov1.ServiceTemplate{Name: wuxiaov1.ServiceDisclosure, Replicas: ptr.To(int32(3))})
	})
	reconciled()
	eventually(t, wait, func() error {
		if got := sessions(); got == before {
			return fmt.Errorf("no role signed in after its connection limit changed")
		}
		return nil
	})
}

// The topics' memo skips a look only while what it verified still holds:
// a status that lost its topics is filled again, and other servers are
// asked (here: nothing listens, so KafkaUnavailable, never a silent skip).
// On the real Kafka; no API server needed.
func TestTownTopicsMemo(t *testing.T) {
	ctx := context.Background()
	brokers := strings.Split(requireEnv(t, "WUXIAO_TEST_KAFKA_BROKERS"), ",")
	d := &wuxiaov1.District{Spec: wuxiaov1.DistrictSpec{Kafka: wuxiaov1.KafkaSpec{BootstrapServers: brokers, Partitions: 1, ReplicationFactor: 1}}}
	town := &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: "topics-" + runID}}
	t.Cleanup(func() { dropTown(t, d, town.Name) })
	r := &TownReconciler{}
	all := provision.TownTopics(town.Name)

	must(t, r.ensureTopics(ctx, town, d))
	if !slices.Equal(town.Status.Topics, all) {
		t.Fatalf("status.topics %v, want %v", town.Status.Topics, all)
	}
	town.Status.Topics = nil // a status patch lost, or a Town recreated
	must(t, r.ensureTopics(ctx, town, d))
	if !slices.Equal(town.Status.Topics, all) {
		t.Errorf("status.topics %v after it was emptied: the memo skipped the look", town.Status.Topics)
	}
	moved := d.DeepCopy()
	moved.Spec.Kafka.BootstrapServers = []string{"127.0.0.1:1"} // nothing listens
	var u *unavailable
	if err := r.ensureTopics(ctx, town, moved); !errors.As(err, &u) || u.reason != wuxiaov1.ReasonKafkaUnavailable {
		t.Errorf("other servers: err = %v, want KafkaUnavailable", err)
	}
	if _, ok := r.checks.m.Load(town.Name + "/" + checkTopics); ok {
		t.Error("a failed look left the memo of the earlier servers")
	}
}
