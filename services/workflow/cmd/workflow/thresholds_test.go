package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestVillageThresholdsFollowTenantEvents: the operator's registration of a
// village carries its Village spec.thresholds over the real Kafka; the
// running service stores them in PostgreSQL and its amount-threshold
// control warns against them. The same 30,000 yuan spending passes under
// the default 50,000, warns once the threshold is lowered to 20,000, and
// passes again at 40,000; a registration without thresholds (an older
// operator's) keeps the last ones.
func TestVillageThresholdsFollowTenantEvents(t *testing.T) {
	town := testinfra.UniqueName("t")
	village := "330213100201"
	brokers := testinfra.KafkaBrokers(t)
	base := testinfra.ServiceBase(t, "workflow", town)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &base, strings.Repeat("k", 32), []byte(strings.Repeat("a", 32)), "", time.Second, time.Second, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	url := "http://" + base.HTTPAddr
	testinfra.WaitReady(t, url)
	member, _ := testinfra.KratosUser(t, "committee-member", town, village)
	director, _ := testinfra.KratosUser(t, "director", town, village)
	post := func(token, path string, body any) map[string]any {
		t.Helper()
		r := httpapitest.Client{URL: url}.JSON(t, "POST", path, token, body)
		if r.Status >= 300 {
			t.Fatalf("POST %s: %d %s", path, r.Status, r.Raw)
		}
		return r.Body
	}

	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	tenantTopic, acksTopic := eventsv1.Topic(town, eventsv1.StreamTenant), eventsv1.Topic(town, eventsv1.StreamTenantAcks)
	// register publishes generation gen of the village, as the operator
	// does, and waits for the service's acknowledgement of it.
	register := func(gen int64, th *eventsv1.VillageThresholds) {
		t.Helper()
		data, _ := json.Marshal(eventsv1.VillageRegistered{Code: village, Name: "岩头村", Kind: "village", Town: town,
			Roles: []string{"committee-member", "director"}, Generation: gen, UID: "uid-1", Thresholds: th})
		msg, err := events.Encode(ctx, tenantTopic, eventsv1.Event{ID: fmt.Sprintf("thresholds-%s-%d", town, gen),
			Source: "/towns/" + town + "/operator", Type: eventsv1.TypeVillageRegistered, Subject: village,
			Time: time.Now().UTC(), Town: town, Village: village, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessages(ctx, msg); err != nil {
			t.Fatal(err)
		}
		readCtx, stop := context.WithTimeout(ctx, 60*time.Second)
		defer stop()
		msgs, err := testinfra.ReadTopic(readCtx, brokers, acksTopic, int(gen))
		if err != nil {
			t.Fatalf("waiting for the ack of generation %d on %s: %v", gen, acksTopic, err)
		}
		last, err := events.Decode(msgs[len(msgs)-1])
		if err != nil {
			t.Fatal(err)
		}
		var a eventsv1.VillageAcknowledged
		if err := last.Decode(&a); err != nil || a.Generation != gen || a.Service != "workflow" {
			t.Fatalf("last ack %+v (%v), want generation %d", a, err, gen)
		}
	}
	// spend starts a 30,000 yuan expenditure and has the director approve
	// it at once, without a representatives' resolution; it returns the
	// amount-threshold warnings of the approval.
	spend := func() []string {
		t.Helper()
		inst := post(member, "/v1/villages/"+village+"/instances", map[string]any{"itemId": "funds-expenditure",
			"title": "村道修补", "amountFen": 3_000_000, "payeeName": "王*"})
		res := post(director, "/v1/instances/"+inst["id"].(string)+"/steps/approval/complete",
			map[string]any{"next": "payment", "outOfOrder": true, "reason": "急需修补"})
		var got []string
		for _, x := range res["warnings"].([]any) {
			if w := x.(map[string]any); w["rule"] == "amount-threshold" {
				got = append(got, w["message"].(string))
			}
		}
		return got
	}
	const warning = "金额30000元超过20000元，未经村民代表会议决议"
	steps := []struct {
		name string
		th   *eventsv1.VillageThresholds
		want string // the amount-threshold warning, "" for none
	}{
		{"the defaults (50,000)", &eventsv1.VillageThresholds{RepresentativesResolutionAboveYuan: 50000, TownApprovalAboveYuan: 200000}, ""},
		{"lowered to 20,000: the same spending warns", &eventsv1.VillageThresholds{RepresentativesResolutionAboveYuan: 20000, TownApprovalAboveYuan: 200000}, warning},
		{"an older operator's registration keeps 20,000", nil, warning},
		{"raised to 40,000: no warning", &eventsv1.VillageThresholds{RepresentativesResolutionAboveYuan: 40000, TownApprovalAboveYuan: 200000}, ""},
	}
	for i, s := range steps {
		register(int64(i+1), s.th)
		got := strings.Join(spend(), " | ")
		if got != s.want {
			t.Fatalf("%s: amount-threshold warnings %q, want %q", s.name, got, s.want)
		}
	}
}
