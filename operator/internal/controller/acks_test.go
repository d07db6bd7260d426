package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

func TestRecordAck(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	ack := func(svc string, gen int64, state string) eventsv1.VillageAcknowledged {
		return eventsv1.VillageAcknowledged{Service: svc, Code: "330213100201", Town: "xikou", Generation: gen, State: state,
			Live: state == eventsv1.StateLive, At: at.Add(time.Duration(gen) * time.Minute)}
	}
	var st wuxiaov1.VillageStatus
	for i, step := range []struct {
		name    string
		ack     eventsv1.VillageAcknowledged
		changed bool
		live    string
		pending []string
	}{
		{"first", ack("workflow", 1, "live"), true, "1/4", []string{"workflow", "disclosure", "complaint", "inspection"}},
		{"replay", ack("workflow", 1, "live"), false, "1/4", []string{"workflow", "disclosure", "complaint", "inspection"}},
		{"others", ack("complaint", 1, "live"), true, "2/4", []string{"workflow", "disclosure", "complaint", "inspection"}},
		{"newer generation", ack("workflow", 2, "live"), true, "2/4", []string{"workflow", "disclosure", "complaint", "inspection"}},
		{"older generation late", ack("workflow", 1, "live"), false, "2/4", []string{"workflow", "disclosure", "complaint", "inspection"}},
		{"archived at the same generation", ack("complaint", 1, "archived"), true, "1/4", []string{"workflow", "disclosure", "inspection"}},
		{"live of the archived generation late", ack("complaint", 1, "live"), false, "1/4", []string{"workflow", "disclosure", "inspection"}},
		{"archived again", ack("complaint", 1, "archived"), false, "1/4", []string{"workflow", "disclosure", "inspection"}},
	} {
		if got := recordAck(&st, step.ack, TownServices); got != step.changed {
			t.Errorf("step %d (%s): changed %v, want %v", i, step.name, got, step.changed)
		}
		if st.Live != step.live || !slices.Equal(pendingArchive(&st, TownServices), step.pending) {
			t.Errorf("step %d (%s): live %s pending %v, want %s %v", i, step.name, st.Live, pendingArchive(&st, TownServices), step.live, step.pending)
		}
	}
	if !slices.IsSortedFunc(st.Services, func(a, b wuxiaov1.ServiceAck) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("services not sorted: %+v", st.Services)
	}
}

// publishAck publishes a service's ack as the service's outbox would.
func publishAck(t *testing.T, d *wuxiaov1.District, v *wuxiaov1.Village, town, svc string, gen int64, state string) {
	t.Helper()
	ev, err := eventsv1.NewVillageAck(svc, town, v.Spec.Code, string(v.UID), gen, state, time.Now())
	must(t, err)
	must(t, provision.Publish(context.Background(), d.Spec.Kafka.BootstrapServers, eventsv1.Topic(town, eventsv1.StreamTenantAcks), ev))
}

// readEvent reads topic from the start until the message with ce_id id.
func readEvent(t *testing.T, d *wuxiaov1.District, topic, id string) map[string]string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: d.Spec.Kafka.BootstrapServers, Topic: topic,
		GroupID: "operator-test-" + provision.RandomHex(6), StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("no event %s on %s: %v", id, topic, err)
		}
		headers := map[string]string{"data": string(m.Value)}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		if headers["ce_id"] == id {
			return headers
		}
	}
}

// TestVillageLiveFromAcksAndArchiveWaitsForThem runs the operator against
// the real Kafka: acks published on the town's tenant-acks topic (as the
// services' outboxes do) set the Village's per-service status and its Live
// count, a replay writes nothing; deleting the Village publishes its
// archival and lets it go only once the four services acknowledged it.
func TestVillageLiveFromAcksAndArchiveWaitsForThem(t *testing.T) {
	counter := startManagerWith(t, Options{ArchiveNamespace: archiveNS, ArchiveAckTimeout: 10 * time.Minute})
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	if !slices.Contains(town.Status.Topics, eventsv1.Topic(town.Name, eventsv1.StreamTenantAcks)) {
		t.Fatalf("the town has no acks topic: %v", town.Status.Topics)
	}
	v := newVillage(town, "xiatang", "231")
	v.Spec.Officials = nil // identities are another test's; this one needs no Kratos
	must(t, k8s.Create(ctx, v))
	var got *wuxiaov1.Village
	eventually(t, wait, func() error {
		got = getVillage(t, v)
		if got.Status.RegisteredGeneration != got.Generation {
			return fmt.Errorf("registered generation %d: %+v", got.Status.RegisteredGeneration, got.Status.Conditions)
		}
		return nil
	})
	reg := readEvent(t, d, eventsv1.Topic(town.Name, eventsv1.StreamTenant), VillageEventID(got))
	if !strings.Contains(reg["data"], `"uid":"`+string(got.UID)+`"`) {
		t.Errorf("the registration does not carry the uid: %s", reg["data"])
	}

	// The services acknowledge, one after the other.
	for i, svc := range TownServices {
		publishAck(t, d, got, town.Name, svc, got.Generation, eventsv1.StateLive)
		want := fmt.Sprintf("%d/4", i+1)
		eventually(t, wait, func() error {
			g := getVillage(t, v)
			if g.Status.Live != want {
				return fmt.Errorf("live %q, want %s (%+v)", g.Status.Live, want, g.Status.Services)
			}
			return nil
		})
	}
	g := getVillage(t, v)
	for _, s := range g.Status.Services {
		if !s.Live || s.State != eventsv1.StateLive || s.Generation != g.Generation || s.LastAckTime.IsZero() {
			t.Errorf("service status %+v", s)
		}
	}
	// An ack of another Village object with the same code is not this one's.
	stale := got.DeepCopy()
	stale.UID = "00000000-0000-0000-0000-000000000000"
	publishAck(t, d, stale, town.Name, "workflow", 9, eventsv1.StateArchived)

	// Replays write nothing: the same four acks again, then one that does
	// change the status (same key, so same partition, read after them).
	counter.waitQuiet(t, time.Second)
	counter.Reset()
	for _, svc := range TownServices {
		publishAck(t, d, got, town.Name, svc, got.Generation, eventsv1.StateLive)
	}
	publishAck(t, d, got, town.Name, "workflow", got.Generation+1, eventsv1.StateLive)
	eventually(t, wait, func() error {
		for _, s := range getVillage(t, v).Status.Services {
			if s.Name == "workflow" && s.Generation == got.Generation+1 {
				return nil
			}
		}
		return fmt.Errorf("the sentinel ack is not recorded")
	})
	statusPath := "/namespaces/" + v.Namespace + "/villages/" + v.Name + "/status"
	var statusWrites []string
	for _, w := range counter.Writes() {
		if strings.HasSuffix(w, statusPath) {
			statusWrites = append(statusWrites, w)
		}
	}
	if len(statusWrites) != 1 {
		t.Errorf("replayed acks wrote the status: %v", statusWrites)
	}
	if g := getVillage(t, v); g.Status.Live != "4/4" {
		t.Errorf("the stale object's archival counted: %+v", g.Status.Services)
	}

	// Deletion: the archival is published, the Village waits for the acks.
	must(t, k8s.Delete(ctx, got))
	var announced *wuxiaov1.Village
	eventually(t, wait, func() error {
		announced = getVillage(t, v)
		c := readyCondition(announced)
		if announced.Status.ArchiveAnnouncedAt == nil || c == nil || c.Reason != wuxiaov1.ReasonArchiving ||
			!strings.Contains(c.Message, "waiting for workflow, disclosure, complaint, inspection") {
			return fmt.Errorf("not waiting for the acks: %+v", announced.Status)
		}
		return nil
	})
	arch := readEvent(t, d, eventsv1.Topic(town.Name, eventsv1.StreamTenant), archiveEventID(announced))
	if arch["ce_type"] != eventsv1.TypeVillageArchived || arch["ce_village"] != v.Spec.Code ||
		!strings.Contains(arch["data"], `"uid":"`+string(announced.UID)+`"`) {
		t.Errorf("archival event %v", arch)
	}
	for _, svc := range TownServices[:3] {
		publishAck(t, d, announced, town.Name, svc, announced.Generation, eventsv1.StateArchived)
	}
	eventually(t, wait, func() error {
		g := getVillage(t, v)
		if c := readyCondition(g); c == nil || !strings.HasPrefix(c.Message, "waiting for inspection to acknowledge") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: archiveNS, Name: ArchiveName(announced)}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("archived before every service acknowledged: %v", err)
	}
	publishAck(t, d, announced, town.Name, "inspection", announced.Generation, eventsv1.StateArchived)
	eventually(t, wait, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(v), &wuxiaov1.Village{}); !apierrors.IsNotFound(err) {
			return errors.Join(errors.New("village still present"), err)
		}
		return nil
	})
	must(t, k8s.Get(ctx, client.ObjectKey{Namespace: archiveNS, Name: ArchiveName(announced)}, &corev1.ConfigMap{}))
}

// TestVillageArchiveWaitsForKafka: when the archival cannot be published,
// the Village stays Terminating with a warning, nothing archived.
func TestVillageArchiveWaitsForKafka(t *testing.T) {
	startManagerWith(t, Options{ArchiveNamespace: archiveNS, ArchiveAckTimeout: time.Second})
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	v := newVillage(town, "shangyuan", "232")
	v.Spec.Officials = nil
	must(t, k8s.Create(ctx, v))
	eventually(t, wait, func() error {
		if g := getVillage(t, v); g.Status.RegisteredGeneration == 0 {
			return fmt.Errorf("not registered")
		}
		return nil
	})
	// The district's Kafka goes away (an address nothing listens on).
	dist := &wuxiaov1.District{}
	must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), dist))
	brokers := dist.Spec.Kafka.BootstrapServers
	update(t, dist, func() { dist.Spec.Kafka.BootstrapServers = []string{"127.0.0.1:1"} })
	// The Village's reconcile reads the District from the operator's cache:
	// delete only once the operator has seen the change (CI once saw the
	// archival published to the old address and the Village gone).
	eventually(t, wait, func() error {
		g := &wuxiaov1.District{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), g))
		if g.Status.ObservedGeneration != dist.Generation {
			return fmt.Errorf("District generation %d observed %d", dist.Generation, g.Status.ObservedGeneration)
		}
		return nil
	})
	must(t, k8s.Delete(ctx, getVillage(t, v)))
	eventually(t, wait, func() error {
		g := getVillage(t, v)
		c := readyCondition(g)
		if c == nil || c.Reason != wuxiaov1.ReasonKafkaUnavailable || !strings.Contains(c.Message, "cannot announce the archival") {
			return fmt.Errorf("condition %+v", c)
		}
		evs := &corev1.EventList{}
		must(t, k8s.List(ctx, evs, client.InNamespace(v.Namespace)))
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == v.Name && e.Reason == wuxiaov1.ReasonKafkaUnavailable && e.Type == corev1.EventTypeWarning {
				return nil
			}
		}
		return fmt.Errorf("no warning event")
	})
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: archiveNS, Name: ArchiveName(getVillage(t, v))}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("archived without announcing: %v", err)
	}
	// Kafka back: announced, unacknowledged (no services here), archived
	// after the bound.
	must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), dist))
	update(t, dist, func() { dist.Spec.Kafka.BootstrapServers = brokers })
	g := getVillage(t, v)
	update(t, g, func() { g.Annotations = map[string]string{"test.wuxiao.io/retry": "1"} })
	eventually(t, wait, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(v), &wuxiaov1.Village{}); !apierrors.IsNotFound(err) {
			return errors.Join(errors.New("village still present"), err)
		}
		return nil
	})
}

func readyCondition(v *wuxiaov1.Village) *metav1.Condition {
	for i := range v.Status.Conditions {
		if v.Status.Conditions[i].Type == wuxiaov1.ConditionReady {
			return &v.Status.Conditions[i]
		}
	}
	return nil
}
