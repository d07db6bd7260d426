package complaint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
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
	if r := getPage(t, ts, "/r/"+testVillage, nil); !strings.Contains(r.Raw, "村代码："+testVillage) {
		t.Fatalf("before registration the page shows the code: %s", r.Raw)
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
		if r.Status != 200 || !strings.Contains(r.Raw, "举报村："+step.want) || strings.Contains(r.Raw, "村代码：") {
			t.Errorf("step %d (%s): the report page does not name %q: %d", i, step.name, step.want, r.Status)
		}
	}
	if got, err := s.VillageName(ctx, "330213100999"); err != nil || got != "" {
		t.Errorf("unknown village: %q %v", got, err)
	}
}

func villageArchivedEvent(town, code, uid string, generation int64) eventsv1.Event {
	data, _ := json.Marshal(eventsv1.VillageArchived{Code: code, Name: "岩头村", Town: town, UID: uid, Generation: generation})
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/operator", Type: eventsv1.TypeVillageArchived,
		Subject: code, Time: time.Now().UTC(), Town: town, Village: code, Data: data}
}

// acks reads the acknowledgements in the service's outbox, in order.
func acks(t *testing.T, s *Service) []eventsv1.VillageAcknowledged {
	t.Helper()
	rows, err := s.Pool.Query(context.Background(), `SELECT payload FROM outbox WHERE topic = $1 ORDER BY seq`,
		eventsv1.Topic(testTown, eventsv1.StreamTenantAcks))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []eventsv1.VillageAcknowledged
	for rows.Next() {
		var payload []byte
		var a eventsv1.VillageAcknowledged
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(payload, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// TestTenantAcksAndArchive: every registration applied and every archival
// is acknowledged once per generation, in the handler's transaction; an
// archived village keeps its complaints and takes no new ones.
func TestTenantAcksAndArchive(t *testing.T) {
	s, _ := newService(t)
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
	reg := func(name string, gen int64, uid string) eventsv1.Event {
		ev := villageRegistered(testTown, testVillage, name, gen)
		var v eventsv1.VillageRegistered
		_ = json.Unmarshal(ev.Data, &v)
		v.UID = uid
		ev.Data, _ = json.Marshal(v)
		return ev
	}
	before, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryProject, Description: "村道工程偷工减料，路面已开裂"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type ack struct {
		gen   int64
		state string
		uid   string
	}
	for i, step := range []struct {
		name     string
		ev       eventsv1.Event
		wantAcks []ack
		archived bool
	}{
		{"registered", reg("岩头村", 1, "u1"), []ack{{1, "live", "u1"}}, false},
		{"same generation again (another delivery)", reg("岩头村", 1, "u1"), []ack{{1, "live", "u1"}}, false},
		{"renamed", reg("岩头社区", 2, "u1"), []ack{{1, "live", "u1"}, {2, "live", "u1"}}, false},
		{"older generation late", reg("岩头村", 1, "u1"), []ack{{1, "live", "u1"}, {2, "live", "u1"}}, false},
		{"archived", villageArchivedEvent(testTown, testVillage, "u1", 3), []ack{{1, "live", "u1"}, {2, "live", "u1"}, {3, "archived", "u1"}}, true},
		{"archived again", villageArchivedEvent(testTown, testVillage, "u1", 3), []ack{{1, "live", "u1"}, {2, "live", "u1"}, {3, "archived", "u1"}}, true},
		{"a predecessor's archival", villageArchivedEvent(testTown, testVillage, "u0", 9), []ack{{1, "live", "u1"}, {2, "live", "u1"}, {3, "archived", "u1"}}, true},
		{"recreated with the same code", reg("岩头村", 1, "u2"), []ack{{1, "live", "u1"}, {2, "live", "u1"}, {3, "archived", "u1"}, {1, "live", "u2"}}, false},
	} {
		if err := apply(step.ev); err != nil {
			t.Fatalf("step %d (%s): %v", i, step.name, err)
		}
		var got []ack
		for _, a := range acks(t, s) {
			if a.Service != "complaint" || a.Code != testVillage || a.Town != testTown || a.Live != (a.State == "live") || a.At.IsZero() {
				t.Errorf("step %d: ack %+v", i, a)
			}
			got = append(got, ack{a.Generation, a.State, a.UID})
		}
		if fmt.Sprint(got) != fmt.Sprint(step.wantAcks) {
			t.Errorf("step %d (%s): acks %v, want %v", i, step.name, got, step.wantAcks)
		}
		if archived, err := s.VillageArchived(ctx, testVillage); err != nil || archived != step.archived {
			t.Errorf("step %d (%s): archived %v %v, want %v", i, step.name, archived, err, step.archived)
		}
		_, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryFunds, Description: "村集体资金账目不公开"}, nil)
		var e *domainerr.Error
		if step.archived {
			if !errors.As(err, &e) || e.Status != 409 || !strings.Contains(e.Detail, "该村已撤并/归档") {
				t.Errorf("step %d (%s): a complaint about an archived village: %v", i, step.name, err)
			}
		} else if err != nil {
			t.Errorf("step %d (%s): filing: %v", i, step.name, err)
		}
		// The complaint filed before archival is still there.
		if _, err := s.Track(ctx, before.TrackingCode); err != nil {
			t.Errorf("step %d: the earlier complaint is gone: %v", i, err)
		}
	}
	// A malformed archival is permanent.
	bad := villageArchivedEvent(testTown, "12", "u1", 1)
	if err := apply(bad); err == nil || fmt.Sprintf("%T", err) != "events.permanentError" {
		t.Errorf("malformed archival: %v", err)
	}
}
