package tenant

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// FuzzDecode: a tenant event is applied only when its envelope and its data
// both name the service's town, its code is one 12-digit code agreeing with
// the envelope's village, its generation is positive and a registration has
// a usable name; anything else is a Permanent error (dead-lettered, never
// retried) or, for other types, skipped.
func FuzzDecode(f *testing.F) {
	reg := `{"code":"330283100201","name":"岩头村","kind":"village","town":"xikou","roles":["secretary"],"generation":3,"uid":"u1"}`
	arch := `{"code":"330283100201","name":"岩头村","town":"xikou","uid":"u1","generation":4}`
	f.Add(uint8(0), "xikou", "330283100201", "xikou", []byte(reg))
	f.Add(uint8(1), "xikou", "", "xikou", []byte(arch))
	f.Add(uint8(0), "xikou", "330283100201", "dongwu", []byte(reg))
	f.Add(uint8(0), "dongwu", "330283100201", "xikou", []byte(strings.Replace(reg, `"xikou"`, `"dongwu"`, 1)))
	f.Add(uint8(0), "xikou", "330283100202", "", []byte(reg))
	f.Add(uint8(0), "xikou", "", "xikou", []byte(`{"code":"330283100201","name":"  ","town":"xikou","generation":1}`))
	f.Add(uint8(1), "xikou", "", "xikou", []byte(`{"code":"33028310020１","town":"xikou","generation":-1}`))
	f.Add(uint8(2), "xikou", "", "xikou", []byte(`{}`))
	f.Add(uint8(0), "xikou", "", "xikou", []byte(`{"code":"330283100201","name":"\xff","town":"xikou","generation":1}`))
	types := []string{eventsv1.TypeVillageRegistered, eventsv1.TypeVillageArchived, eventsv1.TypeVillageAcknowledged, "cn.wuxiao.workflow.process.started.v1"}
	f.Fuzz(func(t *testing.T, typ uint8, envTown, envVillage, town string, data []byte) {
		ev := eventsv1.Event{ID: "e", Source: "/operator", Type: types[int(typ)%len(types)], Time: time.Unix(1772409600, 0),
			Town: envTown, Village: envVillage, Data: data}
		v, err := Decode(ev, town)
		if err != nil {
			// events has no exported test for Permanent: its type is the mark.
			if fmt.Sprintf("%T", err) != fmt.Sprintf("%T", events.Permanent(errors.New(""))) {
				t.Fatalf("error is not Permanent (%T): %v", err, err)
			}
			if v.Op != Skip || v.Code != "" {
				t.Fatalf("error %v with a village %+v", err, v)
			}
			return
		}
		switch ev.Type {
		case eventsv1.TypeVillageRegistered, eventsv1.TypeVillageArchived:
		default:
			if v.Op != Skip {
				t.Fatalf("type %s decoded to op %d", ev.Type, v.Op)
			}
			return
		}
		var d struct {
			Town string `json:"town"`
		}
		if err := ev.Decode(&d); err != nil {
			t.Fatalf("applied an event whose data does not decode: %v", err)
		}
		if town != "" && (ev.Town != town || d.Town != town) {
			t.Fatalf("service of town %q applies an event about %q/%q", town, ev.Town, d.Town)
		}
		if v.Town != ev.Town {
			t.Fatalf("acks would go to town %q, the envelope says %q", v.Town, ev.Town)
		}
		if len(v.Code) != 12 || strings.Trim(v.Code, "0123456789") != "" {
			t.Fatalf("code %q is not 12 digits", v.Code)
		}
		if ev.Village != "" && ev.Village != v.Code {
			t.Fatalf("envelope village %q, data code %q", ev.Village, v.Code)
		}
		if v.Generation <= 0 {
			t.Fatalf("generation %d", v.Generation)
		}
		if v.Name != "" && (!utf8.ValidString(v.Name) || utf8.RuneCountInString(v.Name) > MaxVillageName || strings.TrimSpace(v.Name) != v.Name) {
			t.Fatalf("unusable name %q kept", v.Name)
		}
		if v.Op == Register && v.Name == "" {
			t.Fatal("registration without a name")
		}
		if (ev.Type == eventsv1.TypeVillageRegistered) != (v.Op == Register) {
			t.Fatalf("type %s decoded to op %d", ev.Type, v.Op)
		}
	})
}
