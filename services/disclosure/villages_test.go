package disclosure

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
)

// villageEvent is the operator's registration of a village, as it arrives
// on the tenant stream.
func villageEvent(town, code, name string, generation int64) eventsv1.Event {
	data, _ := json.Marshal(eventsv1.VillageRegistered{Code: code, Name: name, Kind: "village", Town: town,
		Roles: []string{"secretary"}, Generation: generation})
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/operator", Type: eventsv1.TypeVillageRegistered,
		Subject: code, Time: serviceNow.UTC(), Town: town, Village: code, Data: data}
}

// applyTenantEvent feeds one event through the real tenant handler in a
// transaction, as the consumer does.
func applyTenantEvent(t testing.TB, s *Service, ev eventsv1.Event) error {
	t.Helper()
	ctx := context.Background()
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

// isPermanent tells a dead-lettering error from a retried one (the events
// package's marker type is unexported).
func isPermanent(err error) bool { return fmt.Sprintf("%T", err) == "events.permanentError" }

func TestHandleTenantEventStoresNames(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	// A village outside the town code's range: it has a portal only once
	// registered.
	const code = "330213200101"
	if p := get(t, ts, "/v/"+code); p.status != http.StatusNotFound {
		t.Fatalf("unregistered village: %d", p.status)
	}
	state := func() (name string, version int64) {
		t.Helper()
		if err := s.Pool.QueryRow(context.Background(), `SELECT name, version FROM villages WHERE code = $1`, code).Scan(&name, &version); err != nil {
			t.Fatal(err)
		}
		return name, version
	}
	var lastVersion int64
	var lastETag string
	for i, step := range []struct {
		name      string
		ev        eventsv1.Event
		permanent bool
		wantName  string
		bumped    bool // the version (and the portal's ETag) changed
	}{
		{"registered", villageEvent(testTown, code, "岩头村", 1), false, "岩头村", true},
		{"same event again", villageEvent(testTown, code, "岩头村", 1), false, "岩头村", false},
		{"roles changed, same name", villageEvent(testTown, code, "岩头村", 2), false, "岩头村", false},
		{"renamed", villageEvent(testTown, code, "岩头社区", 4), false, "岩头社区", true},
		{"an older generation arrives late", villageEvent(testTown, code, "岩头村", 3), false, "岩头社区", false},
		{"another town's village", villageEvent("other", code, "别处村", 9), true, "岩头社区", false},
		{"malformed code", villageEvent(testTown, "3302", "岩头村", 9), true, "岩头社区", false},
		{"empty name", villageEvent(testTown, code, "  ", 9), true, "岩头社区", false},
		{"no generation", villageEvent(testTown, code, "新名村", 0), true, "岩头社区", false},
		{"undecodable", func() eventsv1.Event {
			ev := villageEvent(testTown, code, "岩头村", 9)
			ev.Data = json.RawMessage(`{"code":1}`)
			return ev
		}(), true, "岩头社区", false},
		{"other event types are ignored", func() eventsv1.Event {
			ev := villageEvent(testTown, code, "新名村", 9)
			ev.Type = "cn.wuxiao.tenant.village.removed.v1"
			return ev
		}(), false, "岩头社区", false},
	} {
		err := applyTenantEvent(t, s, step.ev)
		if (err != nil) != step.permanent || (err != nil && !isPermanent(err)) {
			t.Fatalf("step %d (%s): error %v (%T), want permanent %v", i, step.name, err, err, step.permanent)
		}
		name, version := state()
		if name != step.wantName || (version != lastVersion) != step.bumped {
			t.Errorf("step %d (%s): name %q version %d (was %d), want %q bumped %v", i, step.name, name, version, lastVersion,
				step.wantName, step.bumped)
		}
		lastVersion = version

		// The portal shows the name instead of the code, at once.
		p := get(t, ts, "/v/"+code)
		if p.status != 200 {
			t.Fatalf("step %d (%s): portal %d", i, step.name, p.status)
		}
		checkHTML(t, p.body)
		if !strings.Contains(p.body, "村务公开 · "+name+"</p>") || !strings.Contains(p.body, "<title>") ||
			!strings.Contains(p.body, "· 村务公开 "+name+"</title>") || strings.Contains(p.body, "村代码 "+code) {
			t.Errorf("step %d (%s): the page does not show %q instead of the code: %.600s", i, step.name, name, p.body)
		}
		if etag := p.header.Get("ETag"); (etag != lastETag) != step.bumped {
			t.Errorf("step %d (%s): ETag %s (was %s), want changed %v", i, step.name, etag, lastETag, step.bumped)
		} else {
			lastETag = etag
		}
	}
	// Pages outside the cache (a message page) show the name too.
	if p := get(t, ts, "/v/"+code+"/nothing-here"); p.status != 404 || !strings.Contains(p.body, "岩头社区") {
		t.Errorf("message page: %d %.400s", p.status, p.body)
	}
	// A village without a registered name still shows its code.
	if p := get(t, ts, "/v/"+emptyVillage); !strings.Contains(p.body, "村代码 "+emptyVillage) {
		t.Errorf("unnamed village: %.400s", p.body)
	}
}

// archivedEvent is the operator's archival of a village.
func archivedEvent(town, code, uid string, generation int64) eventsv1.Event {
	data, _ := json.Marshal(eventsv1.VillageArchived{Code: code, Name: "岩头村", Town: town, UID: uid, Generation: generation})
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/operator", Type: eventsv1.TypeVillageArchived,
		Subject: code, Time: serviceNow.UTC(), Town: town, Village: code, Data: data}
}

// withUID sets the Village uid of a registration.
func withUID(ev eventsv1.Event, uid string) eventsv1.Event {
	var v eventsv1.VillageRegistered
	_ = json.Unmarshal(ev.Data, &v)
	v.UID = uid
	ev.Data, _ = json.Marshal(v)
	return ev
}

// TestTenantAcksAndArchivedPortal: registrations and archivals are
// acknowledged once per generation in the handler's transaction; an
// archived village's portal keeps its records under a clear notice and no
// longer offers the complaint form.
func TestTenantAcksAndArchivedPortal(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	ctx := context.Background()
	const code = "330213100277"
	if _, err := s.RecordEntry(ctx, "finance-1", EntryInput{Village: code, Kind: KindIncome, Category: CategoryOtherIncome,
		AmountFen: 100, Date: "2026-03-01", Description: "村集体房屋出租收入"}); err != nil {
		t.Fatal(err)
	}
	acks := func() []string {
		rows, err := s.Pool.Query(ctx, `SELECT payload FROM outbox WHERE topic = $1 ORDER BY seq`, eventsv1.Topic(testTown, eventsv1.StreamTenantAcks))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var a eventsv1.VillageAcknowledged
			var b []byte
			if err := rows.Scan(&b); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			if a.Service != "disclosure" || a.Code != code || a.Live != (a.State == eventsv1.StateLive) {
				t.Errorf("ack %+v", a)
			}
			out = append(out, fmt.Sprintf("%s/%d/%s", a.UID, a.Generation, a.State))
		}
		return out
	}
	for i, step := range []struct {
		name     string
		ev       eventsv1.Event
		want     string
		archived bool
	}{
		{"registered", withUID(villageEvent(testTown, code, "岩头村", 1), "u1"), "[u1/1/live]", false},
		{"again", withUID(villageEvent(testTown, code, "岩头村", 1), "u1"), "[u1/1/live]", false},
		{"older late", withUID(villageEvent(testTown, code, "岩头村", 0+1), "u1"), "[u1/1/live]", false},
		{"archived", archivedEvent(testTown, code, "u1", 2), "[u1/1/live u1/2/archived]", true},
		{"archived again", archivedEvent(testTown, code, "u1", 2), "[u1/1/live u1/2/archived]", true},
		{"a predecessor's archival", archivedEvent(testTown, code, "u0", 5), "[u1/1/live u1/2/archived]", true},
		{"recreated", withUID(villageEvent(testTown, code, "岩头村", 1), "u2"), "[u1/1/live u1/2/archived u2/1/live]", false},
	} {
		if err := applyTenantEvent(t, s, step.ev); err != nil {
			t.Fatalf("step %d (%s): %v", i, step.name, err)
		}
		if got := fmt.Sprint(acks()); got != step.want {
			t.Errorf("step %d (%s): acks %s, want %s", i, step.name, got, step.want)
		}
		p := get(t, ts, "/v/"+code+"?year=2026")
		if p.status != 200 || !strings.Contains(p.body, "村集体房屋出租收入") {
			t.Fatalf("step %d (%s): the records must stay visible: %d", i, step.name, p.status)
		}
		checkHTML(t, p.body)
		notice := strings.Contains(p.body, "该村已撤并/归档")
		report := strings.Contains(p.body, `href="/r/`+code+`"`)
		if notice != step.archived || report == step.archived {
			t.Errorf("step %d (%s): notice %v, complaint link %v, want archived %v", i, step.name, notice, report, step.archived)
		}
	}
	if err := applyTenantEvent(t, s, archivedEvent("other", code, "u2", 9)); !isPermanent(err) {
		t.Errorf("another town's archival: %v", err)
	}
}
