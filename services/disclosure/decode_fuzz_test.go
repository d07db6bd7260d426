package disclosure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
)

// checkDecodeRequest: httpapitest.CheckDecodeRequest with this service's
// limitedAtDecoding.
func checkDecodeRequest(t *testing.T, body []byte, fresh func() any) (any, bool) {
	t.Helper()
	return httpapitest.CheckDecodeRequest(t, body, fresh, func(any) bool { return limitedAtDecoding })
}

// limitedAtDecoding: disclosure's request types are bounded by the domain
// (Append, Reverse, NewPayment), not by DecodeJSON.
const limitedAtDecoding = false

var disclosureRequests = []func() any{
	func() any { return new(EntryInput) },
	func() any { return new(reverseRequest) },
	func() any { return new(PaymentRequest) },
}

// FuzzDecodeRequests: see checkDecodeRequest, applied after the domain's
// own checks (Append, Reverse, NewPayment), which the handlers run before
// anything is stored; a payment never keeps the ID number it was given.
func FuzzDecodeRequests(f *testing.F) {
	for i, fresh := range disclosureRequests {
		f.Add(uint8(i), httpapitest.LongSeed(fresh()))
	}
	for _, s := range []string{
		`{"village":"330283100201","kind":"spending","category":"management","amountFen":12000,"date":"2026-03-02","description":"修路","counterparty":"张小明"}`,
		`{"reason":"录入错误"}`,
		`{"village":"330283100201","programme":"低保","householdName":"王五","idNumber":"330283199001011238","amountFen":50000,"paidOn":"2026-03-01"}`,
		`{"amountFen":-1}`, `{"date":"2026-02-30"}`, `{"kind":"income","amountFen":9223372036854775807}`,
	} {
		for i := range disclosureRequests {
			f.Add(uint8(i), []byte(s))
		}
	}
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		fresh := disclosureRequests[int(kind)%len(disclosureRequests)]
		// The domain's checks decide what is stored: fuzz them on what
		// DecodeJSON accepted, then hold the result to the limits.
		v, ok := checkDecodeRequest(t, body, fresh)
		if !ok {
			return
		}
		var stored any
		switch in := v.(type) {
		case *EntryInput:
			e, err := Append(nil, Entry{ID: "e1", Village: in.Village, Kind: in.Kind, Category: in.Category, AmountFen: in.AmountFen,
				Date: in.Date, Description: strings.TrimSpace(in.Description), Counterparty: MaskCounterparty(strings.TrimSpace(in.Counterparty)),
				InstanceID: in.InstanceID, TrackingNumber: in.TrackingNumber, RecordedBy: "u1", RecordedAt: now})
			if err != nil {
				return
			}
			stored = e
		case *reverseRequest:
			orig := Entry{ID: "e1", Village: "330283100201", Seq: 1, Kind: KindIncome, Category: CategoryOperatingIncome,
				AmountFen: 100, Date: "2026-03-01", Description: "x", RecordedBy: "u1", RecordedAt: now}
			r, err := Reverse(orig, in.Reason, "u1", now)
			if err != nil {
				return
			}
			stored = r
		case *PaymentRequest:
			p, err := NewPayment([]byte("0123456789abcdef0123456789abcdef"), PaymentInput{ID: "p1", Village: in.Village, Programme: in.Programme,
				HouseholdName: in.HouseholdName, IDNumber: in.IDNumber, AmountFen: in.AmountFen, PaidOn: in.PaidOn, RecordedBy: "u1", RecordedAt: now})
			if err != nil {
				return
			}
			if raw, _ := json.Marshal(p); len(in.IDNumber) >= 15 && bytes.Contains(raw, []byte(in.IDNumber)) {
				t.Fatalf("the stored payment keeps the ID number %q: %s", in.IDNumber, raw)
			}
			stored = p
		}
		if p := httpapitest.UnlimitedText(reflect.ValueOf(stored), fmt.Sprintf("%T", stored)); p != "" {
			t.Fatalf("the domain accepted %s of more than %d characters", p, httpapi.MaxReport)
		}
	})
}
