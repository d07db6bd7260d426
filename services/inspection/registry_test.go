package inspection

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// tenantEvent is a village registration as the operator publishes it.
func tenantEvent(t testing.TB, town, code, name string, generation int64) eventsv1.Event {
	t.Helper()
	data, err := json.Marshal(eventsv1.VillageRegistered{Code: code, Name: name, Kind: "village", Town: town,
		Roles: []string{"secretary"}, Generation: generation})
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/operator", Type: eventsv1.TypeVillageRegistered, Subject: code,
		Time: time.Now().UTC(), Town: town, Village: code, Data: data}
}

// apply runs an events.Handler in a transaction, as the consumer does.
func apply(s *Service, h func(context.Context, pgx.Tx, eventsv1.Event) error, ev eventsv1.Event) error {
	return store.InTx(context.Background(), s.Pool, func(tx pgx.Tx) error { return h(context.Background(), tx, ev) })
}

// apiServer serves s's routes behind the real Kratos.
func apiServer(t *testing.T, s *Service) *httptest.Server {
	t.Helper()
	auth := identity.New(testinfra.Require(t, testinfra.EnvKratosPublicURL), identity.WithCacheTTL(0),
		identity.WithErrorWriter(httpapi.WriteStatusProblem))
	srv := httpapi.New(config.Base{Town: s.Town, MaxBodyBytes: 64 << 10}, slog.New(slog.DiscardHandler), nil).WithAuthenticator(auth.Require)
	s.Routes(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// The operator's villages make the town's registry: names (later
// generations win, redelivery and older generations change nothing),
// the coverage universe, the notices' addressee; and once the operator has
// announced villages, every write naming another village is refused with a
// 422 that names the code (orders, interviews, tours, findings, integrity
// files, PUT /v1/villages). Before any announcement nothing is refused.
func TestVillageRegistryFromTenantEvents(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	s.VillageNames = nil // as in main: names come from the registry only
	ts := apiServer(t, s)
	disc, _ := testinfra.KratosUser(t, "town-discipline", svcTown, "")

	const (
		villageA  = svcVillage     // announced
		villageB  = "330283100203" // announced
		villageD  = svcVillage2    // planned in a tour before any announcement
		villageX  = "330283100299" // never announced
		otherTown = "jinping"
	)
	// Open registry: a tour on a village nobody announced is planned.
	team := []TeamMember{{Name: "王巡察", Role: "组长"}}
	r := send(t, ts, "POST", "/v1/tours", disc, TourInput{Name: "第一轮", Period: "2026", Team: team, Villages: []string{villageD}})
	if r.status != 201 {
		t.Fatalf("tour before any announcement: %d %s", r.status, r.raw)
	}
	oldTour := r.body["id"].(string)

	// Registrations: A renamed at generation 2; a replay of generation 1
	// (new event id) and a redelivery of the same event change nothing.
	a1, a2 := tenantEvent(t, svcTown, villageA, "岩头村", 1), tenantEvent(t, svcTown, villageA, "岩头新村", 2)
	for _, ev := range []eventsv1.Event{a1, tenantEvent(t, svcTown, villageB, "溪口社区", 1), a2, a2, tenantEvent(t, svcTown, villageA, "岩头村", 1)} {
		if err := apply(s, s.HandleTenantEvent, ev); err != nil {
			t.Fatalf("registering %s: %v", ev.Village, err)
		}
	}
	bad := []struct {
		name string
		ev   eventsv1.Event
	}{
		{"another town's village", tenantEvent(t, otherTown, "330283200101", "外镇村", 1)},
		{"a code that is not 12 digits", tenantEvent(t, svcTown, "3302831", "短码村", 1)},
		{"no name", tenantEvent(t, svcTown, villageX, " ", 1)},
		{"no generation", tenantEvent(t, svcTown, villageX, "某村", 0)},
	}
	for _, tc := range bad {
		if err := apply(s, s.HandleTenantEvent, tc.ev); err == nil {
			t.Errorf("%s was registered", tc.name)
		}
	}
	known, err := s.KnownVillages(ctx)
	if err != nil || len(known) != 2 || known[villageA] != "岩头新村" || known[villageB] != "溪口社区" {
		t.Fatalf("known villages %v (%v), want only the announced A (岩头新村) and B", known, err)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM villages WHERE generation IS NOT NULL`); n != 2 {
		t.Fatalf("%d announced villages, want 2", n)
	}

	r = send(t, ts, "POST", "/v1/tours", disc, TourInput{Name: "第二轮", Period: "2026", Team: team, Villages: []string{villageA, villageB}})
	if r.status != 201 {
		t.Fatalf("tour of announced villages: %d %s", r.status, r.raw)
	}
	tour := r.body["id"].(string)
	task := []TaskInput{{Owner: "村委会", Action: "整改", Deadline: "2026-05-31"}}
	interview := func(v string) map[string]any {
		return map[string]any{"village": v, "cadreName": "张某", "heldAt": clk.Now().Add(-time.Hour),
			"interviewers": []string{"镇纪委书记"}, "reason": "公开不及时", "outcome": "提醒谈话"}
	}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		field              string // the field the 422 names, with villageX or villageD
	}{
		{"order to an unannounced village", "POST", "/v1/orders", OrderRequest{Village: villageX, Situation: "duty-02"}, 422, "village"},
		{"order to an announced village", "POST", "/v1/orders", OrderRequest{Village: villageA, Situation: "duty-02"}, 201, ""},
		{"interview in an unannounced village", "POST", "/v1/interviews", interview(villageX), 422, "village"},
		{"interview in an announced village", "POST", "/v1/interviews", interview(villageB), 201, ""},
		{"tour with an unannounced village", "POST", "/v1/tours", TourInput{Name: "x", Period: "2026", Team: team, Villages: []string{villageA, villageX}}, 422, "villages[1]"},
		{"registering an unannounced village by hand", "PUT", "/v1/villages/" + villageX, map[string]string{"name": "某村"}, 422, "village"},
		{"renaming an announced village by hand", "PUT", "/v1/villages/" + villageB, map[string]string{"name": "溪口社区"}, 200, ""},
		{"integrity file in an unannounced village", "POST", "/v1/integrity-files", CreateFileRequest{Village: villageX, CadreName: "王建国"}, 422, "village"},
		{"integrity file in an announced village", "POST", "/v1/integrity-files", CreateFileRequest{Village: villageA, CadreName: "王建国"}, 201, ""},
		{"finding in a village of an old tour, never announced", "POST", "/v1/tours/" + oldTour + "/findings",
			FindingInput{Village: villageD, Category: "村务公开", Description: "未公开", Severity: SeverityMinor, Tasks: task}, 422, "village"},
		{"finding in an announced village", "POST", "/v1/tours/" + tour + "/findings",
			FindingInput{Village: villageA, Category: "村务公开", Description: "未公开", Severity: SeverityMinor, Tasks: task}, 201, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := send(t, ts, tc.method, tc.path, disc, tc.body)
			if r.status != tc.status {
				t.Fatalf("got %d %.400s, want %d", r.status, r.raw, tc.status)
			}
			if tc.status != 422 {
				return
			}
			errs, _ := r.body["errors"].([]any)
			named := false
			for _, e := range errs {
				fe := e.(map[string]any)
				d, _ := fe["detail"].(string)
				named = named || (fe["field"] == tc.field && strings.Contains(d, "not registered in town "+svcTown) &&
					(strings.Contains(d, villageX) || strings.Contains(d, villageD)))
			}
			if !named || r.contentType != "application/problem+json" {
				t.Fatalf("the problem does not name the unregistered village under %s: %s %s", tc.field, r.contentType, r.raw)
			}
		})
	}

	// Coverage counts the announced villages only.
	r = send(t, ts, "GET", "/v1/tours/coverage", disc, nil)
	if r.body["total"].(float64) != 2 {
		t.Fatalf("coverage: %s", r.raw)
	}
	// A notice is addressed by the registry's latest name.
	ev := warningEvent(t, svcTown, villageA, "conflict-of-interest", clk.Now().Add(-time.Hour))
	if err := apply(s, s.HandleWorkflowEvent, ev); err != nil {
		t.Fatal(err)
	}
	var html string
	if err := s.Pool.QueryRow(ctx, `SELECT html FROM notices WHERE village = $1`, villageA).Scan(&html); err != nil {
		t.Fatalf("no notice: %v", err)
	}
	if !strings.Contains(html, "岩头新村") {
		t.Fatalf("the notice is not addressed to 岩头新村: %.600s", html)
	}
}

// An archival and a registration of a Village, with its uid.
func archivedTenantEvent(town, code, uid string, generation int64) eventsv1.Event {
	data, _ := json.Marshal(eventsv1.VillageArchived{Code: code, Name: "岩头村", Town: town, UID: uid, Generation: generation})
	return eventsv1.Event{ID: uuid.NewString(), Source: "/operator", Type: eventsv1.TypeVillageArchived, Subject: code,
		Time: time.Now().UTC(), Town: town, Village: code, Data: data}
}

func withVillageUID(t testing.TB, ev eventsv1.Event, uid string) eventsv1.Event {
	var v eventsv1.VillageRegistered
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		t.Fatal(err)
	}
	v.UID = uid
	ev.Data, _ = json.Marshal(v)
	return ev
}

// TestTenantAcksAndArchivedCoverage: registrations and archivals are
// acknowledged once per generation, in the handler's transaction; an
// archived village leaves the coverage universe and keeps its records.
func TestTenantAcksAndArchivedCoverage(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 4, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	s.VillageNames = nil
	const villageA, villageB = svcVillage, "330283100203"
	acks := func() string {
		rows, err := s.Pool.Query(ctx, `SELECT payload FROM outbox WHERE topic = $1 ORDER BY seq`, eventsv1.Topic(svcTown, eventsv1.StreamTenantAcks))
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
			if a.Service != "inspection" || a.Town != svcTown || a.Live != (a.State == eventsv1.StateLive) {
				t.Errorf("ack %+v", a)
			}
			out = append(out, a.Code[9:]+"/"+a.UID+"/"+a.State+"/"+string(rune('0'+a.Generation)))
		}
		return strings.Join(out, " ")
	}
	for i, step := range []struct {
		name     string
		ev       eventsv1.Event
		wantAcks string
		universe string
	}{
		{"A registered", withVillageUID(t, tenantEvent(t, svcTown, villageA, "岩头村", 1), "ua"), "201/ua/live/1", "201"},
		{"B registered", withVillageUID(t, tenantEvent(t, svcTown, villageB, "溪口村", 1), "ub"), "201/ua/live/1 203/ub/live/1", "201 203"},
		{"A again", withVillageUID(t, tenantEvent(t, svcTown, villageA, "岩头村", 1), "ua"), "201/ua/live/1 203/ub/live/1", "201 203"},
		{"A archived", archivedTenantEvent(svcTown, villageA, "ua", 2), "201/ua/live/1 203/ub/live/1 201/ua/archived/2", "203"},
		{"A archived again", archivedTenantEvent(svcTown, villageA, "ua", 2), "201/ua/live/1 203/ub/live/1 201/ua/archived/2", "203"},
		{"A recreated", withVillageUID(t, tenantEvent(t, svcTown, villageA, "岩头村", 1), "ua2"), "201/ua/live/1 203/ub/live/1 201/ua/archived/2 201/ua2/live/1", "201 203"},
	} {
		if err := apply(s, s.HandleTenantEvent, step.ev); err != nil {
			t.Fatalf("step %d (%s): %v", i, step.name, err)
		}
		if got := acks(); got != step.wantAcks {
			t.Errorf("step %d (%s): acks %s, want %s", i, step.name, got, step.wantAcks)
		}
		rep, err := s.CoverageFor(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var universe []string
		for _, v := range rep.Uncovered {
			universe = append(universe, v[9:])
		}
		if got := strings.Join(universe, " "); got != step.universe || rep.Total != len(universe) {
			t.Errorf("step %d (%s): coverage universe %q (total %d), want %q", i, step.name, got, rep.Total, step.universe)
		}
	}
	if err := apply(s, s.HandleTenantEvent, archivedTenantEvent("jinping", villageB, "ub", 2)); err == nil {
		t.Error("another town's archival was applied")
	}
}
