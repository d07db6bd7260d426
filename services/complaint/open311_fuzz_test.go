package complaint

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzOpen311Form: o311Form reads a form or a JSON object within the body
// limit, never more (a larger body is an error); a JSON object's string
// and number members and its attribute object come through as form
// values, and the query only adds what the body did not say; an intake
// built from the values that checkIntake passes is within its limits.
func FuzzOpen311Form(f *testing.F) {
	for _, s := range []struct {
		ct    uint8
		body  string
		query string
		limit uint16
	}{
		{0, "service_code=funds&description=%E6%9D%91%E9%87%8C%E4%BF%AE%E8%B7%AF%E7%9A%84%E9%92%B1%E5%8E%BB%E5%90%91%E4%B8%8D%E6%98%8E&attribute%5Bvillage%5D=330283100201", "jurisdiction_id=xikou", 4096},
		{1, `{"service_code":"funds","description":"村里修路的钱去向不明，请核查。","attribute":{"village":"330283100201"},"lat":30.1}`, "jurisdiction_id=xikou&service_code=project", 4096},
		{1, `{"address_id":"330283100201","description":1e400}`, "", 4096},
		{1, `[1,2]`, "", 4096},
		{1, `{"description":"` + string(bytes.Repeat([]byte("x"), 300)) + `"}`, "", 64},
		{0, "a=%zz", "", 4096},
		{2, "--b\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nx\r\n--b--\r\n", "", 4096},
		{3, "description=x", "description=y", 4096},
		// Both spellings of the village: which one counted depended on the
		// order of a map's iteration.
		{1, `{"attribute[village]":"330283100201","attribute":{"village":"330283100202"},"description":"村里修路的钱去向不明，请核查。","service_code":"funds"}`, "", 4096},
	} {
		f.Add(s.ct, []byte(s.body), s.query, s.limit)
	}
	cts := []string{"application/x-www-form-urlencoded", "application/json; charset=utf-8", "multipart/form-data; boundary=b", "text/plain"}
	f.Fuzz(func(t *testing.T, ct uint8, body []byte, query string, limit uint16) {
		r := httptest.NewRequest(http.MethodPost, "/open311/v2/requests.json", bytes.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", cts[int(ct)%len(cts)])
		rec := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(rec, r.Body, int64(limit))
		form, err := o311Form(r)
		if err != nil {
			return
		}
		if ct%4 <= 1 && len(body) > int(limit) {
			t.Fatalf("read a %s body of %d bytes over the limit of %d", cts[int(ct)%len(cts)], len(body), limit)
		}
		if ct%4 == 1 {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("accepted %q, not a JSON object: %v", body, err)
			}
			for k, x := range m {
				switch x := x.(type) {
				case string:
					if form.Get(k) != x && countKey(body, k) == 1 {
						t.Fatalf("member %q is %q, form value %q", k, x, form.Get(k))
					}
				case float64:
					if got, err := strconv.ParseFloat(form.Get(k), 64); err != nil || got != x {
						t.Fatalf("number %q is %v, form value %q", k, x, form.Get(k))
					}
				}
			}
			q, _ := url.ParseQuery(query)
			for k := range q {
				if _, inBody := m[k]; !inBody && form.Get(k) != q.Get(k) && !hasAttr(m, k) {
					t.Fatalf("query %q = %q lost: %q", k, q.Get(k), form.Get(k))
				}
			}
		}
		village := form.Get("attribute[village]")
		if village == "" {
			village = form.Get("address_id")
		}
		in := Intake{Village: village, Category: Category(form.Get("service_code")), Description: form.Get("description")}
		if errs := checkIntake(in); len(errs) == 0 {
			if utf8.RuneCountInString(in.Description) > IntakeMaxDescriptionRunes || !in.Category.Valid() || len(in.Village) != 12 {
				t.Fatalf("checkIntake accepted %+v", in)
			}
		}
	})
}

// countKey: how often a member name occurs in the body's text, roughly (a
// repeated member, or one spelled with escapes, may decode to another value
// than the last one seen by a map).
func countKey(body []byte, k string) int {
	q, _ := json.Marshal(k)
	return bytes.Count(body, q)
}

// hasAttr: the body's objects become k[member] values, which the query
// cannot override either.
func hasAttr(m map[string]any, k string) bool {
	for name, x := range m {
		if obj, ok := x.(map[string]any); ok {
			for ak := range obj {
				if name+"["+ak+"]" == k {
					return true
				}
			}
		}
	}
	return false
}
