package inspection

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestEventsOfAnotherTownAreRefused: a warning, a decided complaint or a
// payment naming another town is dead-lettered (Permanent) and moves no
// rating; the handlers used to file it under this town's village.
func TestEventsOfAnotherTownAreRefused(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, Shanghai)
	foreign := func(ev eventsv1.Event) eventsv1.Event { ev.Town = "jinping"; return ev }
	cases := []struct {
		name    string
		handler func(context.Context, pgx.Tx, eventsv1.Event) error
		ev      eventsv1.Event
	}{
		{"warning", s.HandleWorkflowEvent, foreign(warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day))},
		{"complaint", s.HandleComplaintEvent, foreign(complaintEvent(t, eventsv1.TypeComplaintAccepted, uuid.NewString(), svcVillage, "", day))},
		{"payment", s.HandleDisclosureEvent, foreign(paymentEvent(t, svcVillage, uuid.NewString(), "330283199001011234", "2026-03-01"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := store.InTx(context.Background(), s.Pool, func(tx pgx.Tx) error { return tc.handler(context.Background(), tx, tc.ev) })
			if err == nil || fmt.Sprintf("%T", err) != "events.permanentError" {
				t.Fatalf("handler returned %v (%T), want a Permanent error", err, err)
			}
		})
	}
	if n := count(t, s.Pool, `SELECT (SELECT count(*) FROM facts) + (SELECT count(*) FROM subsidy_payments)`); n != 0 {
		t.Fatalf("another town's events left %d rows", n)
	}
	// The same warning of this town is applied.
	handle(t, s, warningEvent(t, svcTown, svcVillage, "conflict-of-interest", day))
	if n := count(t, s.Pool, `SELECT count(*) FROM facts`); n != 1 {
		t.Fatalf("this town's warning: %d facts", n)
	}
}

// TestDistrictEventDataMustMatchEnvelope: the district projection files an
// event under its envelope's town (the consumer holds that to the topic's
// town); data naming another village than the envelope is dead-lettered
// rather than counted for a village the publishing town did not name.
func TestDistrictEventDataMustMatchEnvelope(t *testing.T) {
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	interview := func(envelope, data string) eventsv1.Event {
		raw, _ := json.Marshal(eventsv1.InterviewRecorded{InterviewID: uuid.NewString(), Village: data, HeldAt: clk.Now().Add(-time.Minute)})
		return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/jinping/inspection", Type: eventsv1.TypeInterviewRecorded,
			Time: clk.Now().UTC(), Town: "jinping", Village: envelope, Data: raw}
	}
	apply := func(ev eventsv1.Event) error {
		return store.InTx(context.Background(), s.Pool, func(tx pgx.Tx) error { return s.HandleDistrictEvent(context.Background(), tx, ev) })
	}
	if err := apply(interview("330283200101", svcVillage)); err == nil || fmt.Sprintf("%T", err) != "events.permanentError" {
		t.Fatalf("mismatched villages: %v, want a Permanent error", err)
	}
	if err := apply(interview("330283200101", "330283200101")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM district_interviews WHERE village = $1`, svcVillage); n != 0 {
		t.Fatalf("the mismatched interview was projected (%d)", n)
	}
}
