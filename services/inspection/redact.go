package inspection

import (
	"cmp"
	"slices"
	"time"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// What a village's cadres see of their own rating.
//
// The complaint service never shows a village's cadres the complaints about
// cadre conduct (干部作风) in their village, and conflict-of-interest
// warnings (利益冲突未回避) are internal leads of the discipline office. The
// rating and grade-change views must not tell them either: for a cadre
// (every village role but the liaison officer, as in the complaint service)
// such contributions are removed, and their points, after caps, are summed
// into one line labelled 其他扣分 (kind "other", dated the period's start,
// no id, reference or note), so that the points and the grade still add
// up. A sum of 0 (a complaint accepted, a capped warning) shows no line at
// all. AsOf becomes the time of the latest contribution left. Discipline,
// district staff and the liaison officer see every contribution.
//
// The notices a grade change brings are read the same way: the cadres get
// the notice with CadreReasons (the same 其他扣分 line, undated) as its
// reasons, text and HTML rendered again (Notice.ForCadres); discipline
// staff get it as issued, cadreReasons included.
//
// Known limits: the time of a grade change the hidden facts caused stays
// visible, and notices issued before CadreReasons existed are shown to
// cadres as issued.

// FactOther is the kind of the aggregated line cadres see instead of the
// contributions hidden from them.
const FactOther FactKind = "other"

// OtherLabel labels that line.
const OtherLabel = "其他扣分"

// cadreConductCategory is the complaint category hidden from cadres; the
// complaint fact's note names it (see ComplaintFact).
const cadreConductCategory = "cadre-conduct"

// complaintCategoryNote is the note of a complaint fact of a category.
func complaintCategoryNote(category string) string { return "举报类别：" + category }

// hiddenFromCadres reports whether a fact is kept from the village's cadres.
func hiddenFromCadres(f Fact) bool {
	switch f.Kind {
	case FactComplaint:
		return f.Note == complaintCategoryNote(cadreConductCategory)
	case FactWarning:
		return f.Subkind == string(wuxiaov1.ControlConflictOfInterest)
	}
	return false
}

// seesEverything reports whether p sees every contribution of a village's
// rating: everyone allowed to read it but the village's own cadres.
func seesEverything(p identity.Principal) bool {
	return !p.Role.IsVillageRole() || p.Role == identity.RoleLiaisonOfficer
}

// redactContributions removes the contributions hidden from cadres and
// appends their summed points as one 其他扣分 line dated at.
func redactContributions(cs []Contribution, village string, at time.Time) []Contribution {
	out := make([]Contribution, 0, len(cs))
	other := 0
	for _, c := range cs {
		if hiddenFromCadres(c.Fact) {
			other += c.Points
			continue
		}
		out = append(out, c)
	}
	if other != 0 {
		out = append(out, Contribution{Fact: Fact{Village: village, Kind: FactOther, At: at, Points: other},
			Label: OtherLabel, Points: other})
	}
	return out
}

// RatingFor is the rating as p may see it (see above).
func RatingFor(p identity.Principal, r Rating) Rating {
	if seesEverything(p) {
		return r
	}
	return cadreRating(r)
}

// cadreRating is the rating as the village's cadres see it.
func cadreRating(r Rating) Rating {
	start := r.Period.Start()
	r.Contributions = redactContributions(r.Contributions, r.Village, start)
	r.AsOf = start
	for _, c := range r.Contributions {
		if c.Fact.Kind != FactOther && c.Fact.At.After(r.AsOf) {
			r.AsOf = c.Fact.At
		}
	}
	return r
}

// GradeChangesFor are the grade changes as p may see them (see above).
func GradeChangesFor(p identity.Principal, changes []GradeChangeView) []GradeChangeView {
	if seesEverything(p) {
		return changes
	}
	out := make([]GradeChangeView, len(changes))
	for i, ch := range changes {
		period, err := ParsePeriod(ch.Period)
		at := ch.At
		if err == nil {
			at = period.Start()
		}
		ch.Because = redactContributions(ch.Because, ch.Village, at)
		// Still largest first, the 其他扣分 line among the others by its points.
		worse := ch.ToPoints < ch.FromPoints
		slices.SortStableFunc(ch.Because, func(a, b Contribution) int {
			if worse {
				return cmp.Compare(a.Points, b.Points)
			}
			return cmp.Compare(b.Points, a.Points)
		})
		out[i] = ch
	}
	return out
}

// GradeChangeView is a recorded change of grade, with the facts that explain
// it and the notice it brought, if any.
type GradeChangeView struct {
	ID         string         `json:"id"`
	Village    string         `json:"village"`
	Period     string         `json:"period"`
	From       Grade          `json:"from"`
	To         Grade          `json:"to"`
	FromPoints int            `json:"fromPoints"`
	ToPoints   int            `json:"toPoints"`
	At         time.Time      `json:"at"`
	RecordedAt time.Time      `json:"recordedAt"`
	Because    []Contribution `json:"because"`
	Notice     string         `json:"notice,omitempty"`
}
