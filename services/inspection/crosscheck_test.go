package inspection

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// paymentEvent is a payment as the disclosure service will announce it.
func paymentEvent(t *testing.T, village, paymentID, idNumber, date string) eventsv1.Event {
	t.Helper()
	data, err := json.Marshal(eventsv1.PaymentRecorded{PaymentID: paymentID, Village: village, Programme: "耕地地力保护补贴",
		PayeeNameMasked: "王*明", PayeeIDHash: personal.HashID(testHashKey, idNumber), AmountFen: 123456, Date: date})
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + svcTown + "/disclosure", Type: eventsv1.TypePaymentRecorded,
		Town: svcTown, Village: village, Data: data}
}

func handleDisclosure(t *testing.T, s *Service, ev eventsv1.Event) error {
	t.Helper()
	return store.InTx(context.Background(), s.Pool, func(tx pgx.Tx) error { return s.HandleDisclosureEvent(context.Background(), tx, ev) })
}

func TestCrossChecks(t *testing.T) {
	ts, s, u := integrityAPI(t)
	file := createFile(t, ts, u.disc, svcVillage)
	son := idNumber("33028320000101002")
	if r := call(t, ts, "POST", "/v1/integrity-files/"+file+"/relatives", u.disc, "", AddRelativeRequest{Name: "王小明", Relation: "子女", IDNumber: son}); r.status != 201 {
		t.Fatalf("relative: %d %s", r.status, r.raw)
	}
	dead := idNumber("33028319400202003")
	csv := "身份证号,姓名,死亡日期\n" + dead + ",李大爷,2026-01-15\n"
	cases := []struct {
		name, token, contentType, body string
		status                         int
	}{
		{"cadre imports", u.cadre, "text/csv", csv, 403},
		{"district imports", u.district, "text/csv", csv, 403},
		{"json body", u.disc, "application/json", `{}`, 415},
		{"no header", u.disc, "text/csv", dead + ",李大爷,2026-01-15\n", 400},
		{"bad row", u.disc, "text/csv", "idNumber,name,diedOn\n" + dead + ",李大爷,2026-13-15\n123,张三,2026-01-01\n", 422},
		{"discipline imports", u.disc, "text/csv", csv, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := call(t, ts, "POST", "/v1/deceased-persons/import", tc.token, tc.contentType, tc.body); r.status != tc.status {
				t.Fatalf("got %d %.300s, want %d", r.status, r.raw, tc.status)
			}
		})
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM deceased_persons`); n != 1 {
		t.Fatalf("%d deceased, want 1 (the failed import must add nothing)", n)
	}
	flags := func(kind string) int {
		return count(t, s.Pool, `SELECT count(*) FROM crosscheck_flags WHERE kind = $1`, kind)
	}
	stranger := idNumber("33028319800808004")
	payments := []struct {
		name               string
		ev                 eventsv1.Event
		relative, deceased int
		wantFactsAfter     int
		permanent          bool
	}{
		{"stranger", paymentEvent(t, svcVillage, "P1", stranger, "2026-03-01"), 0, 0, 2, false},
		{"cadre's son", paymentEvent(t, svcVillage, "P2", son, "2026-03-02"), 1, 0, 3, false},
		{"cadre's son again, another event id", paymentEvent(t, svcVillage, "P2", son, "2026-03-02"), 1, 0, 3, false},
		{"cadre's son in another village", paymentEvent(t, svcVillage2, "P3", son, "2026-03-03"), 1, 0, 3, false},
		{"paid before death", paymentEvent(t, svcVillage, "P4", dead, "2026-01-10"), 1, 0, 3, false},
		{"paid after death", paymentEvent(t, svcVillage, "P5", dead, "2026-03-05"), 1, 1, 4, false},
		{"bad hash", func() eventsv1.Event {
			ev := paymentEvent(t, svcVillage, "P6", stranger, "2026-03-05")
			ev.Data = []byte(strings.Replace(string(ev.Data), `"payeeIdHash":"`, `"payeeIdHash":"X`, 1))
			return ev
		}(), 1, 1, 4, true},
		{"village mismatch", func() eventsv1.Event {
			ev := paymentEvent(t, svcVillage, "P7", stranger, "2026-03-05")
			ev.Village = svcVillage2
			return ev
		}(), 1, 1, 4, true},
	}
	for _, p := range payments {
		err := handleDisclosure(t, s, p.ev)
		if (err != nil) != p.permanent {
			t.Fatalf("%s: error %v", p.name, err)
		}
		if r, d := flags(eventsv1.CrossCheckPayeeRelative), flags(eventsv1.CrossCheckPayeeDeceased); r != p.relative || d != p.deceased {
			t.Fatalf("%s: flags relative %d deceased %d, want %d %d", p.name, r, d, p.relative, p.deceased)
		}
		if n := count(t, s.Pool, `SELECT count(*) FROM facts`); n != p.wantFactsAfter {
			t.Fatalf("%s: %d facts, want %d (2 warnings + cross-checks)", p.name, n, p.wantFactsAfter)
		}
	}
	// Redelivering the same event changes nothing.
	if err := handleDisclosure(t, s, payments[1].ev); err != nil || flags(eventsv1.CrossCheckPayeeRelative) != 1 {
		t.Fatalf("redelivery: %v", err)
	}
	// The flags count in the village's rating and are announced.
	r, err := s.RatingOf(context.Background(), svcVillage, Period{Year: 2026})
	if err != nil || r.Points != 70-5-8 || r.Grade != GradeD {
		t.Fatalf("rating %d %s (%v), want 57 D", r.Points, r.Grade, err)
	}
	types, data := outbox(t, s.Pool)
	var flagged []eventsv1.CrossCheckFlagged
	for i, typ := range types {
		if typ == eventsv1.TypeCrossCheckFlagged {
			var f eventsv1.CrossCheckFlagged
			if err := json.Unmarshal(data[i], &f); err != nil {
				t.Fatal(err)
			}
			flagged = append(flagged, f)
		}
	}
	if len(flagged) != 2 || flagged[0].Kind != eventsv1.CrossCheckPayeeRelative || flagged[0].PaymentID != "P2" ||
		flagged[1].Kind != eventsv1.CrossCheckPayeeDeceased || flagged[1].PaymentID != "P5" {
		t.Fatalf("flag events %+v", flagged)
	}
	for _, d := range data {
		if strings.Contains(string(d), "王小明") || strings.Contains(string(d), son) || strings.Contains(string(d), "王建国") {
			t.Fatalf("an event names the cadre or the relative: %s", d)
		}
	}
	// A relative recorded after the payment: the stored payment is flagged.
	brother := idNumber("33028319720101005")
	if err := handleDisclosure(t, s, paymentEvent(t, svcVillage, "P8", brother, "2026-03-09")); err != nil {
		t.Fatal(err)
	}
	res := call(t, ts, "POST", "/v1/integrity-files/"+file+"/relatives", u.disc, "", AddRelativeRequest{Name: "王建军", Relation: "兄弟姐妹", IDNumber: brother})
	if res.status != 201 || res.body["flagged"].(float64) != 1 || flags(eventsv1.CrossCheckPayeeRelative) != 2 {
		t.Fatalf("late relative: %d %s", res.status, res.raw)
	}
	// A death recorded after the payment likewise.
	if res := call(t, ts, "POST", "/v1/deceased-persons", u.disc, "", DeceasedPerson{IDNumber: stranger, Name: "赵六", DiedOn: "2026-02-01"}); res.status != 201 || res.body["flagged"].(float64) != 1 {
		t.Fatalf("late death: %d %s", res.status, res.raw)
	}

	// Who reads the flags.
	for _, tc := range []struct {
		name, token string
		status      int
	}{{"discipline", u.disc, 200}, {"district", u.district, 200}, {"cadre", u.cadre, 403}, {"official", u.official, 403}, {"other town", u.otherDisc, 403}} {
		if r := call(t, ts, "GET", "/v1/crosscheck-flags?village="+svcVillage, tc.token, "", nil); r.status != tc.status {
			t.Errorf("%s reads flags: %d, want %d", tc.name, r.status, tc.status)
		}
	}
	l := call(t, ts, "GET", "/v1/crosscheck-flags?village="+svcVillage, u.disc, "", nil)
	if items := l.body["items"].([]any); len(items) != 4 {
		t.Fatalf("flags: %s", l.raw)
	}
	if !strings.Contains(l.raw, `"relation":"子女"`) || strings.Contains(l.raw, son) {
		t.Errorf("flag detail: %s", l.raw)
	}
	d := call(t, ts, "GET", "/v1/deceased-persons", u.disc, "", nil)
	if d.status != 200 || strings.Contains(d.raw, dead) || strings.Contains(d.raw, "李大爷") || !strings.Contains(d.raw, "李*爷") {
		t.Errorf("deceased list: %d %s", d.status, d.raw)
	}
}
