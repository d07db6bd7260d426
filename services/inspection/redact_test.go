package inspection

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// categoryEvent is a complaint decision of a given category.
func categoryEvent(t *testing.T, typ, complaintID, category, outcome string, at time.Time) eventsv1.Event {
	t.Helper()
	data, err := json.Marshal(eventsv1.ComplaintDecided{ComplaintRef: eventsv1.ComplaintRef{ComplaintID: complaintID,
		Category: category}, ActorID: "discipline-1", ActorRole: "town-discipline", Reason: "经查", Outcome: outcome, At: at})
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + svcTown + "/complaint", Type: typ, Subject: complaintID,
		Time: at.UTC(), Town: svcTown, Village: svcVillage, Data: data}
}

// A village secretary reads the village's rating and grade changes without
// the cadre-conduct complaints and conflict-of-interest warnings the
// complaint service hides from cadres: their points come as one 其他扣分
// line, so points and grade still agree with what discipline staff see,
// who see every fact.
func TestCadresDoNotSeeHiddenFacts(t *testing.T) {
	ts, s := api(t) // two conflict-of-interest warnings already
	day := time.Date(2026, 3, 5, 10, 0, 0, 0, Shanghai)
	cadre, funds := uuid.NewString(), uuid.NewString()
	for _, ev := range []eventsv1.Event{
		categoryEvent(t, eventsv1.TypeComplaintAccepted, cadre, "cadre-conduct", "", day),
		categoryEvent(t, eventsv1.TypeComplaintResolved, cadre, "cadre-conduct", eventsv1.ComplaintOutcomeSubstantiated, day.AddDate(0, 0, 1)),
		categoryEvent(t, eventsv1.TypeComplaintResolved, funds, "funds", eventsv1.ComplaintOutcomePartly, day.AddDate(0, 0, 2)),
	} {
		if err := handleComplaint(s, ev); err != nil {
			t.Fatal(err)
		}
	}
	handle(t, s, warningEvent(t, svcTown, svcVillage, "posting-duration", day.AddDate(0, 0, 3)))
	signDrafts(t, s)

	disc, _ := testinfra.KratosUser(t, "town-discipline", svcTown, "")
	sec, _ := testinfra.KratosUser(t, "secretary", svcTown, svcVillage)
	rating, changes := "/v1/villages/"+svcVillage+"/rating", "/v1/villages/"+svcVillage+"/grade-changes"

	type contribution struct {
		Fact   Fact   `json:"fact"`
		Label  string `json:"label"`
		Points int    `json:"points"`
	}
	type ratingDoc struct {
		Points        int            `json:"points"`
		Start         int            `json:"start"`
		Grade         string         `json:"grade"`
		AsOf          time.Time      `json:"asOf"`
		Contributions []contribution `json:"contributions"`
	}
	read := func(token, path string, into any) string {
		t.Helper()
		r := get(t, ts, path, token)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		if err := json.Unmarshal([]byte(r.raw), into); err != nil {
			t.Fatal(err)
		}
		return r.raw
	}
	hidden := func(c contribution) bool {
		return (c.Fact.Kind == FactWarning && c.Fact.Subkind == "conflict-of-interest") ||
			(c.Fact.Kind == FactComplaint && c.Fact.Ref == cadre)
	}
	// Words that would tell a cadre of a hidden fact.
	tells := []string{cadre, "cadre-conduct", "conflict-of-interest", "利益冲突"}

	var full, seen ratingDoc
	read(disc, rating, &full)
	raw := read(sec, rating, &seen)
	hiddenPoints, hiddenCount := 0, 0
	for _, c := range full.Contributions {
		if hidden(c) {
			hiddenPoints += c.Points
			hiddenCount++
		}
	}
	if hiddenCount != 4 || hiddenPoints >= 0 {
		t.Fatalf("discipline sees %d hidden facts worth %d points, want 4 and a deduction: %+v", hiddenCount, hiddenPoints, full.Contributions)
	}
	for _, w := range tells {
		if strings.Contains(raw, w) {
			t.Errorf("the secretary's rating tells %q: %s", w, raw)
		}
	}
	if seen.Points != full.Points || seen.Grade != full.Grade {
		t.Errorf("secretary sees %d %s, discipline %d %s", seen.Points, seen.Grade, full.Points, full.Grade)
	}
	sum, others := seen.Start, 0
	for _, c := range seen.Contributions {
		sum += c.Points
		if c.Fact.Kind == FactOther {
			others++
			if c.Label != OtherLabel || c.Points != hiddenPoints || c.Fact.ID != "" || c.Fact.Ref != "" || c.Fact.Note != "" ||
				!c.Fact.At.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, Shanghai)) {
				t.Errorf("other line: %+v, want %s %d at the period's start", c, OtherLabel, hiddenPoints)
			}
		}
	}
	if others != 1 || sum != seen.Points || len(seen.Contributions) != len(full.Contributions)-hiddenCount+1 {
		t.Errorf("secretary's contributions (%d other lines) add up to %d, points %d: %+v", others, sum, seen.Points, seen.Contributions)
	}
	if !seen.AsOf.Equal(day.AddDate(0, 0, 3)) {
		t.Errorf("secretary's asOf %v, want the last visible fact's time", seen.AsOf)
	}

	var fullChanges, seenChanges struct {
		Items []struct {
			To      string         `json:"to"`
			Because []contribution `json:"because"`
			Notice  string         `json:"notice"`
		} `json:"items"`
	}
	read(disc, changes, &fullChanges)
	raw = read(sec, changes, &seenChanges)
	for _, w := range tells {
		if strings.Contains(raw, w) {
			t.Errorf("the secretary's grade changes tell %q: %s", w, raw)
		}
	}
	if len(seenChanges.Items) != len(fullChanges.Items) || len(fullChanges.Items) < 2 {
		t.Fatalf("grade changes: secretary %d, discipline %d", len(seenChanges.Items), len(fullChanges.Items))
	}
	for i, ch := range fullChanges.Items {
		want := 0
		for _, c := range ch.Because {
			if hidden(c) {
				want += c.Points
			}
		}
		got := 0
		for _, c := range seenChanges.Items[i].Because {
			if c.Fact.Kind == FactOther {
				got += c.Points
			}
		}
		if got != want || seenChanges.Items[i].To != ch.To {
			t.Errorf("change %d: secretary's 其他扣分 %d, hidden %d", i, got, want)
		}
		// The notice the change brought: as issued for discipline, without
		// the hidden facts for the secretary (JSON, text and HTML).
		if ch.Notice != "" {
			path := "/v1/notices/" + url.PathEscape(ch.Notice)
			for _, suffix := range []string{"", "/html"} {
				full, seen := get(t, ts, path+suffix, disc), get(t, ts, path+suffix, sec)
				if full.status != 200 || seen.status != 200 || !strings.Contains(full.raw, "利益冲突") {
					t.Fatalf("notice %s%s: discipline %d, secretary %d: %.300s", ch.Notice, suffix, full.status, seen.status, full.raw)
				}
				for _, w := range append(tells, "举报类别") {
					if strings.Contains(seen.raw, w) {
						t.Errorf("the secretary's notice %s%s tells %q: %.2000s", ch.Notice, suffix, w, seen.raw)
					}
				}
				if !strings.Contains(seen.raw, OtherLabel) || !strings.Contains(seen.raw, ch.Notice) {
					t.Errorf("the secretary's notice %s%s lacks the 其他扣分 line: %.2000s", ch.Notice, suffix, seen.raw)
				}
			}
		}
		// Every change here is a fall: deductions largest first.
		if !slices.IsSortedFunc(seenChanges.Items[i].Because, func(a, b contribution) int { return a.Points - b.Points }) {
			t.Errorf("change %d: not largest first: %+v", i, seenChanges.Items[i].Because)
		}
	}
}
