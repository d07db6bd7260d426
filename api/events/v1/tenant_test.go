package eventsv1

import (
	"testing"
	"time"
)

func TestVillageRegisteredIsAValidEvent(t *testing.T) {
	e := Event{ID: "1", Source: "/towns/xikou/operator", Type: TypeVillageRegistered, Time: time.Now(),
		Town: "xikou", Village: "330213100201", Data: []byte(`{"code":"330213100201"}`)}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := Topic("xikou", StreamTenant); got != "wuxiao.xikou.tenant" {
		t.Errorf("tenant topic %q", got)
	}
}

func TestVillageAckIsDeterministicAndValid(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		service     string
		gen         int64
		state       string
		wantSameAs0 bool
		wantLive    bool
	}{
		{"first", "complaint", 2, StateLive, true, true},
		{"same again, later", "complaint", 2, StateLive, true, true},
		{"other generation", "complaint", 3, StateLive, false, true},
		{"other service", "workflow", 2, StateLive, false, true},
		{"archived", "complaint", 2, StateArchived, false, false},
	}
	first, err := NewVillageAck("complaint", "xikou", "330213100201", "uid-1", 2, StateLive, at)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := NewVillageAck(tt.service, "xikou", "330213100201", "uid-1", tt.gen, tt.state, at.Add(time.Duration(i)*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if (ev.ID == first.ID) != tt.wantSameAs0 {
				t.Errorf("id %s vs first %s: same=%v, want %v", ev.ID, first.ID, ev.ID == first.ID, tt.wantSameAs0)
			}
			var a VillageAcknowledged
			if err := ev.Decode(&a); err != nil {
				t.Fatal(err)
			}
			if a.Live != tt.wantLive || a.Service != tt.service || a.Generation != tt.gen || a.UID != "uid-1" || ev.Type != TypeVillageAcknowledged || ev.Village != "330213100201" {
				t.Errorf("ack %+v event %+v", a, ev)
			}
		})
	}
	if _, err := NewVillageAck("complaint", "xikou", "33021310", "", 1, StateLive, at); err == nil {
		t.Error("an ack of a malformed village code was accepted")
	}
	if got := Topic("xikou", StreamTenantAcks); got != "wuxiao.xikou.tenant-acks" {
		t.Errorf("acks topic %q", got)
	}
}
