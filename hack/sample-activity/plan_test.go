package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/workflow"
)

const samplesDir = "../../config/samples"

func sampleVillages(t *testing.T) []Village {
	t.Helper()
	vs, err := loadVillages(filepath.Join(samplesDir, "villages.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// runDays are days the plan is made on: today, a year's end, a leap day,
// the first of a month.
var runDays = []time.Time{
	time.Now(),
	time.Date(2026, 12, 31, 23, 30, 0, 0, disclosure.Shanghai),
	time.Date(2028, 2, 29, 8, 0, 0, 0, disclosure.Shanghai),
	time.Date(2027, 3, 1, 0, 10, 0, 0, disclosure.Shanghai),
}

func TestLoadVillagesReadsThe36Samples(t *testing.T) {
	vs := sampleVillages(t)
	if len(vs) != 36 {
		t.Fatalf("%d sample villages, want 36", len(vs))
	}
	towns := map[string]int{}
	codes := map[string]bool{}
	for _, v := range vs {
		towns[v.Town]++
		if len(v.Code) != 12 || v.Name == "" || codes[v.Code] {
			t.Errorf("village %+v: want a unique 12-digit code and a name", v)
		}
		codes[v.Code] = true
	}
	if len(towns) != 12 {
		t.Errorf("%d towns, want 12: %v", len(towns), towns)
	}
}

func TestPlanIsDeterministicPerVillage(t *testing.T) {
	vs := sampleVillages(t)
	day := runDays[1]
	a, b := NewPlan(vs[0], day), NewPlan(vs[0], day)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two plans of the same village on the same day differ")
	}
	// Another day moves the dates only: the keys a rerun recognises stay.
	later := NewPlan(vs[0], day.AddDate(0, 0, 40))
	for i := range a.Entries {
		x, y := a.Entries[i], later.Entries[i]
		x.Date, y.Date = "", ""
		if x != y {
			t.Errorf("entry %d changed with the day: %+v vs %+v", i, x, y)
		}
	}
	if !reflect.DeepEqual(a.Processes, later.Processes) || !reflect.DeepEqual(a.Complaints, later.Complaints) {
		t.Error("processes or complaints changed with the day")
	}
	if a.Correction != later.Correction {
		t.Errorf("correction %+v became %+v", a.Correction, later.Correction)
	}
	// Villages differ.
	c := NewPlan(vs[1], day)
	if reflect.DeepEqual(a.Entries, c.Entries) || reflect.DeepEqual(a.Payments, c.Payments) {
		t.Error("two villages got the same wallet or payments")
	}
}

// The wallet goes through the disclosure domain's own validation, in
// booking order, recorded on the day of the run, and its correction
// through disclosure.Reverse.
func TestPlanWalletPassesTheLedgerValidation(t *testing.T) {
	for _, day := range runDays {
		for _, v := range sampleVillages(t) {
			p := NewPlan(v, day)
			today := p.Today
			yearAgo := disclosure.DateOf(day.AddDate(-1, 0, 0))
			var booked []disclosure.Entry
			var income, spending int64
			keys := map[string]bool{}
			for i, e := range p.Entries {
				if e.Date <= yearAgo || e.Date > today {
					t.Errorf("%s entry %q dated %s, outside (%s, %s]", v.Code, e.Description, e.Date, yearAgo, today)
				}
				if i > 0 && e.Date < p.Entries[i-1].Date {
					t.Errorf("%s entries not in date order at %d", v.Code, i)
				}
				ci, ok := disclosure.LookupCategory(e.Category)
				if !ok || ci.Kind != e.Kind {
					t.Errorf("%s entry %q: category %s does not fit kind %s", v.Code, e.Description, e.Category, e.Kind)
				}
				if e.Kind == disclosure.KindIncome {
					income += e.AmountFen
				} else {
					spending += e.AmountFen
				}
				key := string(e.Kind) + "|" + string(e.Category) + "|" + e.Description + "|" + fmt.Sprint(e.AmountFen)
				if keys[key] {
					t.Errorf("%s: two entries with the key of %q: a rerun could not tell them apart", v.Code, e.Description)
				}
				keys[key] = true
				in := disclosure.Entry{ID: v.Code + "-" + string(rune('a'+i)), Village: v.Code, Kind: e.Kind, Category: e.Category,
					AmountFen: e.AmountFen, Date: e.Date, Description: e.Description, Counterparty: e.Counterparty,
					RecordedBy: "sample", RecordedAt: day}
				got, err := disclosure.Append(booked, in)
				if err != nil {
					t.Fatalf("%s entry %q refused: %v", v.Code, e.Description, err)
				}
				booked = append(booked, got)
			}
			// A plausible village year: more coming in than going out, a
			// few hundred thousand yuan either way.
			if income <= spending || income < 200_000_00 || income > 1_500_000_00 {
				t.Errorf("%s: income %d fen, spending %d fen: implausible", v.Code, income, spending)
			}
			wrong := booked[p.Correction.Index]
			rev, err := disclosure.Reverse(wrong, p.Correction.Reason, "sample", day)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := disclosure.Append(booked, rev); err != nil {
				t.Errorf("%s: the correction is refused: %v", v.Code, err)
			}
			// The mistake repeats a real bill with one digit too many.
			if !slices.ContainsFunc(p.Entries, func(e Entry) bool {
				return e.Description == wrong.Description && e.AmountFen*10 == wrong.AmountFen
			}) {
				t.Errorf("%s: the reversed entry %q has no correct twin", v.Code, wrong.Description)
			}
			linked := slices.IndexFunc(p.Entries, func(e Entry) bool { return e.LinkProcess != "" })
			if linked < 0 || p.Entries[linked].Date != today || !slices.ContainsFunc(p.Processes, func(x Process) bool {
				return x.Key == p.Entries[linked].LinkProcess && x.WantCurrent == ""
			}) {
				t.Errorf("%s: want one entry of today linked to a completed process", v.Code)
			}
		}
	}
}

// Payments go through the disclosure domain (valid ID numbers, GB 11643)
// and show masked on the portal.
func TestPlanPaymentsAreValidAndMasked(t *testing.T) {
	for _, day := range runDays[:2] {
		for _, v := range sampleVillages(t) {
			p := NewPlan(v, day)
			if len(p.Payments) < 3 {
				t.Fatalf("%s: %d payments", v.Code, len(p.Payments))
			}
			var stored []disclosure.Payment
			seen := map[string]bool{}
			for i, in := range p.Payments {
				pay, err := disclosure.NewPayment([]byte("test key"), disclosure.PaymentInput{ID: string(rune('a' + i)), Village: in.Village,
					Programme: in.Programme, HouseholdName: in.HouseholdName, IDNumber: in.IDNumber, AmountFen: in.AmountFen,
					PaidOn: in.PaidOn, RecordedBy: "sample", RecordedAt: day})
				if err != nil {
					t.Fatalf("%s payment %+v: %v", v.Code, in, err)
				}
				if err := disclosure.ValidatePayment(pay, stored); err != nil {
					t.Fatalf("%s payment %+v: %v", v.Code, in, err)
				}
				stored = append(stored, pay)
				if !strings.Contains(in.HouseholdName, "示例") {
					t.Errorf("%s: household %q is not obviously illustrative", v.Code, in.HouseholdName)
				}
				pub, err := publicForm(in)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(pub.Name, "示例") || !strings.Contains(pub.Name, "*") || strings.Contains(pub.IDNumber, in.IDNumber[6:14]) {
					t.Errorf("%s: public form %s %s shows too much", v.Code, pub.Name, pub.IDNumber)
				}
				key := pub.Programme + pub.Name + pub.IDNumber
				if seen[key] {
					t.Errorf("%s: two payments look alike publicly: %s", v.Code, key)
				}
				seen[key] = true
			}
		}
	}
}

func TestSampleIDNumberCheckCharacter(t *testing.T) {
	tests := []struct{ first17, want string }{
		{"33028319900101123", "8"}, // personal's example, 330283199001011238
		{"11010519491231002", "X"}, // the GB 11643 standard's example
	}
	for _, tc := range tests {
		if got := string(idCheckChar(tc.first17)); got != tc.want {
			t.Errorf("idCheckChar(%s) = %s, want %s", tc.first17, got, tc.want)
		}
	}
}

// catalog is the sample power list, as the operator mounts it.
func catalog(t *testing.T) *workflow.Catalog {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(samplesDir, "powercatalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc wuxiaov1.PowerCatalog
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(wuxiaov1.ResolvedCatalog{Name: pc.Name, PowerCatalogSpec: pc.Spec})
	if err != nil {
		t.Fatal(err)
	}
	c, err := workflow.ParseCatalog(doc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lowestThresholds are the smallest thresholds any sample village sets
// (and the defaults): the plan must stay quiet under all of them.
func lowestThresholds(t *testing.T) workflow.Thresholds {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(samplesDir, "villages.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	th := workflow.DefaultThresholds
	for _, doc := range strings.Split(string(data), "\n---") {
		var v wuxiaov1.Village
		if err := yaml.Unmarshal([]byte(doc), &v); err != nil || v.Kind != "Village" {
			continue
		}
		if r := v.Spec.Thresholds.RepresentativesResolutionAboveYuan; r != nil && *r < th.RepresentativesResolutionAboveYuan {
			th.RepresentativesResolutionAboveYuan = *r
		}
		if a := v.Spec.Thresholds.TownApprovalAboveYuan; a != nil && *a < th.TownApprovalAboveYuan {
			th.TownApprovalAboveYuan = *a
		}
	}
	if th.RepresentativesResolutionAboveYuan >= workflow.DefaultThresholds.RepresentativesResolutionAboveYuan {
		t.Fatalf("no sample village lowers the thresholds any more (%+v): revisit this test", th)
	}
	return th
}

// The processes run through the workflow engine itself, on the sample
// power list: every step is recorded by the role the catalog names, no
// control raises a warning (not even at the steps still open, recorded
// later by a cadre in the console), and each ends where the plan says.
func TestPlanProcessesRunCleanOnTheSamplePowerList(t *testing.T) {
	cat := catalog(t)
	th := lowestThresholds(t)
	cal, err := workflow.LoadCalendar("")
	if err != nil {
		t.Fatal(err)
	}
	e := &workflow.Engine{Catalog: cat, Calendar: cal}
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, disclosure.Shanghai) // a Monday
	for _, v := range sampleVillages(t) {
		p := NewPlan(v, now)
		var completed, waitingTown, waitingVillage int
		for _, pr := range p.Processes {
			actor := func(role string) workflow.Actor {
				a := workflow.Actor{ID: role + "-id", Name: SampleName, Role: role, Town: v.Town}
				if !isTownRole(role) {
					a.Village = v.Code
				}
				return a
			}
			inst, _, err := e.Start(actor(pr.StartRole), workflow.StartInput{ItemID: pr.Start.ItemID, Village: v.Code,
				Title: pr.Start.Title, AmountFen: pr.Start.AmountFen, Now: now})
			if err != nil {
				t.Fatalf("%s %s: start: %v", v.Code, pr.Key, err)
			}
			if pr.StartRole != pr.Steps[0].Role {
				t.Errorf("%s %s: started by %s, first step by %s", v.Code, pr.Key, pr.StartRole, pr.Steps[0].Role)
			}
			record := func(s Step) {
				if s.Evidence != nil {
					if s.Evidence.StepID != s.ID || !strings.HasPrefix(s.Evidence.URL, "https://") || len(s.Evidence.SHA256) != 64 {
						t.Errorf("%s %s: evidence %+v", v.Code, pr.Key, s.Evidence)
					}
					inst.Evidence = append(inst.Evidence, workflow.Evidence{StepID: s.ID, Kind: s.Evidence.Kind})
				}
				ws, _, err := e.Complete(inst, actor(s.Role), workflow.CompleteInput{StepID: s.ID, Next: s.Next, Now: now, Thresholds: th})
				if err != nil {
					t.Fatalf("%s %s: step %s: %v", v.Code, pr.Key, s.ID, err)
				}
				for _, w := range ws {
					t.Errorf("%s %s: step %s raises %s: %s", v.Code, pr.Key, s.ID, w.Rule, w.Message)
				}
			}
			for _, s := range pr.Steps {
				record(s)
			}
			if pr.WantCurrent == "" {
				if inst.Status != workflow.StatusCompleted {
					t.Errorf("%s %s: %s at %s, want completed", v.Code, pr.Key, inst.Status, inst.Current)
				}
				completed++
				continue
			}
			if inst.Status != workflow.StatusRunning || inst.Current != pr.WantCurrent {
				t.Errorf("%s %s: %s at %s, want running at %s", v.Code, pr.Key, inst.Status, inst.Current, pr.WantCurrent)
				continue
			}
			step := cat.Item(pr.Start.ItemID).Step(pr.WantCurrent)
			if isTownRole(string(step.Role)) {
				waitingTown++
			} else {
				waitingVillage++
			}
			// The open step, recorded today by its role, raises nothing
			// either (a posting step would: it is left open on purpose).
			hasPosting := slices.ContainsFunc(cat.Item(pr.Start.ItemID).ControlsOn(step.ID), func(c wuxiaov1.Control) bool {
				return c.Type == wuxiaov1.ControlPostingDuration
			})
			if !hasPosting {
				record(Step{ID: step.ID, Role: string(step.Role)})
			}
			if pr.Key == "seal" {
				if step.TimeLimit == nil || step.TimeLimit.Days != 1 {
					t.Errorf("%s: the step meant to fall overdue has limit %+v, want one working day", v.Code, step.TimeLimit)
				}
			}
		}
		if completed < 2 || waitingTown < 2 || waitingVillage < 2 {
			t.Errorf("%s: %d completed, %d waiting on the town, %d on the village; want at least 2 each", v.Code, completed, waitingTown, waitingVillage)
		}
	}
}

// Complaints pass the intake's own checks, two different categories.
func TestPlanComplaintsPassTheIntakeChecks(t *testing.T) {
	for _, v := range sampleVillages(t) {
		p := NewPlan(v, runDays[0])
		if len(p.Complaints) != 2 || p.Complaints[0].Category == p.Complaints[1].Category {
			t.Fatalf("%s: complaints %+v", v.Code, p.Complaints)
		}
		for _, c := range p.Complaints {
			if !c.Category.Valid() {
				t.Errorf("%s: category %s", v.Code, c.Category)
			}
			if fe := complaint.ValidateIntakeDescription(c.Description); fe != nil {
				t.Errorf("%s: %q: %v", v.Code, c.Description, fe)
			}
			if !strings.Contains(c.Description, v.Name) || !strings.HasPrefix(c.ClientAddr, "203.0.113.") {
				t.Errorf("%s: complaint %+v", v.Code, c)
			}
		}
	}
}
