package ratingrules

import (
	"encoding/json"
	"testing"
)

// FuzzLoadRules: rules a town configures either load and validate, or are
// refused with an error; loaded rules survive a round trip through JSON.
// What rating does with loaded rules is fuzzed by the inspection service's
// FuzzRate.
func FuzzLoadRules(f *testing.F) {
	for _, s := range []string{
		``,
		`{}`,
		"start: 100\nperiod: quarter\ngrades: {a: 95, b: 85, c: 60}\n",
		`{"kinds":{"warning":{"label":"违规预警","subkinds":{"deadline":{"label":"超期","points":-2,"cap":4}}}}}`,
		`{"kinds":{"custom":{"label":"表扬","points":3,"cap":5}}}`,
		`{"kinds":{"x":{"label":"x","points":-9223372036854775808}}}`,
		`{"kinds":{"x":{"label":"x","subkinds":{"a":{"label":"a","points":9223372036854775807},"b":{"label":"b","points":1}}}}}`,
		`{"start":9223372036854775807,"grades":{"a":9223372036854775807}}`,
		`{"kinds":{"":{"label":""}}}`,
		"kinds:\n  finding:\n    label: 巡察\n    cap: -1\n",
		`{"start":100,"unknown":1}`,
		"a: &a [*a, *a]\n",
		`{"kinds":{"a":{"label":"a","points":-9223372036854775807}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		r, err := Load(doc)
		if err != nil {
			return
		}
		if verr := r.Validate(); verr != nil {
			t.Fatalf("loaded rules that do not validate: %v", verr)
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Load(enc)
		if err != nil {
			t.Fatalf("loaded rules do not load again from %s: %v", enc, err)
		}
		if enc2, _ := json.Marshal(r2); string(enc2) != string(enc) {
			t.Fatalf("round trip changed the rules:\n%s\n%s", enc, enc2)
		}
	})
}
