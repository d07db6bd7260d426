package disclosure

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestPaymentRecordedReachesKafka: recording a payment enqueues its
// PaymentRecorded in the same transaction, the relay carries it to the
// town's disclosure topic on the real Kafka, and nothing on the topic (data,
// headers, key) holds a payee's clear name or ID number. A payment refused
// by the domain announces nothing; a reversal is not a new payment.
func TestPaymentRecordedReachesKafka(t *testing.T) {
	town := testinfra.UniqueName("t")
	s := newService(t, town)
	brokers := testinfra.KafkaBrokers(t)
	topic := eventsv1.Topic(town, eventsv1.StreamDisclosure)
	testinfra.CreateTopics(t, brokers, 3, topic)
	ctx := context.Background()

	type household struct{ name, id string }
	zhang, ouyang := household{"张小明", idZhang}, household{"欧阳小锋", idOuyang}
	var recorded []Payment
	for _, tc := range []struct {
		hh        household
		programme string
		fen       int64
		ok        bool
	}{
		{zhang, "耕地地力保护补贴", 52_300, true},
		{ouyang, "养老服务补贴", 61_000, true},
		{household{"李四", "330283199001011237"}, "养老服务补贴", 10_000, false}, // wrong check digit
		{zhang, "", 10_000, false},                                       // no programme
	} {
		p, err := s.RecordPayment(ctx, "finance-1", PaymentRequest{Village: village, Programme: tc.programme,
			HouseholdName: tc.hh.name, IDNumber: tc.hh.id, AmountFen: tc.fen, PaidOn: "2026-03-10"})
		if (err == nil) != tc.ok {
			t.Fatalf("RecordPayment(%s, %q): %v", tc.hh.name, tc.programme, err)
		}
		if err == nil {
			recorded = append(recorded, p)
		}
	}
	if _, err := s.ReversePayment(ctx, recorded[1].ID, "重复发放", "finance-1"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM outbox WHERE headers->>'ce_type' = $1`, eventsv1.TypePaymentRecorded); n != 2 {
		t.Fatalf("%d payment events enqueued, want 2", n)
	}

	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- events.NewRelay(s.Pool, brokers, events.RelayOptions{}).Run(relayCtx) }()
	t.Cleanup(func() {
		stopRelay()
		if err := <-relayDone; err != nil {
			t.Errorf("relay: %v", err)
		}
	})

	readCtx, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	msgs, err := testinfra.ReadTopic(readCtx, brokers, topic, 2)
	if err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	got := map[string]eventsv1.PaymentRecorded{}
	hexHash := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, m := range msgs {
		ev, err := events.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != eventsv1.TypePaymentRecorded {
			continue
		}
		var d eventsv1.PaymentRecorded
		if err := ev.Decode(&d); err != nil {
			t.Fatal(err)
		}
		if ev.ID != derivedID("event", eventsv1.TypePaymentRecorded, d.PaymentID) || ev.Town != town || ev.Village != village ||
			string(m.Key) != village || ev.Subject != d.PaymentID {
			t.Errorf("envelope %+v keyed %q", ev, m.Key)
		}
		if !hexHash.MatchString(d.PayeeIDHash) {
			t.Errorf("payee hash %q is not a hex HMAC-SHA256", d.PayeeIDHash)
		}
		// Everything the message carries, searched for the clear data.
		all := string(m.Key) + string(m.Value)
		for _, h := range m.Headers {
			all += h.Key + string(h.Value)
		}
		for _, secret := range []string{zhang.name, zhang.id, ouyang.name, ouyang.id, "小明", "小锋", "19900101", "19491231",
			strings.ToLower(ouyang.id)} {
			if strings.Contains(all, secret) {
				t.Errorf("event of payment %s carries %q", d.PaymentID, secret)
			}
		}
		got[d.PaymentID] = d
	}
	if len(got) != 2 {
		t.Fatalf("%d payment events on the topic, want 2: %+v", len(got), got)
	}
	for i, hh := range []household{zhang, ouyang} {
		p := recorded[i]
		want := eventsv1.PaymentRecorded{PaymentID: p.ID, Village: village, Programme: p.Programme, PayeeNameMasked: personal.MaskName(hh.name),
			PayeeIDHash: personal.HashID(testKey, hh.id), AmountFen: p.AmountFen, Date: "2026-03-10"}
		if got[p.ID] != want {
			t.Errorf("payment %d: event %+v, want %+v", i, got[p.ID], want)
		}
	}
}
