package inspection

// District views: every village by grade and inspection coverage, grouped by
// town, and orders and interviews counted by town and year, as JSON and as
// a staff HTML page (a heat map by grade).
//
// Scope: each town runs its own inspection instance with its own database.
// One instance per district runs the district projection (district_feed.go,
// with Service.DistrictWide set; the operator's District names its town) and
// shows district staff every town: its own town from its own tables (the
// source of the events, no lag), the other towns from the projection of
// their streams. The other instances answer district staff with a 409
// naming that town (Service.DistrictViewTown), or saying that no town does
// (NoDistrictView). A town's discipline office
// sees its own town only, on its own instance. Without the projection and
// without a town to point at (tools, tests), the view is the instance's
// town only, for everyone.

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// DistrictVillage is one village's line in the district view.
type DistrictVillage struct {
	Village string `json:"village"`
	Name    string `json:"name,omitempty"`
	Grade   Grade  `json:"grade"`
	Points  int    `json:"points"`
	Covered bool   `json:"covered"`
	// LastVisit is the day a tour last visited it.
	LastVisit string `json:"lastVisit,omitempty"`
}

// YearCount counts records of a town in a year.
type YearCount struct {
	Year   int `json:"year"`
	Total  int `json:"total"`
	Blue   int `json:"blue,omitempty"`
	Yellow int `json:"yellow,omitempty"`
	Red    int `json:"red,omitempty"`
}

// DistrictTown is one town's part of the district view.
type DistrictTown struct {
	Town       string            `json:"town"`
	TownName   string            `json:"townName"`
	Grades     map[string]int    `json:"grades"`
	Coverage   Coverage          `json:"coverage"`
	Villages   []DistrictVillage `json:"villages"`
	Orders     []YearCount       `json:"orders"`
	Interviews []YearCount       `json:"interviews"`
}

// DistrictView is the district overview as this instance knows it.
type DistrictView struct {
	Period string `json:"period"`
	// Year the visits were counted in; 0 counts every visit.
	Year int       `json:"year,omitempty"`
	AsOf time.Time `json:"asOf"`
	// DistrictWide is true when Towns holds every town the projection
	// knows, false when only this instance's town.
	DistrictWide bool   `json:"districtWide"`
	Scope        string `json:"scope"`
	// Grades and Coverage add up the towns listed (e.g. 295 of 347
	// villages covered: 85.0%).
	Grades   map[string]int `json:"grades"`
	Coverage Coverage       `json:"coverage"`
	Towns    []DistrictTown `json:"towns"`
}

const (
	districtScope     = "this instance's town only: each town runs its own inspection service and database, and this instance does not run the district projection"
	districtWideScope = "the whole district: this town from its own records, the other towns from their inspection and tenant streams (their points are those of their latest change of grade)"
	districtTownScope = "this town only: a town's discipline office sees its own town"
)

// TypeDistrictViewElsewhere is the problem type of a district-wide request
// to an instance that does not run the district projection.
const TypeDistrictViewElsewhere = httpapi.ProblemBase + "inspection/district-view-elsewhere"

// districtViewElsewhere is the 409 that sends district staff to the town
// whose instance builds the district overview; the town is also in the
// member districtViewTown, for clients to follow.
func (s *Service) districtViewElsewhere() *httpapi.Problem {
	if s.DistrictViewTown == NoDistrictView {
		// Sending staff to a town that does not exist would waste their
		// time: the platform team has to name an existing town.
		return &httpapi.Problem{Type: TypeDistrictViewElsewhere, Title: "No town's instance builds the district overview",
			Status: http.StatusConflict,
			Detail: fmt.Sprintf("this is the inspection service of town %s, which holds its own town only; no town's inspection service builds the district overview at the moment (the District names no existing town in spec.districtView.town): ask the platform team to name one",
				s.Town)}
	}
	return (&httpapi.Problem{Type: TypeDistrictViewElsewhere, Title: "The district overview is built by another town's instance",
		Status: http.StatusConflict,
		Detail: fmt.Sprintf("this is the inspection service of town %s, which holds its own town only; the district overview of every town is built by the inspection service of town %s: ask that town's instance",
			s.Town, s.DistrictViewTown)}).With("districtViewTown", s.DistrictViewTown)
}

// elsewhere tells whether district-wide requests belong to another town's
// instance.
func (s *Service) elsewhere() bool {
	return !s.DistrictWide && s.DistrictViewTown != "" && s.DistrictViewTown != s.Town
}

// sumTowns adds up the towns' grades and coverage (percent rounded down
// like CoverageOf; uncovered villages in town order).
func sumTowns(towns []DistrictTown) (map[string]int, Coverage) {
	grades := map[string]int{"A": 0, "B": 0, "C": 0, "D": 0}
	c := Coverage{Uncovered: []string{}}
	for _, t := range towns {
		for g, n := range t.Grades {
			grades[g] += n
		}
		c.Total += t.Coverage.Total
		c.Covered += t.Coverage.Covered
		c.Uncovered = append(c.Uncovered, t.Coverage.Uncovered...)
	}
	if c.Total > 0 {
		c.Percent = math.Floor(float64(c.Covered)*1000/float64(c.Total)) / 10
	}
	return grades, c
}

// townGrade is a village's grade and points.
type townGrade struct {
	grade  Grade
	points int
}

// buildTown lays out a town: every known village (unrated ones at the
// initial grade) and every rated one; coverage counts the known ones only
// (visits to villages outside the universe do not count).
func (s *Service) buildTown(town, townName string, period Period, known map[string]string, rated map[string]townGrade, visited map[string]string) DistrictTown {
	t := DistrictTown{Town: town, TownName: townName, Grades: map[string]int{"A": 0, "B": 0, "C": 0, "D": 0},
		Villages: []DistrictVillage{}, Orders: []YearCount{}, Interviews: []YearCount{}}
	all := map[string]townGrade{}
	for v, g := range rated {
		all[v] = g
	}
	for v := range known {
		if _, ok := all[v]; !ok {
			r := s.Rules.Initial(v, period)
			all[v] = townGrade{r.Grade, r.Points}
		}
	}
	universe := make([]string, 0, len(known))
	seen := map[string]bool{}
	for v, g := range all {
		if _, ok := known[v]; ok {
			universe = append(universe, v)
		}
		seen[v] = visited[v] != ""
		t.Villages = append(t.Villages, DistrictVillage{Village: v, Name: known[v], Grade: g.grade, Points: g.points,
			Covered: visited[v] != "", LastVisit: visited[v]})
		t.Grades[string(g.grade)]++
	}
	slices.SortFunc(t.Villages, func(a, b DistrictVillage) int { return strings.Compare(a.Village, b.Village) })
	t.Coverage = CoverageOf(universe, seen)
	return t
}

func foldYear(by map[int]*YearCount, year int, colour string, n int) {
	c := by[year]
	if c == nil {
		c = &YearCount{Year: year}
		by[year] = c
	}
	c.Total += n
	switch Colour(colour) {
	case Blue:
		c.Blue += n
	case Yellow:
		c.Yellow += n
	case Red:
		c.Red += n
	}
}

func sortedYears(by map[int]*YearCount) []YearCount {
	out := make([]YearCount, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b YearCount) int { return b.Year - a.Year })
	return out
}

func validGrade(g string) bool { return g == "A" || g == "B" || g == "C" || g == "D" }
