package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

const (
	town = "xikou"
	code = "330283101201"
)

var at = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func event(typ, envTown, envVillage string, data any) eventsv1.Event {
	var b []byte
	if raw, ok := data.(string); ok {
		b = []byte(raw)
	} else {
		b, _ = json.Marshal(data)
	}
	return eventsv1.Event{ID: "ev-1", Source: "/towns/" + envTown + "/operator", Type: typ, Subject: envVillage,
		Time: at, Town: envTown, Village: envVillage, Data: b}
}

func reg(mod func(*eventsv1.VillageRegistered)) eventsv1.VillageRegistered {
	v := eventsv1.VillageRegistered{Code: code, Name: " 岩头村 ", Kind: "village", Town: town,
		Roles: []string{"secretary"}, PortalURL: "https://x/v", Generation: 3, UID: "u1"}
	if mod != nil {
		mod(&v)
	}
	return v
}

func arch(mod func(*eventsv1.VillageArchived)) eventsv1.VillageArchived {
	v := eventsv1.VillageArchived{Code: code, Name: "岩头村", Town: town, UID: "u1", Generation: 4}
	if mod != nil {
		mod(&v)
	}
	return v
}

// isPermanent tells a dead-lettering error from a retried one.
func isPermanent(err error) bool {
	return strings.HasPrefix(fmt.Sprintf("%T", err), "events.permanentError")
}

func TestDecode(t *testing.T) {
	long := strings.Repeat("村", MaxVillageName+1)
	max := strings.Repeat("村", MaxVillageName)
	R, A := eventsv1.TypeVillageRegistered, eventsv1.TypeVillageArchived
	tests := []struct {
		name string
		ev   eventsv1.Event
		town string
		want Village // compared when wantErr is empty
		// wantErr is a fragment of the Permanent error expected.
		wantErr string
	}{
		{name: "registration, name trimmed", ev: event(R, town, code, reg(nil)), town: town,
			want: Village{Op: Register, Town: town, Code: code, Name: "岩头村", Kind: "village", Roles: []string{"secretary"},
				PortalURL: "https://x/v", UID: "u1", Generation: 3, At: at}},
		{name: "registration without envelope village", ev: event(R, town, "", reg(nil)), town: town,
			want: Village{Op: Register, Town: town, Code: code, Name: "岩头村", Kind: "village", Roles: []string{"secretary"},
				PortalURL: "https://x/v", UID: "u1", Generation: 3, At: at}},
		{name: "name of the maximum length", ev: event(R, town, code, reg(func(v *eventsv1.VillageRegistered) { v.Name = max })), town: town,
			want: Village{Op: Register, Town: town, Code: code, Name: max, Kind: "village", Roles: []string{"secretary"},
				PortalURL: "https://x/v", UID: "u1", Generation: 3, At: at}},
		{name: "any town when the service has none", ev: event(R, "other", code, reg(func(v *eventsv1.VillageRegistered) { v.Town = "other" })),
			want: Village{Op: Register, Town: "other", Code: code, Name: "岩头村", Kind: "village", Roles: []string{"secretary"},
				PortalURL: "https://x/v", UID: "u1", Generation: 3, At: at}},
		{name: "registration with thresholds", ev: event(R, town, code, reg(func(v *eventsv1.VillageRegistered) {
			v.Thresholds = &eventsv1.VillageThresholds{RepresentativesResolutionAboveYuan: 30000, TownApprovalAboveYuan: 100000}
		})), town: town,
			want: Village{Op: Register, Town: town, Code: code, Name: "岩头村", Kind: "village", Roles: []string{"secretary"},
				PortalURL: "https://x/v", UID: "u1", Generation: 3, At: at,
				Thresholds: &eventsv1.VillageThresholds{RepresentativesResolutionAboveYuan: 30000, TownApprovalAboveYuan: 100000}}},
		{name: "archival", ev: event(A, town, code, arch(nil)), town: town,
			want: Village{Op: Archive, Town: town, Code: code, Name: "岩头村", UID: "u1", Generation: 4, At: at}},
		{name: "archival with an unusable name is applied without it", ev: event(A, town, code, arch(func(v *eventsv1.VillageArchived) { v.Name = long })), town: town,
			want: Village{Op: Archive, Town: town, Code: code, UID: "u1", Generation: 4, At: at}},
		{name: "archival without name or uid", ev: event(A, town, code, arch(func(v *eventsv1.VillageArchived) { v.Name, v.UID = "  ", "" })), town: town,
			want: Village{Op: Archive, Town: town, Code: code, Generation: 4, At: at}},
		{name: "other type is skipped", ev: event(eventsv1.TypeVillageAcknowledged, "other", "bad", "not json"), town: town,
			want: Village{Op: Skip}},

		{name: "envelope of another town", ev: event(R, "other", code, reg(nil)), town: town, wantErr: `about town "other"/"xikou"`},
		{name: "data of another town", ev: event(R, town, code, reg(func(v *eventsv1.VillageRegistered) { v.Town = "other" })), town: town, wantErr: `not "xikou"`},
		{name: "archival of another town", ev: event(A, town, code, arch(func(v *eventsv1.VillageArchived) { v.Town = "other" })), town: town, wantErr: `not "xikou"`},
		{name: "code not 12 digits", ev: event(R, town, "", reg(func(v *eventsv1.VillageRegistered) { v.Code = "33028310120" })), town: town, wantErr: "12-digit"},
		{name: "code differs from the envelope's", ev: event(R, town, "330283101202", reg(nil)), town: town, wantErr: "12-digit"},
		{name: "archival code differs from the envelope's", ev: event(A, town, "330283101202", arch(nil)), town: town, wantErr: "12-digit"},
		{name: "generation zero", ev: event(R, town, code, reg(func(v *eventsv1.VillageRegistered) { v.Generation = 0 })), town: town, wantErr: "not positive"},
		{name: "archival generation negative", ev: event(A, town, code, arch(func(v *eventsv1.VillageArchived) { v.Generation = -1 })), town: town, wantErr: "not positive"},
		{name: "registration without a name", ev: event(R, town, code, reg(func(v *eventsv1.VillageRegistered) { v.Name = " \t" })), town: town, wantErr: "empty or longer"},
		{name: "registration name too long", ev: event(R, town, code, reg(func(v *eventsv1.VillageRegistered) { v.Name = long })), town: town, wantErr: "empty or longer"},
		{name: "negative threshold", ev: event(R, town, code, reg(func(v *eventsv1.VillageRegistered) {
			v.Thresholds = &eventsv1.VillageThresholds{RepresentativesResolutionAboveYuan: -1, TownApprovalAboveYuan: 100000}
		})), town: town, wantErr: "negative thresholds"},
		{name: "malformed registration", ev: event(R, town, code, `{"code": 1}`), town: town, wantErr: "cannot unmarshal"},
		{name: "malformed archival", ev: event(A, town, code, `[`), town: town, wantErr: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.ev, tt.town)
			if tt.wantErr != "" || strings.HasPrefix(tt.name, "malformed") {
				if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode = %+v, %v (%T); want a Permanent error with %q", got, err, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tt.want)
			if string(g) != string(w) {
				t.Fatalf("Decode =\n %s\nwant\n %s", g, w)
			}
		})
	}
}

func TestNewer(t *testing.T) {
	tests := []struct {
		name                    string
		storedGen               int64
		storedUID, uid          string
		gen                     int64
		wantApply, wantRecreate bool
	}{
		{"first registration", 0, "", "u1", 1, true, false},
		{"later generation", 3, "u1", "u1", 4, true, false},
		{"replay", 3, "u1", "u1", 3, false, false},
		{"older generation", 3, "u1", "u1", 2, false, false},
		{"recreated village, lower generation", 7, "u1", "u2", 1, true, true},
		{"event without uid is judged by generation", 3, "u1", "", 3, false, false},
		{"row without uid is judged by generation", 3, "", "u2", 4, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Village{Op: Register, Code: code, UID: tt.uid, Generation: tt.gen}
			apply, recreated := v.Newer(tt.storedGen, tt.storedUID)
			if apply != tt.wantApply || recreated != tt.wantRecreate {
				t.Fatalf("Newer = %v, %v; want %v, %v", apply, recreated, tt.wantApply, tt.wantRecreate)
			}
		})
	}
}

// TestGuardsAndAck runs the SQL guards and Ack against PostgreSQL: a
// sequence of registrations and archivals is applied or skipped as the
// guards say, and each applied one is acknowledged once, in the same
// transaction.
func TestGuardsAndAck(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testinfra.Postgres(t), "tenant")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE villages (code text PRIMARY KEY, generation bigint NOT NULL,
		uid text NOT NULL DEFAULT '', archived_generation bigint)`); err != nil {
		t.Fatal(err)
	}
	apply := func(v Village) (bool, error) {
		var applied bool
		err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
			var live bool
			var err error
			if v.Op == Register {
				err = tx.QueryRow(ctx, `INSERT INTO villages (code, generation, uid) VALUES ($1, $2, $3)
					ON CONFLICT (code) DO UPDATE SET generation = EXCLUDED.generation, uid = EXCLUDED.uid,
						archived_generation = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_generation END
					WHERE `+RegisterGuard+` RETURNING archived_generation IS NULL`, v.Code, v.Generation, v.UID).Scan(&live)
			} else {
				err = tx.QueryRow(ctx, `INSERT INTO villages (code, generation, uid, archived_generation) VALUES ($1, $2, $3, $2)
					ON CONFLICT (code) DO UPDATE SET archived_generation = EXCLUDED.archived_generation
					WHERE `+ArchiveGuard+` RETURNING false`, v.Code, v.Generation, v.UID).Scan(&live)
			}
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			applied = true
			return Ack(ctx, tx, "workflow", v, State(live), at)
		})
		return applied, err
	}
	v := func(op Op, uid string, gen int64) Village {
		return Village{Op: op, Town: town, Code: code, UID: uid, Generation: gen, At: at}
	}
	steps := []struct {
		name    string
		v       Village
		applied bool
		ack     string // generation/uid/state acknowledged
	}{
		{"first registration", v(Register, "u1", 2), true, "2/u1/live"},
		{"replay", v(Register, "u1", 2), false, ""},
		{"older generation", v(Register, "u1", 1), false, ""},
		{"later generation", v(Register, "u1", 3), true, "3/u1/live"},
		{"archival", v(Archive, "u1", 3), true, "3/u1/archived"},
		{"archival replayed", v(Archive, "u1", 3), false, ""},
		{"registration of the archived generation", v(Register, "u1", 3), false, ""},
		{"later registration of the archived village stays archived", v(Register, "u1", 4), true, "4/u1/archived"},
		{"archival of another uid", v(Archive, "u0", 9), false, ""},
		{"recreated village at a lower generation is live", v(Register, "u2", 1), true, "1/u2/live"},
	}
	var want []string
	for _, step := range steps {
		applied, err := apply(step.v)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if applied != step.applied {
			t.Fatalf("%s: applied = %v, want %v", step.name, applied, step.applied)
		}
		if step.ack != "" {
			want = append(want, step.ack)
		}
	}
	// The ack's id is derived from the village generation and state, not
	// the time: acking one again is refused by the outbox, never sent twice.
	if err := store.InTx(ctx, pool, func(tx pgx.Tx) error {
		return Ack(ctx, tx, "workflow", v(Register, "u2", 1), eventsv1.StateLive, at.Add(time.Hour))
	}); err == nil || !strings.Contains(err.Error(), "already in the outbox") {
		t.Fatalf("second ack of 1/u2/live: %v, want already in the outbox", err)
	}
	rows, err := pool.Query(ctx, `SELECT payload FROM outbox WHERE topic = $1 ORDER BY seq`, eventsv1.Topic(town, eventsv1.StreamTenantAcks))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var b []byte
		var a eventsv1.VillageAcknowledged
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		if a.Service != "workflow" || a.Town != town || a.Code != code || a.Live != (a.State == eventsv1.StateLive) {
			t.Fatalf("ack %+v", a)
		}
		got = append(got, fmt.Sprintf("%d/%s/%s", a.Generation, a.UID, a.State))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("acks = %v, want %v", got, want)
	}
}
