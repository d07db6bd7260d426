package inspection

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The district of the seed: 12 towns and subdistricts, 347 villages and
// communities. Codes are illustrative (330213 is Fenghua's prefix).
const (
	districtTowns    = 12
	districtVillages = 347
)

// kindMix is one line of the generator: a kind and subkind of fact, and its
// weight in a village of risk 0 (careful) and of risk 1 (troubled).
type kindMix struct {
	kind              FactKind
	sub               string
	careful, troubled float64
}

// mix: careful villages collect mostly facts worth nothing or little
// (cleared complaints, on-time rectifications, the odd late step); troubled
// ones substantiated complaints, serious warnings, findings and orders.
var mix = []kindMix{
	{FactWarning, "deadline", 4, 16},
	{FactWarning, "evidence-required", 2, 10},
	{FactWarning, "order", 0.5, 5},
	{FactWarning, "posting-duration", 0.2, 3},
	{FactWarning, "amount-threshold", 0.1, 2},
	{FactWarning, "conflict-of-interest", 0.05, 1.5},
	{FactComplaint, ComplaintUnsubstantiated, 25, 20},
	{FactComplaint, ComplaintPartly, 0.5, 4},
	{FactComplaint, ComplaintSubstantiated, 0.3, 3},
	{FactFinding, SeverityMinor, 2, 6},
	{FactFinding, SeverityMajor, 0.2, 2.5},
	{FactFinding, SeveritySerious, 0.02, 0.8},
	{FactRectification, RectificationOnTime, 25, 8},
	{FactRectification, RectificationOverdue, 0.2, 3},
	{FactOrder, string(Blue), 0.1, 1},
	{FactOrder, string(Yellow), 0.02, 0.5},
	{FactOrder, string(Red), 0, 0.2},
}

// villageFacts generates n facts of a village over a year, for a village of
// a risk drawn here.
func villageFacts(rng *rand.Rand, village string, year, n int) []Fact {
	return villageFactsAt(rng, village, year, n, 0.5*rng.Float64())
}

// villageFactsAt generates n facts of a village of a given risk (0 to 1)
// over a year.
func villageFactsAt(rng *rand.Rand, village string, year, n int, risk float64) []Fact {
	weights := make([]float64, len(mix))
	total := 0.0
	for i, m := range mix {
		weights[i] = m.careful + (m.troubled-m.careful)*risk
		total += weights[i]
	}
	start := time.Date(year, 1, 1, 0, 0, 0, 0, Shanghai)
	days := int(time.Date(year+1, 1, 1, 0, 0, 0, 0, Shanghai).Sub(start).Hours() / 24)
	facts := make([]Fact, 0, n)
	for i := range n {
		at := start.Add(time.Duration(rng.IntN(days))*24*time.Hour + time.Duration(8*3600+rng.IntN(10*3600))*time.Second)
		x := rng.Float64() * total
		j := 0
		for j < len(mix)-1 && x >= weights[j] {
			x -= weights[j]
			j++
		}
		facts = append(facts, Fact{ID: fmt.Sprintf("%s-%d-%04d", village, year, i), Village: village, Kind: mix[j].kind, Subkind: mix[j].sub,
			At: at, Ref: fmt.Sprintf("REF-%04d", i), Note: "基准数据"})
	}
	return facts
}

// districtFacts generates a year of facts for the district's 347 villages,
// 20 to 60 each, deterministically.
func districtFacts(year int) ([]string, []Fact) {
	rng := rand.New(rand.NewPCG(2020, 347))
	villages := make([]string, 0, districtVillages)
	var facts []Fact
	for i := range districtVillages {
		town := i % districtTowns
		code := fmt.Sprintf("330213%03d%03d", 100+town, 200+i/districtTowns)
		villages = append(villages, code)
		// Risk from 0 to 0.35, most villages near 0. Troubled villages
		// generate more events: 20 to 40 facts for the most careful, up to
		// 59 for the most troubled.
		risk := 0.35 * math.Pow(rng.Float64(), 2)
		n := 20 + int(57*risk) + rng.IntN(21)
		facts = append(facts, villageFactsAt(rng, code, year, n, risk)...)
	}
	return villages, facts
}

// The benchmark is only meaningful if the district is not all A: the
// generated year must produce every grade, none of them overwhelming.
func TestDistrictGradeDistribution(t *testing.T) {
	villages, facts := districtFacts(2026)
	if len(villages) != districtVillages {
		t.Fatalf("%d villages", len(villages))
	}
	perVillage := map[string]int{}
	for _, f := range facts {
		perVillage[f.Village]++
	}
	for v, n := range perVillage {
		if n < 20 || n > 60 {
			t.Errorf("village %s has %d facts", v, n)
		}
	}
	ratings := RateAll(DefaultRules(), Period{Year: 2026}, villages, facts)
	count := map[Grade]int{}
	for _, r := range ratings {
		count[r.Grade]++
	}
	t.Logf("%d facts; grades A %d, B %d, C %d, D %d", len(facts), count[GradeA], count[GradeB], count[GradeC], count[GradeD])
	for _, g := range []Grade{GradeA, GradeB, GradeC, GradeD} {
		if count[g] < districtVillages/20 || count[g] > districtVillages*3/5 {
			t.Errorf("grade %s: %d of %d villages, want between 5%% and 60%%", g, count[g], districtVillages)
		}
	}
	// Deterministic: the same year twice gives the same facts.
	_, again := districtFacts(2026)
	if len(again) != len(facts) || again[len(again)-1] != facts[len(facts)-1] {
		t.Error("the generator is not deterministic")
	}
}

// BenchmarkRateDistrict recomputes the ratings of all 347 villages from a
// year of events (about 14,000 facts), as after a change of rules.
//
//	go test ./services/inspection -run '^$' -bench . -benchtime 20x
func BenchmarkRateDistrict(b *testing.B) {
	villages, facts := districtFacts(2026)
	rules := DefaultRules()
	period := Period{Year: 2026}
	for b.Loop() {
		if r := RateAll(rules, period, villages, facts); len(r) != districtVillages {
			b.Fatalf("%d ratings", len(r))
		}
	}
	b.ReportMetric(float64(len(facts)), "facts/op")
	b.ReportMetric(float64(len(facts))*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
	b.ReportMetric(float64(districtVillages)*float64(b.N)/b.Elapsed().Seconds(), "villages/s")
}

// BenchmarkRateVillage rates one village with 60 facts, as after each event.
func BenchmarkRateVillage(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	facts := villageFacts(rng, "330213100201", 2026, 60)
	rules := DefaultRules()
	period := Period{Year: 2026}
	for b.Loop() {
		Rate(rules, "330213100201", period, facts)
	}
	b.ReportMetric(float64(len(facts))*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
}
