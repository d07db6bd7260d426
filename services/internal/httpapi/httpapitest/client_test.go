package httpapitest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// TestClient: what the server receives for each kind of body, and what the
// test reads back.
func TestClient(t *testing.T) {
	type seen struct{ method, path, auth, contentType, extra, body string }
	var got seen
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get("X-Extra"), string(b)}
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/list", http.StatusFound)
		case "/list":
			_, _ = w.Write([]byte(`[{"a":1}]`))
		default:
			httpapi.WriteProblem(w, r, httpapi.NotFound("nothing"))
		}
	}))
	defer ts.Close()
	c := Client{URL: ts.URL}
	for _, tc := range []struct {
		name string
		call func() Response
		want seen
	}{
		{"JSON", func() Response { return c.JSON(t, "POST", "/x", "tok", map[string]int{"n": 1}) },
			seen{"POST", "/x", "Bearer tok", "application/json", "", `{"n":1}`}},
		{"JSON nil", func() Response { return c.JSON(t, "POST", "/x", "", nil) },
			seen{"POST", "/x", "", "application/json", "", "null"}},
		{"string as is", func() Response { return c.Call(t, "PUT", "/x", "", "text/plain", "hello") },
			seen{"PUT", "/x", "", "text/plain", "", "hello"}},
		{"value as JSON", func() Response { return c.Call(t, "PATCH", "/x", "", "", []int{1}) },
			seen{"PATCH", "/x", "", "application/json", "", "[1]"}},
		{"no body", func() Response { return c.Get(t, "/x", "") }, seen{"GET", "/x", "", "", "", ""}},
		{"headers", func() Response {
			return c.Do(t, Request{Method: "DELETE", Path: "/x", Header: http.Header{"X-Extra": {"1"}}})
		}, seen{"DELETE", "/x", "", "", "1", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.call()
			if got != tc.want {
				t.Errorf("server saw %+v, want %+v", got, tc.want)
			}
			if r.Status != 404 || r.ProblemType() != httpapi.TypeNotFound || r.ContentType() != "application/problem+json" || r.Body["detail"] != "nothing" {
				t.Errorf("response %d %s %s", r.Status, r.ContentType(), r.Raw)
			}
		})
	}
	if r := c.Get(t, "/moved", ""); r.Status != 200 || len(r.List) != 1 || r.List[0]["a"] != float64(1) {
		t.Errorf("followed redirect: %d %s", r.Status, r.Raw)
	}
	if r := (Client{URL: ts.URL, KeepRedirects: true}).Get(t, "/moved", ""); r.Status != http.StatusFound || r.Header.Get("Location") != "/list" {
		t.Errorf("kept redirect: %d %v", r.Status, r.Header)
	}
}
