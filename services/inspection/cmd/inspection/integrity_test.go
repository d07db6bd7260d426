package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// The binary's wiring of the cross-checks: it consumes the disclosure
// topic, and a payment to a relative recorded through the API (with the
// configured hash key) is flagged. The font setting is loaded on the way.
func TestDisclosureStreamCrossChecked(t *testing.T) {
	font := os.Getenv("WUXIAO_NOTICE_FONT")
	if font == "" {
		out, err := exec.Command(filepath.Join(testinfra.RepoRoot(), "hack", "fonts.sh")).Output()
		if err != nil {
			t.Fatalf("hack/fonts.sh: %v", err)
		}
		font = strings.TrimSpace(string(out))
	}
	const key = "0123456789abcdef0123456789abcdef-test"
	integrity = integrityFlags{idHashKey: key, noticeFont: font}
	t.Cleanup(func() { integrity = integrityFlags{} })

	town, brokers, baseURL := startService(t)
	village := "330213100201"
	token, _ := testinfra.KratosUser(t, "town-discipline", town, "")
	send := func(method, path string, body any) (int, []byte) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, baseURL+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if body == nil {
			req, _ = http.NewRequest(method, baseURL+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out
	}

	status, raw := send("POST", "/v1/integrity-files", inspection.CreateFileRequest{Village: village, CadreName: "王建国", CadrePost: "村委会主任"})
	var file struct{ ID string }
	if err := json.Unmarshal(raw, &file); err != nil || status != 201 {
		t.Fatalf("file: %d %s", status, raw)
	}
	const wife = "330283197502020029"
	if status, raw := send("POST", "/v1/integrity-files/"+file.ID+"/relatives", inspection.AddRelativeRequest{Name: "李秀英", Relation: "配偶", IDNumber: wife}); status != 201 {
		t.Fatalf("relative: %d %s", status, raw)
	}

	data, _ := json.Marshal(eventsv1.PaymentRecorded{PaymentID: "PAY-1", Village: village, Programme: "低保金", PayeeNameMasked: "李*英",
		PayeeIDHash: personal.HashID([]byte(key), wife), AmountFen: 78000, Date: time.Now().In(inspection.Shanghai).Format(time.DateOnly)})
	topic := eventsv1.Topic(town, eventsv1.StreamDisclosure)
	m, err := events.Encode(context.Background(), topic, eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/disclosure",
		Type: eventsv1.TypePaymentRecorded, Time: time.Now().UTC(), Town: town, Village: village, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	m.Topic = ""
	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Transport: tr, Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer tr.CloseIdleConnections()
	defer w.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	for {
		err := w.WriteMessages(wctx, m)
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("writing the payment: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	deadline := time.Now().Add(2 * time.Minute)
	for {
		status, raw := send("GET", "/v1/crosscheck-flags?village="+village, nil)
		var flags struct {
			Items []struct{ Kind, PaymentID string }
		}
		if err := json.Unmarshal(raw, &flags); err != nil || status != 200 {
			t.Fatalf("flags: %d %s", status, raw)
		}
		if len(flags.Items) == 1 {
			if flags.Items[0].Kind != eventsv1.CrossCheckPayeeRelative || flags.Items[0].PaymentID != "PAY-1" {
				t.Fatalf("flag %s", raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the payment was never flagged: %s", raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
