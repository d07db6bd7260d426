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
