package workflow

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// sampleCatalog loads the shipped sample catalog (config/samples), so the
// engine is tested against the items platform engineers actually apply.
func sampleCatalog(t testing.TB) *Catalog {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "powercatalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc wuxiaov1.PowerCatalog
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatal(err)
	}
	return &Catalog{wuxiaov1.ResolvedCatalog{Name: pc.Name, PowerCatalogSpec: pc.Spec}}
}

const (
	town    = "xikou"
	village = "330213100201"
)

func cadre(role string) Actor {
	return Actor{ID: "id-" + role, Name: "干部" + role, Role: role, Town: town, Village: village}
}

func newEngine(t testing.TB) *Engine {
	cal, err := NewCalendar(CalendarFile{})
	if err != nil {
		t.Fatal(err)
	}
	return &Engine{Catalog: sampleCatalog(t), Calendar: cal}
}

// run completes steps one after another, each `gap` after the previous, and
// returns the warnings raised.
type stepDo struct {
	step, role string
	after      time.Duration
	next       string
	evidence   string // kind of evidence attached to this step before completing it
}

func runSteps(t *testing.T, e *Engine, inst *Instance, now time.Time, steps []stepDo, in CompleteInput) ([]Warning, time.Time) {
	t.Helper()
	var all []Warning
	for _, s := range steps {
		now = now.Add(s.after)
		if s.evidence != "" {
			inst.Evidence = append(inst.Evidence, Evidence{StepID: s.step, Kind: s.evidence, Name: s.evidence + ".pdf"})
		}
		c := in
		c.StepID, c.Next, c.Now = s.step, s.next, now
		w, _, err := e.Complete(inst, cadre(s.role), c)
		if err != nil {
			t.Fatalf("completing %s: %v", s.step, err)
		}
		all = append(all, w...)
	}
	return all, now
}

func rules(ws []Warning) string {
	var r []string
	for _, w := range ws {
		r = append(r, w.StepID+":"+w.Rule)
	}
	return strings.Join(r, " ")
}

// The whole 五议两公开 flow: proposal → joint meeting → plan posted ≥15 days →
// members' review → representatives' resolution → result posted ≥3 days →
// implementation.
func TestFiveDeliberationsTwoPublicationsFlow(t *testing.T) {
	day := 24 * time.Hour
	flow := func(planPosting, resultPosting time.Duration, withResolution bool) []stepDo {
		ev := ""
		if withResolution {
			ev = "minutes"
		}
		return []stepDo{
			{step: "propose", role: "secretary", after: time.Hour},
			{step: "joint-meeting", role: "secretary", after: 2 * day},
			{step: "plan-posting", role: "director", after: planPosting},
			{step: "members-review", role: "secretary", after: 2 * day, evidence: "minutes"},
			{step: "representatives-resolution", role: "director", after: 2 * day, evidence: ev},
			{step: "result-posting", role: "director", after: resultPosting},
			{step: "implementation", role: "director", after: day, evidence: "contract"},
		}
	}
	cases := []struct {
		name    string
		steps   []stepDo
		amount  int64
		warning string
	}{
		{"by the book", flow(16*day, 4*day, true), 8_000_000, ""},
		{"plan posted only 10 days", flow(10*day, 4*day, true), 0, "plan-posting:posting-duration"},
		{"result posted 2 days", flow(16*day, 2*day, true), 0, "result-posting:posting-duration"},
		{"resolution without minutes", flow(16*day, 4*day, false), 0, "representatives-resolution:evidence-required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			start := time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai) // a Monday
			inst, timers, err := e.Start(cadre("secretary"), StartInput{ItemID: "decision-major-matters", Village: village,
				Title: "村道硬化工程", AmountFen: tc.amount, Now: start})
			if err != nil {
				t.Fatal(err)
			}
			if inst.Current != "propose" || len(timers) != 2 {
				t.Fatalf("start: current %s timers %+v", inst.Current, timers)
			}
			ws, _ := runSteps(t, e, inst, start, tc.steps, CompleteInput{Thresholds: DefaultThresholds})
			if got := rules(ws); got != tc.warning {
				t.Errorf("warnings %q, want %q", got, tc.warning)
			}
			if inst.Status != StatusCompleted || inst.Current != "" || inst.EndedAt == nil || len(inst.Steps) != 7 {
				t.Errorf("instance not completed: %+v", inst)
			}
			for _, w := range ws {
				if w.Norm == "" || w.Basis == "" {
					t.Errorf("warning %s carries no norm and basis", w.Rule)
				}
			}
		})
	}
}

func TestWarningRules(t *testing.T) {
	day := 24 * time.Hour
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai)
	funds := func(amountYuan int64, steps []stepDo, in CompleteInput) string {
		e := newEngine(t)
		inst, _, err := e.Start(cadre("committee-member"), StartInput{ItemID: "funds-expenditure", Village: village,
			Title: "购买办公用品", AmountFen: amountYuan * 100, Payee: &Payee{Name: "张*明", IDHash: "h"}, Now: start})
		if err != nil {
			t.Fatal(err)
		}
		in.Thresholds = DefaultThresholds
		ws, _ := runSteps(t, e, inst, start, steps, in)
		return rules(ws)
	}
	base := []stepDo{
		{step: "apply", role: "committee-member", after: time.Hour, evidence: "invoice"},
		{step: "supervision-review", role: "supervision-chair", after: day},
	}
	cases := []struct {
		name  string
		steps []stepDo
		in    CompleteInput
		want  string
	}{
		{"small amount, straight to payment", append(base,
			stepDo{step: "approval", role: "director", after: day, next: "payment"},
			stepDo{step: "payment", role: "cashier", after: day}), CompleteInput{}, ""},
		{"large amount without a resolution", append(base,
			stepDo{step: "approval", role: "director", after: day, next: "payment"}), CompleteInput{}, "approval:amount-threshold"},
		{"payee is the actor's relative", append(base,
			stepDo{step: "approval", role: "director", after: day, next: "payment"},
			stepDo{step: "payment", role: "cashier", after: day}), CompleteInput{ActorIsPayeeRelative: true},
			"payment:conflict-of-interest"},
		{"apply without vouchers", []stepDo{{step: "apply", role: "committee-member", after: time.Hour}}, CompleteInput{}, "apply:evidence-required"},
		{"review overdue (3 working days)", []stepDo{
			{step: "apply", role: "committee-member", after: time.Hour, evidence: "invoice"},
			{step: "supervision-review", role: "supervision-chair", after: 6 * day}}, CompleteInput{}, "supervision-review:deadline"},
	}
	amounts := map[string]int64{"large amount without a resolution": 80_000}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			amount := int64(3000)
			if a, ok := amounts[tc.name]; ok {
				amount = a
			}
			if got := funds(amount, tc.steps, tc.in); got != tc.want {
				t.Errorf("warnings %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLargeAmountSatisfiedByResolutionStep(t *testing.T) {
	e := newEngine(t)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai)
	inst, _, _ := e.Start(cadre("committee-member"), StartInput{ItemID: "funds-expenditure", Village: village, Title: "修缮", AmountFen: 30_000_000, Now: start})
	ws, _ := runSteps(t, e, inst, start, []stepDo{
		{step: "apply", role: "committee-member", after: time.Hour, evidence: "invoice"},
		{step: "supervision-review", role: "supervision-chair", after: time.Hour},
		// 300,000 yuan: above both thresholds; the resolution comes after approval.
		{step: "approval", role: "director", after: time.Hour, next: "representatives-resolution", evidence: EvidenceResolution},
		// Skipping town approval for an amount above the town threshold is a warning.
		{step: "representatives-resolution", role: "director", after: time.Hour, next: "payment"},
	}, CompleteInput{Thresholds: DefaultThresholds})
	if got := rules(ws); got != "representatives-resolution:amount-threshold" {
		t.Fatalf("warnings %q", got)
	}
	if !strings.Contains(ws[0].Message, "镇（街道）审批") {
		t.Errorf("message %q does not name the town approval", ws[0].Message)
	}
}

func TestOutOfOrderAndRefusals(t *testing.T) {
	e := newEngine(t)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai)
	inst, _, _ := e.Start(cadre("secretary"), StartInput{ItemID: "decision-major-matters", Village: village, Title: "议题", Now: now})

	refusals := []struct {
		name   string
		actor  Actor
		in     CompleteInput
		status int
		typ    string
	}{
		{"wrong role", cadre("director"), CompleteInput{StepID: "propose"}, 403, "wrong-role"},
		{"other village", Actor{ID: "x", Role: "secretary", Town: town, Village: "330213100202"}, CompleteInput{StepID: "propose"}, 403, "other-village"},
		{"other town", Actor{ID: "x", Role: "secretary", Town: "jinping", Village: village}, CompleteInput{StepID: "propose"}, 403, "other-town"},
		{"skip without a reason", cadre("director"), CompleteInput{StepID: "plan-posting"}, 409, "out-of-order"},
		{"unknown step", cadre("secretary"), CompleteInput{StepID: "nope"}, 404, "unknown-step"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			r.in.Now = now
			_, _, err := e.Complete(inst, r.actor, r.in)
			var pe *domainerr.Error
			if !errors.As(err, &pe) || pe.Status != r.status || pe.Type != r.typ {
				t.Fatalf("got %v, want %d %s", err, r.status, r.typ)
			}
		})
	}
	if inst.Current != "propose" || len(inst.Steps) != 1 {
		t.Fatalf("a refused action changed the instance: %+v", inst)
	}

	// Recorded out of order with a reason: allowed, warned, the process stays.
	ws, _, err := e.Complete(inst, cadre("director"), CompleteInput{StepID: "plan-posting", OutOfOrder: true, Reason: "纸质公示已完成", Now: now})
	if err != nil || rules(ws) != "plan-posting:order" || inst.Current != "propose" {
		t.Fatalf("out of order: %v %q current %s", err, rules(ws), inst.Current)
	}
	// ...and cannot be recorded twice.
	if _, _, err := e.Complete(inst, cadre("director"), CompleteInput{StepID: "plan-posting", OutOfOrder: true, Reason: "again", Now: now}); err == nil {
		t.Fatal("recorded the same step twice")
	}
	// A villager cannot start a cadre's process; nothing outside the list can start.
	if _, _, err := e.Start(Actor{ID: "v", Role: "villager", Town: town, Village: village}, StartInput{ItemID: "decision-major-matters", Village: village, Title: "x", Now: now}); err == nil {
		t.Fatal("a villager started a major decision")
	}
	_, _, err = e.Start(cadre("secretary"), StartInput{ItemID: "sell-the-village-pond", Village: village, Title: "x", Now: now})
	if pe := (*domainerr.Error)(nil); !errors.As(err, &pe) || pe.Type != "not-on-the-list" || !strings.Contains(pe.Detail, "清单之外无权力") {
		t.Fatalf("off-list item: %v", err)
	}
}

func TestOverdueFiresOnlyForOpenSteps(t *testing.T) {
	e := newEngine(t)
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai)
	inst, timers, _ := e.Start(cadre("secretary"), StartInput{ItemID: "decision-major-matters", Village: village, Title: "议题", Now: now})
	var esc Timer
	for _, tm := range timers {
		if tm.Kind == TimerEscalation {
			esc = tm
		}
	}
	// 5 working days from Monday 2 March end with Monday 9 March.
	if want := time.Date(2026, 3, 10, 0, 0, 0, 0, tz.Shanghai); !esc.FireAt.Equal(want) {
		t.Fatalf("escalation at %s, want %s", esc.FireAt, want)
	}
	if w := e.Overdue(inst, esc); w == nil || w.Rule != "deadline" || !w.Public {
		t.Fatalf("open step past due raised %+v", w)
	}
	if _, _, err := e.Complete(inst, cadre("secretary"), CompleteInput{StepID: "propose", Now: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if w := e.Overdue(inst, esc); w != nil {
		t.Fatalf("a completed step still raised %+v", w)
	}
}

func TestWithdraw(t *testing.T) {
	e := newEngine(t)
	now := time.Now()
	inst, _, _ := e.Start(cadre("secretary"), StartInput{ItemID: "decision-major-matters", Village: village, Title: "议题", Now: now})
	if err := e.Withdraw(inst, cadre("accountant"), "不再需要", now); err == nil {
		t.Fatal("an accountant withdrew someone else's process")
	}
	if err := e.Withdraw(inst, cadre("secretary"), "", now); err == nil {
		t.Fatal("withdrew without a reason")
	}
	if err := e.Withdraw(inst, cadre("director"), "议题合并", now); err != nil || inst.Status != StatusWithdrawn {
		t.Fatalf("director withdraw: %v %s", err, inst.Status)
	}
}
