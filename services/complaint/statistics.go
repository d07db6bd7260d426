package complaint

import (
	"sort"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Statistics counts complaints by year (Asia/Shanghai), town, village and category.
type Statistics struct {
	Total      int              `json:"total"`
	ByYear     map[int]int      `json:"byYear"`
	ByTown     map[string]int   `json:"byTown"`
	ByVillage  map[string]int   `json:"byVillage"`
	ByCategory map[Category]int `json:"byCategory"`
}

// Stats counts complaints.
func Stats(cs []*Complaint) Statistics {
	s := Statistics{ByYear: map[int]int{}, ByTown: map[string]int{}, ByVillage: map[string]int{}, ByCategory: map[Category]int{}}
	for _, c := range cs {
		s.Total++
		s.ByYear[c.FiledAt.In(tz.Shanghai).Year()]++
		s.ByTown[c.Town]++
		s.ByVillage[c.Village]++
		s.ByCategory[c.Category]++
	}
	return s
}

// Recurrence is a village and category with many complaints close together.
type Recurrence struct {
	Town     string    `json:"town"`
	Village  string    `json:"village"`
	Category Category  `json:"category"`
	Count    int       `json:"count"` // the most within one window
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
}

// Recurring finds the villages×categories with at least threshold
// complaints within some window of the given length, ordered by count
// (highest first), then village and category.
func Recurring(cs []*Complaint, window time.Duration, threshold int) []Recurrence {
	type key struct {
		town, village string
		cat           Category
	}
	times := map[key][]time.Time{}
	for _, c := range cs {
		k := key{c.Town, c.Village, c.Category}
		times[k] = append(times[k], c.FiledAt)
	}
	var out []Recurrence
	for k, ts := range times {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		best, bi, bj := 0, 0, 0
		i := 0
		for j := range ts {
			for ts[j].Sub(ts[i]) > window {
				i++
			}
			if n := j - i + 1; n > best {
				best, bi, bj = n, i, j
			}
		}
		if threshold > 0 && best >= threshold {
			out = append(out, Recurrence{Town: k.town, Village: k.village, Category: k.cat, Count: best, From: ts[bi], To: ts[bj]})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Village != b.Village {
			return a.Village < b.Village
		}
		return a.Category < b.Category
	})
	return out
}
