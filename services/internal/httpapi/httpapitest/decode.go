// Package httpapitest is what the services' tests of their HTTP APIs share,
// written once: a client (Client), a server behind the test Kratos
// (ServeAPI, APIBase), and the properties their fuzz targets check of the
// JSON request decoding (httpapi.DecodeJSON).
package httpapitest

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

// CheckDecodeRequest runs body through httpapi.DecodeJSON into a fresh
// request value, as the service's handlers do, and asserts what a handler
// relies on: a refusal is a 4xx problem document; an accepted body was one
// valid JSON value, every free-text field the type limits fits its limit,
// and the value reads back the same after the service writes it out again
// (decode → encode → decode encodes the same). It returns the value and
// whether it was accepted. limitedAtDecoding says whether the service
// bounds v's text at decoding (else its domain checks do, after).
func CheckDecodeRequest(t testing.TB, body []byte, fresh func() any, limitedAtDecoding func(any) bool) (any, bool) {
	t.Helper()
	decode := func(b []byte) (any, *httptest.ResponseRecorder, bool) {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/x", bytes.NewReader(b))
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
	if p := UnlimitedText(reflect.ValueOf(v), fmt.Sprintf("%T", v)); p != "" && limitedAtDecoding(v) {
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

// UnlimitedText returns the path of a string in v longer than any limit
// the services set (httpapi.MaxReport characters): a request that carries
// one made events larger than Kafka takes (issue 12, defect 2).
func UnlimitedText(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return UnlimitedText(v.Elem(), path)
		}
	case reflect.String:
		if utf8.RuneCountInString(v.String()) > httpapi.MaxReport {
			return path
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				if p := UnlimitedText(v.Field(i), path+"."+v.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if p := UnlimitedText(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if p := UnlimitedText(k, path+"{key}"); p != "" {
				return p
			}
			if p := UnlimitedText(v.MapIndex(k), fmt.Sprintf("%s[%v]", path, k)); p != "" {
				return p
			}
		}
	}
	return ""
}

// LongSeed is v with every string field (and one element of every string
// slice) longer than any limit, as JSON: a seed that shows a field without
// a limit.
func LongSeed(v any) []byte {
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
