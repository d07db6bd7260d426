package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The binary's wiring, end to end: configuration, migrations, topics, the
// public intake with a signed-in villager, the outbox relay to the real
// Kafka, the escalation loop and a clean shutdown.
func TestServiceRunsEndToEnd(t *testing.T) {
	town := testinfra.UniqueName("t")
	village := "330213100201"
	brokers := testinfra.KafkaBrokers(t)
	base := config.Base{
		Service: "complaint", District: "fenghua", Town: town, TownCode: "330213100000",
		CatalogFile: testinfra.CatalogFile(t), PortalBaseURL: "https://jiandu.example.cn",
		DatabaseURL: testinfra.Postgres(t), KafkaBrokers: brokers,
		KratosPublicURL: testinfra.Require(t, testinfra.EnvKratosPublicURL),
		HTTPAddr:        testinfra.FreeAddr(t), ShutdownTimeout: 5 * time.Second, MaxBodyBytes: 1 << 20, SamplingRatio: 1, LogLevel: "error",
	}
	villager, who := testinfra.KratosUser(t, "villager", town, village)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &base, options{ChallengeKey: strings.Repeat("k", 32), EscalationInterval: 50 * time.Millisecond})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	url := "http://" + base.HTTPAddr
	testinfra.WaitReady(t, url)

	// A signed-in villager files over HTTP.
	req, _ := http.NewRequest("POST", url+"/v1/public/villages/"+village+"/complaints",
		strings.NewReader(`{"category":"funds","description":"村里修路的钱去向不明，请核查"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+villager)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var receipt struct{ TrackingCode, Secret string }
	if res.StatusCode != 201 || json.Unmarshal(raw, &receipt) != nil || receipt.TrackingCode == "" {
		t.Fatalf("intake: %d %s", res.StatusCode, raw)
	}
	res, err = http.Get(url + "/v1/public/complaints/" + receipt.TrackingCode)
	if err != nil {
		t.Fatalf("tracking page: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("tracking page: %v", res)
	}

	// The filed event reaches the complaint topic, without the reporter.
	readCtx, stop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stop()
	msgs, err := testinfra.ReadTopic(readCtx, brokers, eventsv1.Topic(town, eventsv1.StreamComplaint), 1)
	if err != nil {
		t.Fatalf("reading the complaint topic: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d events on the complaint topic, want 1", len(msgs))
	}
	ev, err := events.Decode(msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	var filed eventsv1.ComplaintFiled
	if err := ev.Decode(&filed); err != nil {
		t.Fatal(err)
	}
	if ev.Type != eventsv1.TypeComplaintFiled || ev.Village != village || filed.ComplaintID == "" || ev.Subject != filed.ComplaintID ||
		filed.Category != "funds" {
		t.Fatalf("event %s: %+v", ev.Type, filed)
	}
	all := string(msgs[0].Value)
	for _, h := range msgs[0].Headers {
		all += string(h.Value)
	}
	// Nor the reporter's tracking code, their key to the case.
	for _, secret := range []string{who.ID, who.Email, who.Name, receipt.Secret, receipt.TrackingCode} {
		if secret != "" && strings.Contains(all, secret) {
			t.Errorf("the event carries %q: %s", secret, all)
		}
	}

	// The operator registers the village on the tenant stream: the report
	// page names it.
	vdata, _ := json.Marshal(eventsv1.VillageRegistered{Code: village, Name: "岩头村", Kind: "village", Town: town, Generation: 1})
	vmsg, err := events.Encode(ctx, eventsv1.Topic(town, eventsv1.StreamTenant), eventsv1.Event{ID: "tenant-e2e-1",
		Source: "/towns/" + town + "/operator", Type: eventsv1.TypeVillageRegistered, Subject: village, Time: time.Now().UTC(),
		Town: town, Village: village, Data: vdata})
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, vmsg); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the village's name never reached the report page")
		}
		res, err := http.Get(url + "/r/" + village)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(raw), "举报村：岩头村") {
			break
		}
	}
}

// The escalation loop escalates a complaint whose acceptance is overdue,
// once however often it ticks, enqueueing the escalated event.
func TestEscalationLoop(t *testing.T) {
	town := testinfra.UniqueName("t")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := store.Open(ctx, testinfra.Postgres(t), "complaint")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := complaint.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	var later atomic.Int64
	var clockReads atomic.Int64 // each tick of the loop reads the clock
	svc := &complaint.Service{Pool: pool, Town: town, Log: slog.New(slog.DiscardHandler), Now: func() time.Time {
		clockReads.Add(1)
		return time.Now().Add(time.Duration(later.Load()))
	}}
	rc, err := svc.File(ctx, complaint.Intake{Village: "330213100201", Category: complaint.CategoryProject, Description: "村道硬化工程偷工减料"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	later.Store(int64(complaint.AcceptWithin + time.Hour))
	loopCtx, stopLoop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { _ = escalationLoop(svc, 20*time.Millisecond)(loopCtx); close(stopped) }()
	// Wait for the escalation, then for several more ticks (however slow the
	// machine), which must not escalate again.
	deadline := time.Now().Add(30 * time.Second)
	for outboxCount(ctx, t, pool) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	seen := clockReads.Load()
	for clockReads.Load() < seen+5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stopLoop()
	<-stopped
	var types []string
	rows, err := pool.Query(ctx, `SELECT headers->>'ce_type' FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			t.Fatal(err)
		}
		types = append(types, typ)
	}
	if len(types) != 2 || types[0] != eventsv1.TypeComplaintFiled || types[1] != eventsv1.TypeComplaintEscalated {
		t.Fatalf("outbox of %s: %v", rc.TrackingCode, types)
	}
}

func outboxCount(ctx context.Context, t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
