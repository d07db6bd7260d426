package inspection

// Inspection tours (巡察): rounds the town's discipline office plans per
// period, with a team and the villages each round covers; each village's
// visit is recorded with its date. Coverage (巡察全覆盖) is the share of the
// town's villages visited at least once, with the list of those not yet
// covered.

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// TeamMember is one member of a tour's team.
type TeamMember struct {
	Name string `json:"name"`
	// Role in the team, e.g. 组长, 副组长, 组员.
	Role string `json:"role"`
	// IdentityID of the member's account, when they have one.
	IdentityID string `json:"identityId,omitempty"`
}

// TourVillage is a village a tour covers; VisitedOn is set once visited.
type TourVillage struct {
	Village   string  `json:"village"`
	Name      string  `json:"name,omitempty"`
	VisitedOn *string `json:"visitedOn,omitempty"` // 2026-04-12 (Shanghai)
	// VisitedByRole: who recorded the visit (town-discipline or
	// district-discipline).
	VisitedByRole string `json:"visitedByRole,omitempty"`
}

// Tour is a round of inspection (一轮巡察).
type Tour struct {
	ID        string        `json:"id"`
	Town      string        `json:"town"`
	Name      string        `json:"name"`
	Period    string        `json:"period"`
	Team      []TeamMember  `json:"team"`
	Villages  []TourVillage `json:"villages"`
	Visited   int           `json:"visited"`
	CreatedBy string        `json:"createdBy"`
	// CreatedByRole: the town's office (town-discipline) or the district's
	// (district-discipline) planned the round.
	CreatedByRole string    `json:"createdByRole"`
	CreatedAt     time.Time `json:"createdAt"`
}

// TourInput plans a tour.
type TourInput struct {
	Name     string       `json:"name"`
	Period   string       `json:"period"` // 2026, or 2026Q2
	Team     []TeamMember `json:"team"`
	Villages []string     `json:"villages"`
}

var periodPattern = regexp.MustCompile(`^([0-9]{4})(?:Q([1-4]))?$`)

// ParsePeriod reads "2026" or "2026Q2".
func ParsePeriod(s string) (Period, error) {
	m := periodPattern.FindStringSubmatch(s)
	if m == nil {
		return Period{}, fmt.Errorf("period %q is not a year (2026) or a quarter (2026Q2)", s)
	}
	y, _ := strconv.Atoi(m[1])
	q := 0
	if m[2] != "" {
		q, _ = strconv.Atoi(m[2])
	}
	p := Period{Year: y, Quarter: q}
	return p, p.Validate()
}

// Validate returns every problem of the input, by field.
func (in TourInput) Validate() []httpapi.FieldError {
	var errs []httpapi.FieldError
	if strings.TrimSpace(in.Name) == "" {
		errs = append(errs, httpapi.FieldError{Field: "name", Detail: "is required"})
	}
	if _, err := ParsePeriod(in.Period); err != nil {
		errs = append(errs, httpapi.FieldError{Field: "period", Detail: err.Error()})
	}
	if len(in.Team) == 0 {
		errs = append(errs, httpapi.FieldError{Field: "team", Detail: "a tour needs at least one team member"})
	}
	for i, m := range in.Team {
		if strings.TrimSpace(m.Name) == "" {
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("team[%d].name", i), Detail: "is required"})
		}
	}
	if len(in.Villages) == 0 {
		errs = append(errs, httpapi.FieldError{Field: "villages", Detail: "a tour covers at least one village"})
	}
	seen := map[string]bool{}
	for i, v := range in.Villages {
		switch {
		case !identity.ValidVillage(v):
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("villages[%d]", i), Detail: fmt.Sprintf("%q is not a 12-digit village code", v)})
		case seen[v]:
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("villages[%d]", i), Detail: fmt.Sprintf("%s is listed twice", v)})
		}
		seen[v] = true
	}
	return errs
}

// Coverage is how many of a set of villages inspection tours visited.
type Coverage struct {
	Total   int `json:"total"`
	Covered int `json:"covered"`
	// Percent covered, rounded down to one decimal: a target of 100% is
	// reached only when every village is covered.
	Percent float64 `json:"percent"`
	// Uncovered villages, sorted by code.
	Uncovered []string `json:"uncovered"`
}

// CoverageOf computes coverage of the villages in universe by the visited
// ones. Visited villages outside the universe do not count, and a village
// listed twice counts once. An empty universe is 0% covered (nothing to
// show yet), not 100%.
func CoverageOf(universe []string, visited map[string]bool) Coverage {
	all := slices.Clone(universe)
	slices.Sort(all)
	all = slices.Compact(all)
	c := Coverage{Total: len(all), Uncovered: []string{}}
	for _, v := range all {
		if visited[v] {
			c.Covered++
		} else {
			c.Uncovered = append(c.Uncovered, v)
		}
	}
	if c.Total > 0 {
		c.Percent = math.Floor(float64(c.Covered)*1000/float64(c.Total)) / 10
	}
	return c
}

// CoverageReport is the town's coverage, with the villages' names.
type CoverageReport struct {
	Town string `json:"town"`
	// Year the visits were counted in; 0 counts every visit ever recorded.
	Year int `json:"year,omitempty"`
	Coverage
	UncoveredNames map[string]string `json:"uncoveredNames"`
}
