// Illustrative sample data reproducing the seed's yearly complaint counts.

package complaint

import (
	"fmt"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// SampleCounts are the seed's complaint counts per year.
var SampleCounts = map[int]int{2017: 259, 2018: 165, 2019: 153}

// SampleTown and SampleVillages are the illustrative town and villages of SampleYears.
const SampleTown = "xikou"

// SampleVillages are twelve illustrative village codes.
var SampleVillages = func() []string {
	v := make([]string, 12)
	for i := range v {
		v[i] = fmt.Sprintf("3302131002%02d", i+1)
	}
	return v
}()

// SampleYears generates deterministic, ILLUSTRATIVE complaints reproducing
// only the seed's yearly totals (259, 165 and 153 for 2017–2019); villages,
// categories, dates and texts are made up and spread evenly.
func SampleYears() []*Complaint {
	var out []*Complaint
	for _, year := range []int{2017, 2018, 2019} {
		n := SampleCounts[year]
		start := time.Date(year, 1, 1, 9, 0, 0, 0, tz.Shanghai)
		for i := 0; i < n; i++ {
			filed := start.Add(time.Duration(i*364/n)*24*time.Hour + time.Duration(i%8)*time.Hour)
			cat := Categories[(i+i/len(Categories))%len(Categories)]
			village := SampleVillages[(i*7+year)%len(SampleVillages)]
			closed := filed.Add(20 * 24 * time.Hour)
			satisfied := i%9 != 0
			out = append(out, &Complaint{
				ID: fmt.Sprintf("sample-%d-%03d", year, i+1), TrackingCode: fmt.Sprintf("TS-S%03d-%04d", year%1000, i+1),
				Town: SampleTown, Village: village, Category: cat,
				Description: fmt.Sprintf("示例举报（虚构）：%s问题 #%d", cat.Label(), i+1),
				Status:      StatusClosed, FiledAt: filed, UpdatedAt: closed, Satisfied: &satisfied,
				Summary: "示例办结（虚构）", Illustrative: true,
			})
		}
	}
	return out
}
