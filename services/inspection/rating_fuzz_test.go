package inspection

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"testing"
	"time"
)

// FuzzRate: rating any facts with any rules a town may configure keeps the
// rating's own promises: points are the start plus the contributions, the
// grade is the points' grade, no cap is exceeded, and the order of the facts
// does not matter. (That the rules load and validate is ratingrules'
// FuzzLoadRules.)
func FuzzRate(f *testing.F) {
	for _, s := range []string{
		``,
		"start: 100\nperiod: quarter\ngrades: {a: 95, b: 85, c: 60}\n",
		`{"kinds":{"warning":{"label":"违规预警","subkinds":{"deadline":{"label":"超期","points":-2,"cap":4}}}}}`,
		`{"kinds":{"custom":{"label":"表扬","points":3,"cap":5}}}`,
		`{"kinds":{"x":{"label":"x","subkinds":{"a":{"label":"a","points":1000},"b":{"label":"b","points":1}}}}}`,
	} {
		f.Add([]byte(s), []byte{0, 1, 2, 3, 17, 200, 33})
	}
	// Points near the int limits wrapped the score round: two deductions
	// made a village's score positive again.
	f.Add([]byte(`{"kinds":{"a":{"label":"a","points":-9223372036854775807}}}`), []byte{0, 0, 0, 1})
	f.Add([]byte(`{"start":1000000,"grades":{"a":1000000,"b":-1000000,"c":-2000000},"kinds":{"a":{"label":"a","points":-1000}}}`), []byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, doc, factBytes []byte) {
		r, err := LoadRules(doc)
		if err != nil {
			return
		}
		period := r.PeriodOf(time.Date(2026, 3, 2, 8, 0, 0, 0, Shanghai))
		facts := fuzzFacts(r, period, factBytes)
		rating := Rate(r, "330283100201", period, facts)
		sum := r.Start
		byKind := map[FactKind]int{}
		bySub := map[[2]string]int{}
		for _, c := range rating.Contributions {
			sum += c.Points
			byKind[c.Fact.Kind] += c.Points
			bySub[[2]string{string(c.Fact.Kind), c.Fact.Subkind}] += c.Points
		}
		if rating.Points != sum {
			t.Fatalf("points %d, start plus contributions %d", rating.Points, sum)
		}
		// The same sum without int overflow: a bonus that wraps the score
		// round to the worst grade is no rating.
		exact := big.NewInt(int64(r.Start))
		for _, c := range rating.Contributions {
			exact.Add(exact, big.NewInt(int64(c.Points)))
		}
		if !exact.IsInt64() || exact.Int64() != int64(rating.Points) {
			t.Fatalf("points %d, but start plus contributions is %s", rating.Points, exact)
		}
		if rating.Grade != r.GradeOf(rating.Points) {
			t.Fatalf("grade %s for %d points, want %s", rating.Grade, rating.Points, r.GradeOf(rating.Points))
		}
		for kind, k := range r.Kinds {
			if k.Cap > 0 && abs(byKind[kind]) > k.Cap {
				t.Fatalf("kind %s moved the score by %d, cap %d", kind, byKind[kind], k.Cap)
			}
			for sub, s := range k.Subkinds {
				if s.Cap > 0 && abs(bySub[[2]string{string(kind), sub}]) > s.Cap {
					t.Fatalf("subkind %s/%s moved the score by %d, cap %d", kind, sub, bySub[[2]string{string(kind), sub}], s.Cap)
				}
			}
		}
		reversed := slices.Clone(facts)
		slices.Reverse(reversed)
		a, _ := json.Marshal(rating)
		b, _ := json.Marshal(Rate(r, "330283100201", period, reversed))
		if string(a) != string(b) {
			t.Fatalf("the order of the facts changed the rating:\n%s\n%s", a, b)
		}
	})
}

// fuzzFacts makes facts of the rules' kinds and subkinds (and an unknown
// one) in the period, two bytes each; some share an id (redeliveries).
func fuzzFacts(r Rules, period Period, b []byte) []Fact {
	kinds := slices.Sorted(maps.Keys(r.Kinds))
	kinds = append(kinds, "unknown")
	var facts []Fact
	for i := 0; i+1 < len(b) && len(facts) < 40; i += 2 {
		kind := kinds[int(b[i])%len(kinds)]
		subs := slices.Sorted(maps.Keys(r.Kinds[kind].Subkinds))
		subs = append(subs, "")
		facts = append(facts, Fact{
			ID:      fmt.Sprintf("f%d", b[i+1]%16),
			Village: "330283100201",
			Kind:    kind,
			Subkind: subs[int(b[i+1])%len(subs)],
			At:      period.Start().Add(time.Duration(b[i+1]) * time.Hour),
			Ref:     fmt.Sprint(i),
		})
	}
	return facts
}
