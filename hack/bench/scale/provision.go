package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/qrcode"
	wx "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The baseline's share of the operator's provisioning, so that both runs do
// the same work outside the Kubernetes objects (hack/bench/README.md, "the
// same work"): per town its keys and database Secrets, a database with a
// migration role and one role per service on the real PostgreSQL, the
// town's topics on the real Kafka and its calendar ConfigMap; per village
// its QR code (rendered by api/qrcode, as the operator does) in a
// ConfigMap, its registration event on the town's tenant topic, and the
// archive finalizer. The baseline does each the cheapest way: one
// PostgreSQL connection per town, one long-lived Kafka writer per town for every
// registration. Identities are not provisioned by either run: the
// benchmark's villages list no officials.
//
// The baseline's database and roles are named wuxiao_base_<town>..., not
// the operator's wuxiao_<town>..., so the two runs never share a role
// (both exist after a first run: then both only alter them).
type baseProvision struct {
	pgURL   string // admin, database postgres
	brokers []string

	mu      sync.Mutex
	topics  map[string]chan struct{} // town -> closed once its topics exist
	writers map[string]*kafka.Writer // town -> its tenant topic's writer
}

func newBaseProvision() (*baseProvision, error) {
	pg, brokers := os.Getenv("WUXIAO_TEST_POSTGRES_URL"), os.Getenv("WUXIAO_TEST_KAFKA_BROKERS")
	if pg == "" || brokers == "" {
		return nil, errors.New("WUXIAO_TEST_POSTGRES_URL and WUXIAO_TEST_KAFKA_BROKERS must be set: run through hack/bench-scale.sh")
	}
	u, err := url.Parse(pg)
	if err != nil {
		return nil, fmt.Errorf("WUXIAO_TEST_POSTGRES_URL: %w", err)
	}
	u.Path = "/postgres"
	return &baseProvision{pgURL: u.String(), brokers: strings.Split(brokers, ","), topics: map[string]chan struct{}{}, writers: map[string]*kafka.Writer{}}, nil
}

func (p *baseProvision) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.writers {
		_ = w.Close()
	}
}

// writer is the town's tenant topic's writer, made once its topics exist
// and configured as the operator's (provision.writerFor): its metadata
// covers that topic only. One writer for every topic, made before the
// towns' topics existed, cached "unknown topic" and stalled registrations
// for its metadata TTL (6 s) once the runs began creating topics.
func (p *baseProvision) writer(town string) *kafka.Writer {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.writers[town]
	if w == nil {
		topic := eventsv1.Topic(town, eventsv1.StreamTenant)
		w = &kafka.Writer{Addr: kafka.TCP(p.brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchSize: 100, BatchTimeout: 5 * time.Millisecond,
			Transport: &kafka.Transport{DialTimeout: 5 * time.Second, MetadataTopics: []string{topic}}}
		p.writers[town] = w
	}
	return w
}

func (p *baseProvision) topicsDone(town string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.topics[town]
	if ch == nil {
		ch = make(chan struct{})
		p.topics[town] = ch
	}
	return ch
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// townSecrets: the three service keys and the five database Secrets
// (migration role and one per service) the operator writes per town.
func townSecrets(i int, passwords []string) []*corev1.Secret {
	t := townName(i)
	mk := func(name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(t), Name: name, Labels: townLabels(t)}, Data: data}
	}
	var out []*corev1.Secret
	for _, name := range []string{"wuxiao-id-hash-key", "wuxiao-challenge-key", "wuxiao-audit-key"} {
		out = append(out, mk(name, map[string][]byte{"key": []byte(randomHex(32))}))
	}
	for k, role := range baseRoles(t) {
		u := fmt.Sprintf("postgres://%s:%s@postgres.wuxiao-system.svc:5432/%s?sslmode=disable", role, passwords[k], baseRoles(t)[0])
		name := "wuxiao-database"
		if k > 0 {
			name += "-" + string(wx.AllServices[k-1])
		}
		out = append(out, mk(name, map[string][]byte{"url": []byte(u), "password": []byte(passwords[k])}))
	}
	return out
}

// baseRoles: the migration role (also the database's name), then one per service.
func baseRoles(town string) []string {
	roles := []string{"wuxiao_base_" + town}
	for _, svc := range wx.AllServices {
		roles = append(roles, roles[0]+"_"+string(svc))
	}
	return roles
}

// database does what the operator's provision.EnsureTownDatabase does, with
// the same statements: each role created or its password and limit set, the
// database created if missing, CONNECT revoked from PUBLIC and granted to
// the service roles.
func (p *baseProvision) database(ctx context.Context, town string, passwords []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.pgURL)
	if err != nil {
		return fmt.Errorf("baseline: PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	roles := baseRoles(town)
	for k, r := range roles {
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, r).Scan(&exists); err != nil {
			return err
		}
		verb := "ALTER"
		if !exists {
			verb = "CREATE"
		}
		if _, err := conn.Exec(ctx, verb+" ROLE "+pgx.Identifier{r}.Sanitize()+
			" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT "+strconv.Itoa(10)+
			" PASSWORD '"+passwords[k]+"'"); err != nil {
			return fmt.Errorf("baseline: role %s: %w", r, err)
		}
	}
	db := pgx.Identifier{roles[0]}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, roles[0]).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db+" OWNER "+db); err != nil {
			return fmt.Errorf("baseline: database %s: %w", roles[0], err)
		}
	}
	stmts := []string{"REVOKE CONNECT, TEMPORARY ON DATABASE " + db + " FROM PUBLIC"}
	for _, r := range roles[1:] {
		stmts = append(stmts, "GRANT CONNECT ON DATABASE "+db+" TO "+pgx.Identifier{r}.Sanitize())
	}
	for _, st := range stmts {
		if _, err := conn.Exec(ctx, st); err != nil {
			return fmt.Errorf("baseline: %s: %w", st, err)
		}
	}
	return nil
}

// townTopics creates the town's topics (every stream's and its dead-letter
// topic; existing ones stay) and waits until each partition has a leader,
// as the operator's provision.EnsureTopics does.
func (p *baseProvision) townTopics(ctx context.Context, town string) error {
	topics := townTopicNames(town)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, done := topicClient(p.brokers, topics, 10*time.Second)
	defer done()
	configs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		configs[i] = kafka.TopicConfig{Topic: t, NumPartitions: 1, ReplicationFactor: 1}
	}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		return fmt.Errorf("baseline: creating topics: %w", err)
	}
	for t, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("baseline: topic %s: %w", t, err)
		}
	}
	err = pollTopics(ctx, p.brokers, topics, func(m []kafka.Topic) bool {
		ok := len(m) == len(topics)
		for _, t := range m {
			ok = ok && t.Error == nil && len(t.Partitions) > 0
			for _, pt := range t.Partitions {
				ok = ok && pt.Error == nil && pt.Leader.Host != ""
			}
		}
		return ok
	})
	if err != nil {
		return fmt.Errorf("baseline: topics of %s not ready: %w", town, err)
	}
	close(p.topicsDone(town))
	return nil
}

// topicClient is a Kafka client whose metadata covers topics only. A fresh
// one per look: a transport caches metadata, and would keep listing a
// topic as it was.
func topicClient(brokers, topics []string, timeout time.Duration) (*kafka.Client, func()) {
	t := &kafka.Transport{DialTimeout: 5 * time.Second, MetadataTopics: topics}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Transport: t, Timeout: timeout}, t.CloseIdleConnections
}

// pollTopics reads the topics' metadata every 100 ms until settled says
// they are as wanted, or ctx ends.
func pollTopics(ctx context.Context, brokers, topics []string, settled func([]kafka.Topic) bool) error {
	for {
		c, done := topicClient(brokers, topics, 10*time.Second)
		m, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		done()
		if err != nil {
			return fmt.Errorf("topic metadata: %w", err)
		}
		if settled(m.Topics) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// townTopicNames lists a town's topics as provision.TownTopics does: each
// stream's and its dead-letter topic.
func townTopicNames(town string) []string {
	var topics []string
	for _, s := range eventsv1.Streams {
		t := eventsv1.Topic(town, s)
		topics = append(topics, t, eventsv1.DeadLetterTopic(t))
	}
	return topics
}

// calendarConfigMap stands for the town's working-day calendar ConfigMap
// (the operator writes the district's validated calendar; a similar size).
func calendarConfigMap(i int) *corev1.ConfigMap {
	t := townName(i)
	var days []string
	for d := range 30 {
		days = append(days, fmt.Sprintf(`{"date":"2026-%02d-%02d","kind":"holiday"}`, 1+d/3, 1+d%28))
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: wx.TownNamespace(t), Name: wx.CalendarConfigMapName, Labels: townLabels(t)},
		Data:       map[string]string{wx.CalendarFileKey: `{"days":[` + strings.Join(days, ",") + `]}`},
	}
}

// qrConfigMap renders the village's portal address as the operator does
// (PNG of 8 pixels per module, SVG titled with the address) into a
// ConfigMap the Village owns.
func qrConfigMap(v *wx.Village, portalURL string) (*corev1.ConfigMap, error) {
	code, err := qrcode.Encode(portalURL)
	if err != nil {
		return nil, err
	}
	png, err := code.PNG(8)
	if err != nil {
		return nil, err
	}
	town := strings.TrimPrefix(v.Namespace, "town-")
	l := townLabels(town)
	l[wx.VillageLabel] = v.Spec.Code
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: v.Namespace, Name: "qr-" + v.Name, Labels: l,
			Annotations: map[string]string{"wuxiao.io/portal-url": portalURL},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: wx.GroupVersion.String(), Kind: "Village", Name: v.Name, UID: v.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}},
		Data:       map[string]string{"qr.svg": string(code.SVG(8, portalURL))},
		BinaryData: map[string][]byte{"qr.png": png},
	}, nil
}

// register publishes the village's registration on its town's tenant
// topic once the topics exist.
func (p *baseProvision) register(ctx context.Context, v *wx.Village, portalURL string) error {
	town := strings.TrimPrefix(v.Namespace, "town-")
	select {
	case <-p.topicsDone(town):
	case <-ctx.Done():
		return ctx.Err()
	}
	data, err := json.Marshal(eventsv1.VillageRegistered{Code: v.Spec.Code, Name: v.Spec.DisplayName, Kind: string(v.Spec.Kind),
		Town: town, PortalURL: portalURL, Generation: v.Generation, UID: string(v.UID)})
	if err != nil {
		return err
	}
	ev := eventsv1.Event{ID: randomHex(16), Source: "/towns/" + town + "/bench-baseline", Type: eventsv1.TypeVillageRegistered,
		Subject: v.Spec.Code, Time: time.Now().UTC(), Town: town, Village: v.Spec.Code, Data: data}
	h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
	return p.writer(town).WriteMessages(ctx, kafka.Message{Key: []byte(ev.Key()), Value: ev.Data,
		Headers: []kafka.Header{h("ce_specversion", eventsv1.SpecVersion), h("ce_id", ev.ID), h("ce_source", ev.Source),
			h("ce_type", ev.Type), h("ce_time", ev.Time.Format(time.RFC3339Nano)), h("ce_town", ev.Town),
			h("content-type", eventsv1.ContentType), h("ce_subject", ev.Subject), h("ce_village", ev.Village)}})
}
