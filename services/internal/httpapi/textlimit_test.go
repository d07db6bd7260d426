package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTooLong(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits []TextLimit
		want   []FieldError
	}{
		{"within", []TextLimit{Limit("title", "修路", 2), Limit("note", "", 0)}, nil},
		{"characters, not bytes", []TextLimit{Limit("title", strings.Repeat("村", 200), 200)}, nil},
		{"one over", []TextLimit{Limit("title", "ok", 5), Limit("comment", strings.Repeat("<", 201), 200)},
			[]FieldError{{Field: "comment", Detail: "at most 200 characters (got 201)"}}},
		{"two over", []TextLimit{Limit("a", "abc", 2), Limit("b", "村村村", 1)},
			[]FieldError{{Field: "a", Detail: "at most 2 characters (got 3)"}, {Field: "b", Detail: "at most 1 characters (got 3)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TooLong(tc.limits...)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %+v, want %+v", got[i], tc.want[i])
				}
			}
		})
	}
	p := ValidationFailed(TooLong(Limit("title", strings.Repeat("x", 300), 200))...)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Detail, "title") || !strings.Contains(p.Detail, "200") {
		t.Errorf("problem %+v", p)
	}
}

type limitedReq struct {
	Title string `json:"title"`
}

func (q limitedReq) TextLimits() []TextLimit { return []TextLimit{Limit("title", q.Title, 10)} }

// DecodeJSON enforces a TextLimited request's limits with a 422 that names
// the field and the limit.
func TestDecodeJSONTextLimits(t *testing.T) {
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"title":"短标题"}`, http.StatusOK},
		{`{"title":"` + strings.Repeat("<", 11) + `"}`, http.StatusUnprocessableEntity},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		var q limitedReq
		ok := DecodeJSON(w, r, &q)
		if ok != (tc.status == http.StatusOK) || (!ok && w.Code != tc.status) {
			t.Errorf("%s: ok %v status %d, want %d", tc.body, ok, w.Code, tc.status)
		}
		if !ok && (!strings.Contains(w.Body.String(), `"field":"title"`) || !strings.Contains(w.Body.String(), "at most 10 characters")) {
			t.Errorf("%s: problem %s", tc.body, w.Body)
		}
	}
}
