package inspection

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// villageCodes returns n 12-digit codes of one town.
func villageCodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("330283%06d", 100001+i)
	}
	return out
}

func visitedSet(codes []string) map[string]bool {
	m := map[string]bool{}
	for _, c := range codes {
		m[c] = true
	}
	return m
}

func TestCoverageOf(t *testing.T) {
	district := villageCodes(347)
	cases := []struct {
		name      string
		universe  []string
		visited   []string
		total     int
		covered   int
		percent   float64
		uncovered []string // nil: not checked beyond its length
	}{
		{"nothing known", nil, nil, 0, 0, 0, []string{}},
		{"nothing visited", []string{"330283100001", "330283100002"}, nil, 2, 0, 0, []string{"330283100001", "330283100002"}},
		{"half", []string{"330283100002", "330283100001"}, []string{"330283100002"}, 2, 1, 50, []string{"330283100001"}},
		{"all", []string{"330283100001", "330283100002"}, []string{"330283100001", "330283100002"}, 2, 2, 100, []string{}},
		{"visits outside the universe do not count", []string{"330283100001"}, []string{"330283100009"}, 1, 0, 0, []string{"330283100001"}},
		{"a village listed twice counts once", []string{"330283100001", "330283100001", "330283100002"}, []string{"330283100001"}, 2, 1, 50, []string{"330283100002"}},
		// The seed: 347 villages, 85% by July 2020 — 295 of 347 is 85.01%.
		{"seed target 295/347", district, district[:295], 347, 295, 85.0, nil},
		// 294 of 347 is 84.73%: not yet 85, and never rounded up to it.
		{"one short of the target", district, district[:294], 347, 294, 84.7, nil},
		// 346 of 347 is 99.71%: not 100 until the last village is covered.
		{"one village short of full coverage", district, district[1:], 347, 346, 99.7, []string{district[0]}},
		{"one in three", []string{"330283100001", "330283100002", "330283100003"}, []string{"330283100003"}, 3, 1, 33.3, []string{"330283100001", "330283100002"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := CoverageOf(tc.universe, visitedSet(tc.visited))
			if c.Total != tc.total || c.Covered != tc.covered || c.Percent != tc.percent {
				t.Fatalf("coverage %d/%d %.2f%%, want %d/%d %.2f%%", c.Covered, c.Total, c.Percent, tc.covered, tc.total, tc.percent)
			}
			if len(c.Uncovered) != c.Total-c.Covered {
				t.Fatalf("%d uncovered listed, want %d", len(c.Uncovered), c.Total-c.Covered)
			}
			if tc.uncovered != nil && !slices.Equal(c.Uncovered, tc.uncovered) {
				t.Fatalf("uncovered %v, want %v", c.Uncovered, tc.uncovered)
			}
			if !slices.IsSorted(c.Uncovered) {
				t.Fatalf("uncovered not sorted: %v", c.Uncovered)
			}
		})
	}
}

func TestParsePeriod(t *testing.T) {
	cases := []struct {
		in   string
		want Period
		ok   bool
	}{
		{"2026", Period{Year: 2026}, true},
		{"2026Q2", Period{Year: 2026, Quarter: 2}, true},
		{"2026Q5", Period{}, false},
		{"26", Period{}, false},
		{"1999", Period{}, false},
		{"", Period{}, false},
	}
	for _, tc := range cases {
		p, err := ParsePeriod(tc.in)
		if (err == nil) != tc.ok || (tc.ok && p != tc.want) {
			t.Errorf("ParsePeriod(%q) = %v, %v; want %v ok=%v", tc.in, p, err, tc.want, tc.ok)
		}
	}
}

// Coverage on the real database: villages known from the registry, from
// the configuration and from tours; only visited ones count.
func TestCoverageStored(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 7, 10, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	disc := identity.Principal{IdentityID: "disc-1", Role: identity.RoleTownDiscipline, Town: svcTown}
	codes := villageCodes(4)
	if err := s.RegisterVillage(ctx, codes[3], "东岙村"); err != nil {
		t.Fatal(err)
	}
	tour, err := s.PlanTour(ctx, disc, TourInput{Name: "2026年第一轮村级巡察", Period: "2026", Team: []TeamMember{{Name: "王巡察", Role: "组长"}},
		Villages: []string{svcVillage, codes[0], codes[1]}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{svcVillage, codes[0]} {
		if err := s.RecordVisit(ctx, disc, tour.ID, v, time.Date(2026, 7, 1, 0, 0, 0, 0, Shanghai)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordVisit(ctx, disc, tour.ID, codes[2], time.Date(2026, 7, 1, 0, 0, 0, 0, Shanghai)); err == nil {
		t.Fatal("a visit to a village the tour does not cover was recorded")
	}
	c, err := s.CoverageFor(ctx, 2026)
	if err != nil {
		t.Fatal(err)
	}
	// Known: svcVillage (configured name and tour), codes 0 and 1 (tour), code 3 (registry).
	if c.Total != 4 || c.Covered != 2 || c.Percent != 50 || !slices.Equal(c.Uncovered, []string{codes[1], codes[3]}) || c.UncoveredNames[codes[3]] != "东岙村" {
		t.Fatalf("coverage %+v", c)
	}
	if c, _ := s.CoverageFor(ctx, 2025); c.Covered != 0 || c.Total != 4 {
		t.Fatalf("2025 coverage %+v, want none of 4", c)
	}
	got, err := s.TourByID(ctx, tour.ID)
	if err != nil || got.Visited != 2 || len(got.Villages) != 3 {
		t.Fatalf("tour %+v (%v)", got, err)
	}
	for _, v := range got.Villages {
		if v.Village == svcVillage && (v.Name != "岩头村" || v.VisitedOn == nil || *v.VisitedOn != "2026-07-01") {
			t.Fatalf("tour village %+v", v)
		}
	}
}

// BenchmarkCoverageOf: the district's 347 villages, 295 visited.
func BenchmarkCoverageOf(b *testing.B) {
	all := villageCodes(347)
	visited := visitedSet(all[:295])
	for b.Loop() {
		if c := CoverageOf(all, visited); c.Covered != 295 {
			b.Fatal(c)
		}
	}
}
