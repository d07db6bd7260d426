package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

// TownServices are the services every town runs; a Village is live in the
// town when each of them acknowledged it.
var TownServices = []string{"workflow", "disclosure", "complaint", "inspection"}

// DefaultAckGroup is the operator's Kafka consumer group on the towns'
// tenant-acks topics.
const DefaultAckGroup = "wuxiao-operator"

// AckConsumer reads the services' acknowledgements of tenant events from
// the tenant-acks topic of every town whose topics are ready, and records
// them in each Village's status. It writes only when an acknowledgement
// changes what the status says: a replay (a new consumer group, an operator
// restart) writes nothing. It runs on the leader only.
type AckConsumer struct {
	// Client reads Towns, Districts and Villages from the cache.
	Client client.Client
	// APIReader reads a Village fresh before writing its status: several
	// acks of one village arrive together, faster than the cache follows.
	APIReader client.Reader
	Group     string
	// Resync is how often the towns are listed for new topics.
	Resync time.Duration
	// Services expected to acknowledge each village.
	Services []string
	Log      logr.Logger
}

var (
	_ manager.Runnable               = (*AckConsumer)(nil)
	_ manager.LeaderElectionRunnable = (*AckConsumer)(nil)
)

// NeedLeaderElection: one writer of the acks into the statuses.
func (a *AckConsumer) NeedLeaderElection() bool { return true }

// ackReader is one consumer over the acks topics of one Kafka cluster.
type ackReader struct {
	topics []string
	cancel context.CancelFunc
	done   chan struct{}
}

// Start lists the towns every Resync and keeps one consumer per Kafka
// cluster over the acks topics of its towns, restarted when they change.
func (a *AckConsumer) Start(ctx context.Context) error {
	readers := map[string]*ackReader{}
	defer func() {
		for _, r := range readers {
			r.cancel()
			<-r.done
		}
	}()
	t := time.NewTicker(a.Resync)
	defer t.Stop()
	for {
		want, err := a.topics(ctx)
		if err != nil {
			a.Log.Error(err, "listing the towns' acks topics")
		} else {
			for brokers, r := range readers {
				if !slices.Equal(r.topics, want[brokers]) {
					r.cancel()
					<-r.done
					delete(readers, brokers)
				}
			}
			for brokers, topics := range want {
				if _, ok := readers[brokers]; !ok {
					readers[brokers] = a.run(ctx, strings.Split(brokers, ","), topics)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// topics maps each Kafka cluster (its bootstrap servers, joined) to the
// sorted acks topics of the towns whose topics are ready.
func (a *AckConsumer) topics(ctx context.Context) (map[string][]string, error) {
	towns := &wuxiaov1.TownList{}
	if err := a.Client.List(ctx, towns); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for i := range towns.Items {
		town := &towns.Items[i]
		topic := eventsv1.Topic(town.Name, eventsv1.StreamTenantAcks)
		if !slices.Contains(town.Status.Topics, topic) {
			continue
		}
		d := &wuxiaov1.District{}
		if err := a.Client.Get(ctx, client.ObjectKey{Name: town.Spec.District}, d); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		if len(d.Spec.Kafka.BootstrapServers) == 0 {
			continue
		}
		key := strings.Join(d.Spec.Kafka.BootstrapServers, ",")
		out[key] = append(out[key], topic)
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out, nil
}

func (a *AckConsumer) run(ctx context.Context, brokers, topics []string) *ackReader {
	ctx, cancel := context.WithCancel(ctx)
	r := &ackReader{topics: topics, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		kr := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: a.Group, GroupTopics: topics,
			StartOffset: kafka.FirstOffset, MaxWait: time.Second})
		defer kr.Close()
		log := a.Log.WithValues("brokers", brokers)
		backoff := 200 * time.Millisecond
		for {
			m, err := kr.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Error(err, "reading acknowledgements")
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				continue
			}
			// Retry an API failure until it succeeds: the offset is
			// committed only once the status holds the ack. The work is a
			// span continuing the ack's trace (the service's, which
			// continues the operator's tenant event).
			pctx, span := startAckSpan(ctx, a.Group, m)
			for {
				if err = a.apply(pctx, m); err == nil {
					break
				}
				span.AddEvent("recording failed", trace.WithAttributes(attribute.String("error", err.Error())))
				log.Error(err, "recording an acknowledgement", "topic", m.Topic, "offset", m.Offset)
				select {
				case <-ctx.Done():
					span.End()
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 10*time.Second)
			}
			span.End()
			backoff = 200 * time.Millisecond
			if err := kr.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
				log.Error(err, "committing an acknowledgement's offset")
			}
		}
	}()
	return r
}

// apply records one message; anything but a well-formed ack of a town's
// own village is skipped (logged), since retrying cannot fix it.
func (a *AckConsumer) apply(ctx context.Context, m kafka.Message) error {
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers["ce_type"] != eventsv1.TypeVillageAcknowledged {
		return nil
	}
	var ack eventsv1.VillageAcknowledged
	if err := json.Unmarshal(m.Value, &ack); err != nil {
		a.Log.Info("skipping an undecodable acknowledgement", "topic", m.Topic, "offset", m.Offset, "error", err.Error())
		return nil
	}
	if m.Topic != eventsv1.Topic(ack.Town, eventsv1.StreamTenantAcks) || !slices.Contains(a.Services, ack.Service) {
		a.Log.Info("skipping an acknowledgement of another town or an unknown service", "topic", m.Topic,
			"town", ack.Town, "service", ack.Service)
		return nil
	}
	return a.record(ctx, ack)
}

// record writes ack into the status of the Village it is about (the one
// of that uid, when the ack names one).
func (a *AckConsumer) record(ctx context.Context, ack eventsv1.VillageAcknowledged) error {
	villages := &wuxiaov1.VillageList{}
	if err := a.Client.List(ctx, villages, client.InNamespace(wuxiaov1.TownNamespace(ack.Town)),
		client.MatchingFields{villageCodeIndex: ack.Code}); err != nil {
		return err
	}
	for i := range villages.Items {
		cached := &villages.Items[i]
		if ack.UID != "" && string(cached.UID) != ack.UID {
			continue
		}
		v := &wuxiaov1.Village{}
		if err := a.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), v); err != nil {
			return client.IgnoreNotFound(err)
		}
		if ack.UID != "" && string(v.UID) != ack.UID {
			continue
		}
		before := v.DeepCopy()
		if !recordAck(&v.Status, ack, a.Services) {
			continue
		}
		// With an optimistic lock: the merge patch replaces the whole list
		// of acks, which the Village controller may have written since the read.
		err := patchStatus(ctx, a.Client, before, v, &before.Status, &v.Status, client.MergeFromWithOptimisticLock{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("village %s/%s: %w", v.Namespace, v.Name, err)
		}
	}
	return nil
}

// recordAck folds ack into status and reports whether anything changed:
// a later generation replaces a service's entry, and at the same
// generation archived replaces live (an archival follows the registration
// of the generation it archives); anything else is a replay.
func recordAck(status *wuxiaov1.VillageStatus, ack eventsv1.VillageAcknowledged, services []string) bool {
	entry := wuxiaov1.ServiceAck{Name: ack.Service, Live: ack.State == eventsv1.StateLive, State: ack.State,
		Generation: ack.Generation, LastAckTime: metav1.NewTime(ack.At.UTC().Truncate(time.Second))}
	i := slices.IndexFunc(status.Services, func(s wuxiaov1.ServiceAck) bool { return s.Name == ack.Service })
	switch {
	case i < 0:
		status.Services = append(status.Services, entry)
		slices.SortFunc(status.Services, func(a, b wuxiaov1.ServiceAck) int { return strings.Compare(a.Name, b.Name) })
	case ack.Generation > status.Services[i].Generation ||
		(ack.Generation == status.Services[i].Generation && ack.State == eventsv1.StateArchived && status.Services[i].State != eventsv1.StateArchived):
		status.Services[i] = entry
	default:
		return false
	}
	status.Live = liveCount(status.Services, services)
	return true
}

// liveCount is "n/m": n of the m expected services have the village live.
func liveCount(acks []wuxiaov1.ServiceAck, services []string) string {
	n := 0
	for _, s := range acks {
		if s.Live && slices.Contains(services, s.Name) {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, len(services))
}

// pendingArchive lists the services that have not acknowledged the
// village's archival.
func pendingArchive(status *wuxiaov1.VillageStatus, services []string) []string {
	var pending []string
	for _, name := range services {
		i := slices.IndexFunc(status.Services, func(s wuxiaov1.ServiceAck) bool { return s.Name == name })
		if i < 0 || status.Services[i].State != eventsv1.StateArchived {
			pending = append(pending, name)
		}
	}
	return pending
}

// AckSpanName is the name of the span recording an acknowledgement read
// from topic: "process <topic>", as the services name theirs.
func AckSpanName(topic string) string { return "process " + topic }

// startAckSpan starts the consumer span of m: a child of the span context
// in m's traceparent header (eventsv1.HeaderTraceParent), whose sampled
// flag it keeps; a root when m carries none.
func startAckSpan(ctx context.Context, group string, m kafka.Message) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		attribute.String("messaging.system", "kafka"),
		attribute.String("messaging.operation.type", "process"),
		attribute.String("messaging.destination.name", m.Topic),
		attribute.String("messaging.consumer.group.name", group),
		attribute.String("messaging.kafka.message.key", string(m.Key)),
		attribute.String("messaging.destination.partition.id", strconv.Itoa(m.Partition)),
		attribute.Int64("messaging.kafka.offset", m.Offset),
	}
	for _, h := range m.Headers {
		switch h.Key {
		case "ce_id":
			attrs = append(attrs, attribute.String("messaging.message.id", string(h.Value)))
		case "ce_type":
			attrs = append(attrs, attribute.String("cloudevents.event_type", string(h.Value)))
		}
	}
	return tracer().Start(provision.ExtractTrace(ctx, m), AckSpanName(m.Topic),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}
