package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// The binary's wiring, end to end: configuration, migrations, topics, the
// workflow consumer booking a completed process, the public API, the outbox
// relay to the real Kafka, and a clean shutdown.
func TestServiceRunsEndToEnd(t *testing.T) {
	town := testinfra.UniqueName("t")
	village := "330213100201"
	brokers := testinfra.KafkaBrokers(t)
	base := testinfra.ServiceBase(t, "disclosure", town)
	base.MetricsAddr = ""
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, &base, strings.Repeat("k", 32)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	url := "http://" + base.HTTPAddr
	testinfra.WaitReady(t, url)

	// The workflow service completes a funds-expenditure process.
	completedAt := time.Now()
	data, _ := json.Marshal(eventsv1.InstanceCompleted{
		InstanceRef: eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: "XK-E2E-0001", ItemID: "funds-expenditure",
			ItemName: "资金支出", Category: "funds", CatalogVersion: "1"},
		Title: "购买办公用品", AmountFen: 88_800, PayeeName: "李小四", CompletedAt: completedAt,
	})
	workflowTopic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	msg, err := events.Encode(ctx, workflowTopic, eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/workflow",
		Type: eventsv1.TypeInstanceCompleted, Subject: "XK-E2E-0001", Time: completedAt.UTC(), Town: town, Village: village, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, msg); err != nil {
		t.Fatal(err)
	}

	// The entry appears in the public wallet, payee masked.
	year := completedAt.In(tz.Shanghai).Year()
	var wallet disclosure.PublicWallet
	deadline := time.Now().Add(60 * time.Second)
	for len(wallet.Entries) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the completed process never reached the wallet")
		}
		time.Sleep(200 * time.Millisecond)
		res, err := http.Get(url + "/v1/public/villages/" + village + "/wallet?year=" + strconv.Itoa(year))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("wallet: %d %s", res.StatusCode, raw)
		}
		if err := json.Unmarshal(raw, &wallet); err != nil {
			t.Fatal(err)
		}
	}
	e := wallet.Entries[0]
	if len(wallet.Entries) != 1 || e.TrackingNumber != "XK-E2E-0001" || e.AmountFen != 88_800 || e.Counterparty != "李*四" || wallet.SpendingFen != 88_800 {
		t.Fatalf("wallet: %+v", wallet)
	}

	// The portal shows it, with the power list and a QR code of the
	// configured portal address.
	for _, tc := range []struct{ path, want string }{
		{"/v/" + village + "?year=" + strconv.Itoa(year), "XK-E2E-0001"},
		{"/v/" + village + "/processes/XK-E2E-0001", "资金支出"},
		{"/v/" + village + "/powers", "村级财务支出审批"},
		{"/v/" + village + "/qr.svg", "<svg"},
	} {
		res, err := http.Get(url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(raw), tc.want) || strings.Contains(string(raw), "李小四") {
			t.Fatalf("portal %s: %d %.300s", tc.path, res.StatusCode, raw)
		}
	}

	// Its announcement reaches the disclosure topic.
	readCtx, stop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stop()
	msgs, err := testinfra.ReadTopic(readCtx, brokers, eventsv1.Topic(town, eventsv1.StreamDisclosure), 1)
	if err != nil {
		t.Fatalf("reading the disclosure topic: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d events on the disclosure topic, want 1", len(msgs))
	}
	ev, err := events.Decode(msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	var le eventsv1.EntryPublished
	if err := ev.Decode(&le); err != nil {
		t.Fatal(err)
	}
	if ev.Type != eventsv1.TypeEntryPublished || ev.Village != village || string(msgs[0].Key) != village ||
		le.EntryID != e.ID || le.TrackingNumber != "XK-E2E-0001" || le.AmountFen != 88_800 {
		t.Fatalf("event %s keyed %q: %+v", ev.Type, msgs[0].Key, le)
	}

	// The operator registers the village on the tenant stream: the portal
	// names it.
	vdata, _ := json.Marshal(eventsv1.VillageRegistered{Code: village, Name: "岩头村", Kind: "village", Town: town, Generation: 1})
	vmsg, err := events.Encode(ctx, eventsv1.Topic(town, eventsv1.StreamTenant), eventsv1.Event{ID: uuid.NewString(),
		Source: "/towns/" + town + "/operator", Type: eventsv1.TypeVillageRegistered, Subject: village, Time: time.Now().UTC(),
		Town: town, Village: village, Data: vdata})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, vmsg); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the village's name never reached the portal")
		}
		res, err := http.Get(url + "/v/" + village + "/powers")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(raw), "村务公开 · 岩头村") {
			break
		}
	}
}
