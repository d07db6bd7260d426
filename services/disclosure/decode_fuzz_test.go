package disclosure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// checkDecodeRequest runs body through httpapi.DecodeJSON into a fresh
// request value, as the service's handlers do, and asserts what a handler
// relies on: a refusal is a 4xx problem document; an accepted body was one
// valid JSON value, every free-text field the type limits fits its limit,
// and the value reads back the same after the service writes it out again
// (decode → encode → decode encodes the same). It returns the value and
// whether it was accepted.
func checkDecodeRequest(t *testing.T, body []byte, fresh func() any) (any, bool) {
	t.Helper()
	decode := func(b []byte) (any, *httptest.ResponseRecorder, bool) {
		r := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(rec, r.Body, 1<<20)
		v := fresh()
		return v, rec, httpapi.DecodeJSON(rec, r, v)
	}
	v, rec, ok := decode(body)
	if !ok {
		if rec.Code < 400 || rec.Code >= 500 || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%T: refused %q with %d %s", v, body, rec.Code, rec.Header().Get("Content-Type"))
		}
		var p struct {
			Status int `json:"status"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code {
			t.Fatalf("%T: refusal of %q is not a problem document (%v): %s", v, body, err, rec.Body)
		}
		return v, false
	}
	if !json.Valid(body) {
		t.Fatalf("%T: accepted %q, which is not one JSON value", v, body)
	}
	if tl, isTL := v.(httpapi.TextLimited); isTL {
		if errs := httpapi.TooLong(tl.TextLimits()...); len(errs) > 0 {
			t.Fatalf("%T: accepted %q with fields over their limits: %v", v, body, errs)
		}
	}
	if p := unlimitedText(reflect.ValueOf(v), fmt.Sprintf("%T", v)); p != "" && limitedAtDecoding {
		t.Fatalf("accepted %s of more than %d characters: the field has no limit", p, httpapi.MaxReport)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%T: accepted %q but cannot encode it: %v", v, body, err)
	}
	w, rec, ok := decode(enc)
	if !ok {
		t.Fatalf("%T: accepted %q but not its own encoding %s: %d %s", v, body, enc, rec.Code, rec.Body)
	}
	if enc2, _ := json.Marshal(w); !bytes.Equal(enc, enc2) {
		t.Fatalf("%T: round trip of %q changed the value:\n%s\n%s", v, body, enc, enc2)
	}
	return v, true
}

// unlimitedText returns the path of a string in v longer than any limit
// the services set (httpapi.MaxReport characters): a request that carries
// one made events larger than Kafka takes (issue 12, defect 2).
func unlimitedText(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return unlimitedText(v.Elem(), path)
		}
	case reflect.String:
		if utf8.RuneCountInString(v.String()) > httpapi.MaxReport {
			return path
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				if p := unlimitedText(v.Field(i), path+"."+v.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if p := unlimitedText(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if p := unlimitedText(k, path+"{key}"); p != "" {
				return p
			}
			if p := unlimitedText(v.MapIndex(k), fmt.Sprintf("%s[%v]", path, k)); p != "" {
				return p
			}
		}
	}
	return ""
}

// longSeed is v with every string field (and one element of every string
// slice) longer than any limit, as JSON: a seed that shows a field without
// a limit.
func longSeed(v any) []byte {
	long := strings.Repeat("字", httpapi.MaxReport+1)
	var fill func(reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() && v.CanSet() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			if !v.IsNil() {
				fill(v.Elem())
			}
		case reflect.String:
			if v.CanSet() {
				v.SetString(long)
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(time.Time{}) {
				return
			}
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					fill(v.Field(i))
				}
			}
		case reflect.Slice:
			if v.CanSet() && v.Type().Elem().Kind() == reflect.String {
				v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), reflect.ValueOf(long).Convert(v.Type().Elem())))
			}
		}
	}
	p := reflect.New(reflect.TypeOf(v).Elem())
	fill(p.Elem())
	b, err := json.Marshal(p.Interface())
	if err != nil {
		panic(err)
	}
	return b
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
		f.Add(uint8(i), longSeed(fresh()))
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
		if p := unlimitedText(reflect.ValueOf(stored), fmt.Sprintf("%T", stored)); p != "" {
			t.Fatalf("the domain accepted %s of more than %d characters", p, httpapi.MaxReport)
		}
	})
}
