package complaint

import (
	"errors"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

const (
	testTown    = "xikou"
	testVillage = "330213100201"
	otherVill   = "330213100202"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai)

func wantRefusal(t *testing.T, err error, status int) {
	t.Helper()
	var e *domainerr.Error
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("got %v, want a %d refusal", err, status)
	}
}

func sample(cat Category) *Complaint {
	c, err := New(testTown, Intake{Village: testVillage, Category: cat, Description: "村里修路的钱去向不明"},
		&Reporter{ID: "villager-1", Name: "张三"}, t0)
	if err != nil {
		panic(err)
	}
	c.ID, c.TrackingCode = "c1", NewTrackingCode(testVillage)
	return c
}

var (
	liaison    = Actor{ID: "lo", Role: RoleLiaisonOfficer, Town: testTown, Village: testVillage}
	discipline = Actor{ID: "td", Role: RoleTownDiscipline, Town: testTown}
	reporter   = Actor{Role: RoleReporter}
	secretary  = Actor{ID: "sec", Role: RoleSecretary, Town: testTown, Village: testVillage}
)
