package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fuzzRequest exercises every kind of field DecodeJSON meets in the
// services' request types, and names its text limits.
type fuzzRequest struct {
	Title   string            `json:"title"`
	Count   int               `json:"count"`
	Small   int8              `json:"small"`
	Amount  float64           `json:"amount"`
	Flag    *bool             `json:"flag,omitempty"`
	Tags    []string          `json:"tags"`
	Attrs   map[string]string `json:"attrs"`
	At      time.Time         `json:"at"`
	Nested  *fuzzNested       `json:"nested,omitempty"`
	Payload json.RawMessage   `json:"payload,omitempty"`
}

type fuzzNested struct {
	Code string `json:"code"`
	N    uint16 `json:"n"`
}

const fuzzTitleMax = 20

func (r *fuzzRequest) TextLimits() []TextLimit {
	return []TextLimit{Limit("title", r.Title, fuzzTitleMax)}
}

// FuzzDecodeJSON: DecodeJSON either accepts a body, and then it was one
// valid JSON value within the body limit whose decoding is a fixpoint
// (decode → encode → decode encodes the same) and whose text fits its
// limits, or it refuses it with a 4xx problem document that is valid JSON;
// never a panic, never a 5xx.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []struct {
		ct, body string
		limit    uint16
	}{
		{"application/json", `{"title":"立项","count":3,"tags":["a"],"attrs":{"k":"v"},"at":"2026-03-02T10:00:00+08:00"}`, 4096},
		{"application/merge-patch+json; charset=utf-8", `{"nested":{"code":"x","n":7},"payload":{"a":[1,2]}}`, 4096},
		{"application/json", `{"title":"这是一个超过二十个字符的很长很长很长的标题啊啊啊"}`, 4096},
		{"application/json", `{"count":"3"}`, 4096},
		{"application/json", `{"unknown":1}`, 4096},
		{"application/json", `{} {}`, 4096},
		{"application/json", `{"title":"x"}          `, 16},
		{"text/plain", `{}`, 4096},
		{"application/json", `{"small":300}`, 4096},
		{"application/json", `{"title":"a\ud800b","Title":"dup"}`, 4096},
		{"application/json", `[`, 4096},
		{"application/json", ``, 4096},
	} {
		f.Add(s.ct, []byte(s.body), s.limit)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte, limit uint16) {
		req := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		req.Body = http.MaxBytesReader(rec, req.Body, int64(limit))
		var v fuzzRequest
		ok := DecodeJSON(rec, req, &v)
		if !ok {
			checkProblem(t, rec, body)
			return
		}
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Fatalf("accepted %q but wrote %d %q", body, rec.Code, rec.Body)
		}
		if len(body) > int(limit) {
			t.Fatalf("accepted a body of %d bytes over the limit of %d", len(body), limit)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not one JSON value: %q", body)
		}
		if errs := TooLong(v.TextLimits()...); len(errs) > 0 {
			t.Fatalf("accepted %q with a field over its limit: %v", body, errs)
		}
		roundTrip(t, body, &v, func() any { return new(fuzzRequest) })
	})
}

// checkProblem asserts a refusal is a client error written as a problem
// document.
func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, body []byte) {
	t.Helper()
	if rec.Code < 400 || rec.Code >= 500 {
		t.Fatalf("refused %q with status %d, not a client error", body, rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("refused %q with Content-Type %q", body, ct)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("refused %q with a problem that is not JSON (%v): %q", body, err, rec.Body)
	}
	if st, _ := p["status"].(float64); int(st) != rec.Code {
		t.Fatalf("problem status %v, response status %d", p["status"], rec.Code)
	}
}

// roundTrip encodes v, decodes that with DecodeJSON into a fresh value, and
// requires the same encoding: what a handler accepted it reads the same way
// when the service writes it back (into an event, a row, a response).
func roundTrip(t *testing.T, body []byte, v any, fresh func() any) {
	t.Helper()
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("accepted %q but cannot encode the result: %v", body, err)
	}
	req := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(enc))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	w := fresh()
	if !DecodeJSON(rec, req, w) {
		t.Fatalf("accepted %q, but not its own encoding %s: %d %s", body, enc, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	enc2, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("round trip of %q changed the value:\n%s\n%s", body, enc, enc2)
	}
	if reflect.TypeOf(v) != reflect.TypeOf(w) {
		t.Fatalf("fresh value of another type: %T, %T", v, w)
	}
}
