package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// warning is a conflict-of-interest warning as the workflow service
// publishes it, encoded for the workflow topic.
func warning(t *testing.T, town, village string, at time.Time) kafka.Message {
	t.Helper()
	data, err := json.Marshal(eventsv1.WarningRaised{
		InstanceRef: eventsv1.InstanceRef{InstanceID: uuid.NewString(), TrackingNumber: village + "-" + at.Format("20060102") + "-ABCDE",
			ItemID: "decision-major-matters", ItemName: "重大事项决策"},
		WarningID: uuid.NewString(), StepID: "joint-meeting", Rule: "conflict-of-interest", Message: "利益相关人未回避", Public: true, RaisedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	topic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	m, err := events.Encode(context.Background(), topic, eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/workflow",
		Type: eventsv1.TypeWarningRaised, Time: at.UTC(), Town: town, Village: village, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	m.Topic = ""
	return m
}

// The binary's wiring, end to end: configuration, migrations, topics, the
// consumer of the workflow topic, the HTTP API behind Kratos, the outbox
// relay to the real Kafka, and a clean shutdown.
func TestServiceRunsEndToEnd(t *testing.T) {
	// Notifications go to a DingTalk robot (a real HTTP server) named in
	// the channels file, as the operator renders it.
	posted := make(chan string, 64)
	robot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Markdown struct{ Title string } `json:"markdown"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		posted <- m.Markdown.Title
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	}))
	defer robot.Close()
	channels := filepath.Join(t.TempDir(), "channels.json")
	if err := os.WriteFile(channels, []byte(`{"channels":[{"name":"robot","type":"dingtalk","dingtalk":{"url":"`+robot.URL+`/send"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	notify.file = channels
	t.Cleanup(func() { notify.file = "" })
	town, brokers, baseURL := startService(t)
	village := "330213100201"

	// Three conflicts of interest: 100 → 90 (A) → 80 (B) → 70 (C).
	now := time.Now()
	msgs := []kafka.Message{warning(t, town, village, now.Add(-3*time.Minute)), warning(t, town, village, now.Add(-2*time.Minute)),
		warning(t, town, village, now.Add(-time.Minute))}
	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: eventsv1.Topic(town, eventsv1.StreamWorkflow), Transport: tr,
		Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer tr.CloseIdleConnections()
	defer w.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	for {
		err := w.WriteMessages(wctx, msgs...)
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("writing the workflow events: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	token, _ := testinfra.KratosUser(t, "town-discipline", town, "")
	get := func(path string) (int, string, []byte) {
		req, _ := http.NewRequest("GET", baseURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), raw
	}
	var rating struct {
		Points int    `json:"points"`
		Grade  string `json:"grade"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		status, _, raw := get("/v1/villages/" + village + "/rating")
		if status != 200 {
			t.Fatalf("rating: %d %s", status, raw)
		}
		if err := json.Unmarshal(raw, &rating); err != nil {
			t.Fatal(err)
		}
		if rating.Grade == "C" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the village never reached C: %s", raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rating.Points != 70 {
		t.Errorf("rating %d points, want 70", rating.Points)
	}

	// The fall to C drafted a warning notice; the office signs it.
	status, _, raw := get("/v1/notices?status=draft&village=" + village)
	var drafts struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &drafts); err != nil || status != 200 || len(drafts.Items) != 1 {
		t.Fatalf("drafts: %d %s", status, raw)
	}
	req, _ := http.NewRequest("POST", baseURL+"/v1/notices/"+drafts.Items[0].ID+"/sign", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("signing: %d %s", res.StatusCode, signed)
	}

	// The signed notice is served as HTML.
	status, _, raw = get("/v1/villages/" + village + "/grade-changes")
	var changes struct {
		Items []struct {
			To     string `json:"to"`
			Notice string `json:"notice"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &changes); err != nil || status != 200 || len(changes.Items) != 2 || changes.Items[0].To != "C" {
		t.Fatalf("grade changes: %d %s", status, raw)
	}
	number := changes.Items[0].Notice
	if want := "奉纪预〔" + now.In(inspection.Shanghai).Format("2006") + "〕1号"; number != want {
		t.Fatalf("notice %q, want %q", number, want)
	}
	status, contentType, raw := get("/v1/notices/" + url.PathEscape(number) + "/html")
	if status != 200 || contentType != "text/html; charset=utf-8" || !strings.Contains(string(raw), number) || !strings.Contains(string(raw), "溪口镇纪委") {
		t.Fatalf("notice html: %d %s %.300s", status, contentType, raw)
	}

	// The draft and the issued notice notified: the office's inbox has the
	// draft; the robot got both.
	status, _, raw = get("/v1/inbox")
	if status != 200 || !strings.Contains(string(raw), "待签发") {
		t.Fatalf("inbox: %d %s", status, raw)
	}
	want := map[string]bool{"收到预警通知书 " + number: true}
	for len(want) > 0 {
		select {
		case title := <-posted:
			delete(want, title)
		case <-time.After(time.Minute):
			t.Fatalf("the robot did not get %v", want)
		}
	}

	// The relay published the notice on the inspection topic.
	readCtx, stop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stop()
	topic := eventsv1.Topic(town, eventsv1.StreamInspection)
	for {
		msgs, err := testinfra.ReadTopic(readCtx, brokers, topic, 0)
		if err != nil {
			t.Fatalf("reading %s: %v", topic, err)
		}
		var types []string
		found := false
		for _, m := range msgs {
			ev, err := events.Decode(m)
			if err != nil {
				t.Fatal(err)
			}
			types = append(types, ev.Type)
			if ev.Type == eventsv1.TypeNoticeIssued {
				var n eventsv1.NoticeIssued
				if err := ev.Decode(&n); err != nil || n.Number != number || n.Village != village || n.Grade != "C" || string(m.Key) != village {
					t.Fatalf("notice event %+v keyed %q (%v)", n, m.Key, err)
				}
				found = true
			}
		}
		if found {
			break
		}
		if readCtx.Err() != nil {
			t.Fatalf("no %s on %s (got %v)", eventsv1.TypeNoticeIssued, topic, types)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startService runs the binary (run, as main does) for a new town against
// the real PostgreSQL, Kafka and Kratos until the test ends, and returns the
// town, the brokers and the HTTP address once it is ready.
func startService(t *testing.T) (town string, brokers []string, baseURL string) {
	t.Helper()
	town = testinfra.UniqueName("t")
	base := testinfra.ServiceBase(t, "inspection", town)
	brokers = base.KafkaBrokers
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, &base, "溪口镇") }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	baseURL = "http://" + base.HTTPAddr
	testinfra.WaitReady(t, baseURL)
	return town, brokers, baseURL
}
