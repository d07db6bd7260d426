package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// complaintDecision is a complaint decision as the complaint service
// publishes it, encoded for the complaint topic.
func complaintDecision(t *testing.T, town, village, typ, complaintID, reason string, at time.Time) kafka.Message {
	t.Helper()
	data, err := json.Marshal(eventsv1.ComplaintDecided{ComplaintRef: eventsv1.ComplaintRef{ComplaintID: complaintID, Category: "funds"},
		ActorID: "liaison-1", ActorRole: "liaison-officer", Reason: reason, At: at})
	if err != nil {
		t.Fatal(err)
	}
	topic := eventsv1.Topic(town, eventsv1.StreamComplaint)
	m, err := events.Encode(context.Background(), topic, eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/complaint",
		Type: typ, Time: at.UTC(), Town: town, Village: village, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	m.Topic = ""
	return m
}

// The binary consumes the complaint topic: an accepted and a substantiated
// complaint become facts, and the same messages delivered twice count
// once. A later complaint of the same village (same key, so same
// partition, consumed after the duplicates) shows when they were all read.
func TestComplaintStreamBecomesFacts(t *testing.T) {
	town, brokers, baseURL := startService(t)
	village := "330213100201"

	now := time.Now()
	id := uuid.NewString()
	accepted := complaintDecision(t, town, village, eventsv1.TypeComplaintAccepted, id, "", now.Add(-3*time.Minute))
	resolved := complaintDecision(t, town, village, eventsv1.TypeComplaintResolved, id, "经查，反映问题属实", now.Add(-2*time.Minute))
	sentinel := complaintDecision(t, town, village, eventsv1.TypeComplaintAccepted, uuid.NewString(), "", now.Add(-time.Minute))
	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: eventsv1.Topic(town, eventsv1.StreamComplaint), Transport: tr,
		Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer tr.CloseIdleConnections()
	defer w.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	for {
		err := w.WriteMessages(wctx, accepted, resolved, accepted, resolved, sentinel)
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("writing the complaint events: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	token, _ := testinfra.KratosUser(t, "town-discipline", town, "")
	var rating struct {
		Points        int `json:"points"`
		Contributions []struct {
			Fact struct {
				ID      string `json:"id"`
				Subkind string `json:"subkind"`
			} `json:"fact"`
		} `json:"contributions"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequest("GET", baseURL+"/v1/villages/"+village+"/rating", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("rating: %d %s", res.StatusCode, raw)
		}
		if err := json.Unmarshal(raw, &rating); err != nil {
			t.Fatal(err)
		}
		if len(rating.Contributions) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the complaint facts never arrived: %s", raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(rating.Contributions) != 3 || rating.Points != 95 {
		t.Fatalf("rating %+v, want 95 from accepted, substantiated and the sentinel, once each", rating)
	}
	want := []string{"complaint:" + id + ":accepted", "complaint:" + id + ":resolved"}
	for i, w := range want {
		if rating.Contributions[i].Fact.ID != w {
			t.Fatalf("contribution %d is %s, want %s", i, rating.Contributions[i].Fact.ID, w)
		}
	}
}
