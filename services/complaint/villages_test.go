package complaint

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

func villageRegistered(town, code, name string, generation int64) eventsv1.Event {
	data, _ := json.Marshal(eventsv1.VillageRegistered{Code: code, Name: name, Kind: "village", Town: town,
		Roles: []string{"liaison-officer", "secretary"}, Generation: generation})
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/operator", Type: eventsv1.TypeVillageRegistered,
		Subject: code, Time: time.Now().UTC(), Town: town, Village: code, Data: data}
}

// TestHandleTenantEventNamesTheReportPage feeds the operator's village
// events through the real handler, each in its own transaction as the
// consumer runs it, and checks the stored name and the report page.
func TestHandleTenantEventNamesTheReportPage(t *testing.T) {
	ts, a := pageServer(t, generous)
	s := a.Service
	ctx := context.Background()
	apply := func(ev eventsv1.Event) error {
		tx, err := s.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if err := s.HandleTenantEvent(ctx, tx, ev); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	if r := getPage(t, ts, "/r/"+testVillage, nil); !strings.Contains(r.body, "村代码："+testVillage) {
		t.Fatalf("before registration the page shows the code: %s", r.body)
	}
	undecodable := villageRegistered(testTown, testVillage, "岩头村", 9)
	undecodable.Data = json.RawMessage(`{"generation":"nine"}`)
	other := villageRegistered(testTown, testVillage, "别名村", 9)
	other.Type = "cn.wuxiao.tenant.village.removed.v1"
	for i, step := range []struct {
		name      string
		ev        eventsv1.Event
		permanent bool
		want      string
	}{
		{"registered", villageRegistered(testTown, testVillage, "岩头村", 1), false, "岩头村"},
		{"again", villageRegistered(testTown, testVillage, "岩头村", 1), false, "岩头村"},
		{"renamed", villageRegistered(testTown, testVillage, "岩头社区", 3), false, "岩头社区"},
		{"an older generation arrives late", villageRegistered(testTown, testVillage, "岩头村", 2), false, "岩头社区"},
		{"another town's village", villageRegistered("other", testVillage, "别处村", 9), true, "岩头社区"},
		{"malformed code", villageRegistered(testTown, "12", "岩头村", 9), true, "岩头社区"},
		{"empty name", villageRegistered(testTown, testVillage, "", 9), true, "岩头社区"},
		{"undecodable", undecodable, true, "岩头社区"},
		{"other types ignored", other, false, "岩头社区"},
	} {
		err := apply(step.ev)
		if (err != nil) != step.permanent || (err != nil && fmt.Sprintf("%T", err) != "events.permanentError") {
			t.Fatalf("step %d (%s): %v (%T), want permanent %v", i, step.name, err, err, step.permanent)
		}
		if got, err := s.VillageName(ctx, testVillage); err != nil || got != step.want {
			t.Errorf("step %d (%s): name %q %v, want %q", i, step.name, got, err, step.want)
		}
		r := getPage(t, ts, "/r/"+testVillage, nil)
		if r.status != 200 || !strings.Contains(r.body, "举报村："+step.want) || strings.Contains(r.body, "村代码：") {
			t.Errorf("step %d (%s): the report page does not name %q: %d", i, step.name, step.want, r.status)
		}
	}
	if got, err := s.VillageName(ctx, "330213100999"); err != nil || got != "" {
		t.Errorf("unknown village: %q %v", got, err)
	}
}
