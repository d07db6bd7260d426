package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

func tenantEvent(typ, town, code string, data any) eventsv1.Event {
	b, _ := json.Marshal(data)
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/operator", Type: typ, Subject: code,
		Time: time.Now().UTC(), Town: town, Village: code, Data: b}
}

func registered(code, uid string, gen int64) eventsv1.Event {
	return tenantEvent(eventsv1.TypeVillageRegistered, town, code, eventsv1.VillageRegistered{Code: code, Name: "岩头村",
		Kind: "village", Town: town, Roles: []string{"secretary"}, Generation: gen, UID: uid})
}

func archived(code, uid string, gen int64) eventsv1.Event {
	return tenantEvent(eventsv1.TypeVillageArchived, town, code, eventsv1.VillageArchived{Code: code, Name: "岩头村",
		Town: town, UID: uid, Generation: gen})
}

// TestTenantAcksAndArchivedVillage: the workflow learns the operator's
// villages and acknowledges each registration and archival once per
// generation, in the handler's transaction; an archived village starts no
// new process and keeps the ones it has.
func TestTenantAcksAndArchivedVillage(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	apply := func(ev eventsv1.Event) error {
		return store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleTenantEvent(ctx, tx, ev) })
	}
	acks := func() string {
		rows, err := s.Pool.Query(ctx, `SELECT payload FROM outbox WHERE topic = $1 ORDER BY seq`, eventsv1.Topic(town, eventsv1.StreamTenantAcks))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var b []byte
			var a eventsv1.VillageAcknowledged
			if err := rows.Scan(&b); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			if a.Service != "workflow" || a.Town != town || a.Code != village || a.Live != (a.State == eventsv1.StateLive) {
				t.Errorf("ack %+v", a)
			}
			out = append(out, fmt.Sprintf("%s/%d/%s", a.UID, a.Generation, a.State))
		}
		return strings.Join(out, " ")
	}
	before, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "村道硬化"})
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		name     string
		ev       eventsv1.Event
		want     string
		archived bool
	}{
		{"registered", registered(village, "u1", 1), "u1/1/live", false},
		{"again", registered(village, "u1", 1), "u1/1/live", false},
		{"roles changed", registered(village, "u1", 2), "u1/1/live u1/2/live", false},
		{"older late", registered(village, "u1", 1), "u1/1/live u1/2/live", false},
		{"archived", archived(village, "u1", 3), "u1/1/live u1/2/live u1/3/archived", true},
		{"archived again", archived(village, "u1", 3), "u1/1/live u1/2/live u1/3/archived", true},
		{"a predecessor's archival", archived(village, "u0", 7), "u1/1/live u1/2/live u1/3/archived", true},
		{"recreated", registered(village, "u2", 1), "u1/1/live u1/2/live u1/3/archived u2/1/live", false},
	} {
		if err := apply(step.ev); err != nil {
			t.Fatalf("step %d (%s): %v", i, step.name, err)
		}
		if got := acks(); got != step.want {
			t.Errorf("step %d (%s): acks %s, want %s", i, step.name, got, step.want)
		}
		_, err := s.Start(ctx, cadre("secretary"), village, StartRequest{ItemID: "decision-major-matters", Title: "议题"})
		if step.archived {
			wantStatus(t, err, 409)
			if !strings.Contains(err.Error(), "该村已撤并/归档") {
				t.Errorf("step %d: refusal %v", i, err)
			}
		} else if err != nil {
			t.Errorf("step %d (%s): start: %v", i, step.name, err)
		}
		if _, err := s.Get(ctx, before.ID); err != nil {
			t.Errorf("step %d: the earlier process is gone: %v", i, err)
		}
	}
	for _, bad := range []eventsv1.Event{
		tenantEvent(eventsv1.TypeVillageRegistered, "other", village, eventsv1.VillageRegistered{Code: village, Name: "别处村", Town: "other", Generation: 9}),
		registered("12", "u2", 9),
		archived(village, "u2", 0),
	} {
		if err := apply(bad); err == nil || fmt.Sprintf("%T", err) != "events.permanentError" {
			t.Errorf("%s %s: %v, want a permanent error", bad.Type, bad.Data, err)
		}
	}
}
