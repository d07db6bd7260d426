package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/api/identity"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// sampleItems is how many items the sample catalog lists (the seed's 46):
// the walk fails if the catalog grows or shrinks without this changing, so
// that a new item is never silently left unwalked.
const sampleItems = 46

// walkPath is one way through an item: its steps from the first to an end.
type walkPath []string

func (p walkPath) String() string { return strings.Join(p, ">") }

// itemPaths returns every path of an item from its first step to a step
// with no next step, visiting no step twice (a rework loop adds nothing a
// straight path does not already walk).
func itemPaths(item *wuxiaov1.PowerItem) []walkPath {
	var out []walkPath
	var visit func(path walkPath)
	visit = func(path walkPath) {
		s := item.Step(path[len(path)-1])
		if s == nil {
			return
		}
		if len(s.Next) == 0 {
			out = append(out, slices.Clone(path))
			return
		}
		for _, n := range s.Next {
			if !slices.Contains(path, n) {
				visit(append(path, n))
			}
		}
	}
	visit(walkPath{item.Steps[0].ID})
	return out
}

// walkActor is the person holding role in the walk's village: village
// officials and villagers carry the village, town staff only the town (as
// api/identity's metadata says).
func walkActor(role wuxiaov1.ActorRole) Actor {
	a := Actor{ID: "walk-" + string(role), Name: "走查" + string(role), Role: string(role), Town: town, Village: village}
	switch r := identity.Role(role); {
	case r.IsTownRole():
		a.Village = ""
	case r.IsDistrictRole():
		a.Town, a.Village = "", ""
	}
	return a
}

// walkAmountFen is the amount a path is started with: above the highest
// threshold whose named step (村民代表会议决议, 镇审批) the path goes
// through, so that large sums are walked where the process provides for
// them, and a small sum otherwise.
func walkAmountFen(item *wuxiaov1.PowerItem, path walkPath, th Thresholds) int64 {
	amount := int64(800_00)
	for _, c := range item.Controls {
		if c.Type != wuxiaov1.ControlAmountThreshold {
			continue
		}
		need, limit := thresholdOf(c, th)
		if slices.Contains(path, need) && limit+1000_00 > amount {
			amount = limit + 1000_00
		}
	}
	return amount
}

// thresholdOf is what an amount-threshold control asks for above which
// amount (fen), as the engine reads it.
func thresholdOf(c wuxiaov1.Control, th Thresholds) (need string, limitFen int64) {
	if c.Threshold == ThresholdTownApproval {
		return ThresholdTownApproval, th.TownApprovalAboveYuan * 100
	}
	return EvidenceResolution, th.RepresentativesResolutionAboveYuan * 100
}

// TestWalkEveryItem walks every path of every item of the sample catalog,
// loaded as the service loads it (the resolved document the operator
// mounts), through the Service on the real PostgreSQL, each step done by an
// actor holding the role the catalog names, and satisfying what the
// controls ask: evidence files uploaded where evidence is required, postings
// left up for their minimum days, large amounts sent through the
// representatives' resolution and the town's approval where the path goes
// there (no document attached in advance), and every posting step's
// posting on the notice board for its days. Every instance must end completed
// and raise no violation warning: a warning here means the catalog, or the
// engine, asks for something the item's own process cannot give.
func TestWalkEveryItem(t *testing.T) {
	cat, err := LoadCatalog(testinfra.CatalogFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Items) != sampleItems {
		t.Fatalf("the sample catalog has %d items, the walk expects %d: update sampleItems (and make sure every new item walks)", len(cat.Items), sampleItems)
	}
	w := newWalker(t, cat)

	started := time.Now()
	items, paths, steps := 0, 0, 0
	for i := range cat.Items {
		item := &cat.Items[i]
		ps := itemPaths(item)
		if len(ps) == 0 {
			t.Errorf("item %s: no path from its first step %s reaches an end: give some step no next step", item.ID, item.Steps[0].ID)
			continue
		}
		walked := map[string]bool{}
		for _, p := range ps {
			name := item.ID
			if len(ps) > 1 {
				name += "/" + p.String()
			}
			t.Run(name, func(t *testing.T) {
				warnings, err := w.walk(item, p)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range warnings {
					t.Errorf("item %s step %s: warning %s (control %s): %s", item.ID, w.StepID, w.Rule, w.ControlID, w.Message)
				}
			})
			for _, id := range p {
				walked[id] = true
			}
			paths++
			steps += len(p)
		}
		for _, st := range item.Steps {
			if !walked[st.ID] {
				t.Errorf("item %s: step %s is on no path from the first step to an end, so no process can ever do it", item.ID, st.ID)
			}
		}
		items++
	}
	if items != sampleItems {
		t.Errorf("walked %d items, want %d", items, sampleItems)
	}
	t.Logf("walked %d items, %d paths, %d steps in %s", items, paths, steps, time.Since(started).Round(time.Millisecond))
}

// TestWalkNamesWhatIsStuck: an item nobody can start, or whose later step
// nobody can do, fails the walk with the item, the step and the role. (The
// catalog checks refuse such items before any service loads them, so these
// are built past them, as a hand-edited ConfigMap would be.)
func TestWalkNamesWhatIsStuck(t *testing.T) {
	sample, err := LoadCatalog(testinfra.CatalogFile(t))
	if err != nil {
		t.Fatal(err)
	}
	base := sample.Item("service-certificate")
	broken := func(id string, change func(*wuxiaov1.PowerItem)) wuxiaov1.PowerItem {
		it := *base
		it.ID, it.Steps = id, slices.Clone(base.Steps)
		change(&it)
		return it
	}
	cat := &Catalog{wuxiaov1.ResolvedCatalog{Name: "broken", PowerCatalogSpec: wuxiaov1.PowerCatalogSpec{Version: "t", Items: []wuxiaov1.PowerItem{
		broken("town-it-starts", func(it *wuxiaov1.PowerItem) { it.Steps[0].Role = "town-it" }),
		broken("district-approves", func(it *wuxiaov1.PowerItem) { it.Steps[2].Role = "district-admin" }),
	}}}}
	w := newWalker(t, cat)
	for _, tc := range []struct {
		item string
		want string
	}{
		{"town-it-starts", "item town-it-starts cannot be started: its first step apply (提出申请) is the role town-it's, who was refused: "},
		{"district-approves", "item district-approves cannot be finished: step approval (审批) is the role district-admin's, who was refused: "},
	} {
		item := cat.Item(tc.item)
		_, err := w.walk(item, itemPaths(item)[0])
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("walking %s: %v, want an error starting %q", tc.item, err, tc.want)
		}
	}
}

// walker runs a catalog's items through a Service on a fresh database, in
// one village registered with the default thresholds.
type walker struct {
	s   *Service
	clk *clock
	th  Thresholds
}

func newWalker(t *testing.T, cat *Catalog) *walker {
	t.Helper()
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	pool, err := store.Open(ctx, testinfra.Postgres(t), "workflow")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	cal, err := NewCalendar(CalendarFile{})
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Engine: &Engine{Catalog: cat, Calendar: cal}, Pool: pool, Town: town, IDHashKey: []byte("test-key"),
		AuditKey: testAuditKey, Log: slog.New(slog.DiscardHandler), Now: clk.Now}
	if err := s.SetVillage(ctx, village, "走查村", DefaultThresholds); err != nil {
		t.Fatal(err)
	}
	return &walker{s: s, clk: clk, th: DefaultThresholds}
}

// walk starts one instance of item and does the steps of path in order,
// returning the warnings raised, or an error naming the item and the step
// nobody could do.
func (w *walker) walk(item *wuxiaov1.PowerItem, path walkPath) ([]Warning, error) {
	ctx := context.Background()
	first := item.Step(path[0])
	inst, err := w.s.Start(ctx, walkActor(first.Role), village, StartRequest{ItemID: item.ID, Title: "走查：" + item.Name,
		AmountFen: walkAmountFen(item, path, w.th)})
	if err != nil {
		return nil, fmt.Errorf("item %s cannot be started: its first step %s (%s) is the role %s's, who was refused: %w", item.ID, first.ID, first.Name, first.Role, err)
	}
	var warnings []Warning
	for i, id := range path {
		step := item.Step(id)
		actor := walkActor(step.Role)
		if inst.Current != id {
			return nil, fmt.Errorf("item %s: after %v the current step is %q, want %s", item.ID, path[:i], inst.Current, id)
		}
		entered := w.clk.Now()
		// A posting stays up for its minimum days; any other step is done
		// within the hour.
		wait := time.Hour
		for _, c := range item.ControlsOn(id) {
			switch {
			case c.Type == wuxiaov1.ControlEvidenceRequired:
				if _, err := w.s.AddEvidenceFile(ctx, actor, inst.ID, EvidenceFileInput{StepID: id,
					Name: fmt.Sprintf("%s-%s.pdf", item.ID, id), Data: samplePDF()}); err != nil {
					return nil, fmt.Errorf("item %s cannot be finished: step %s (%s) needs evidence, which the role %s may not attach: %w", item.ID, id, step.Name, step.Role, err)
				}
			case c.Type == wuxiaov1.ControlPostingDuration && c.MinDays != nil:
				wait = max(wait, time.Duration(*c.MinDays)*24*time.Hour)
			}
		}
		w.clk.Set(entered.Add(wait))
		next := ""
		if i+1 < len(path) && len(step.Next) > 1 {
			next = path[i+1]
		}
		var ws []Warning
		inst, ws, err = w.s.Complete(ctx, actor, inst.ID, id, CompleteRequest{Next: next, Note: "走查"})
		if err != nil {
			return nil, fmt.Errorf("item %s cannot be finished: step %s (%s) is the role %s's, who was refused: %w", item.ID, id, step.Name, step.Role, err)
		}
		warnings = append(warnings, ws...)
	}
	if inst.Status != StatusCompleted {
		return nil, fmt.Errorf("item %s: after its last step %s the instance is %s at %q, want completed", item.ID, path[len(path)-1], inst.Status, inst.Current)
	}
	stored, err := w.s.Get(ctx, inst.ID)
	if err != nil {
		return nil, fmt.Errorf("item %s: reading the instance back: %w", item.ID, err)
	}
	if stored.Status != StatusCompleted || len(stored.Steps) != len(path) {
		return nil, fmt.Errorf("item %s: stored as %s with %d steps, want completed with %d", item.ID, stored.Status, len(stored.Steps), len(path))
	}
	// Every posting step went up on the notice board and stayed its days.
	ended, err := w.s.Postings(ctx, village, false, 1000)
	if err != nil {
		return nil, err
	}
	for _, id := range path {
		rule, ok := PostingRuleOf(item, id)
		if !ok {
			continue
		}
		i := slices.IndexFunc(ended, func(p Posting) bool { return p.InstanceID == inst.ID && p.StepID == id })
		if i < 0 {
			return nil, fmt.Errorf("item %s: step %s requires a posting, and none was on the notice board", item.ID, id)
		}
		if p := ended[i]; p.EndedAt == nil || DaysBetween(p.StartAt, *p.EndedAt) < rule.MinDays {
			return nil, fmt.Errorf("item %s: the posting of step %s was up from %s to %v, less than %d days", item.ID, id, p.StartAt, p.EndedAt, rule.MinDays)
		}
	}
	return warnings, nil
}

// TestWalkLargeSumPastTheResolution: the walk's large sums go without
// warnings because they are sent on to the representatives' resolution and
// the town's approval; going past either still warns, at the step that
// does.
func TestWalkLargeSumPastTheResolution(t *testing.T) {
	e := newEngine(t)
	base := []stepDo{
		{step: "apply", role: "committee-member", after: time.Hour, evidence: "invoice"},
		{step: "supervision-review", role: "supervision-chair", after: time.Hour},
	}
	for _, tc := range []struct {
		name       string
		amountYuan int64
		steps      []stepDo
		want       string
	}{
		{"sent on to the resolution and the town", 300_000, append(slices.Clone(base),
			stepDo{step: "approval", role: "director", after: time.Hour, next: "representatives-resolution"},
			stepDo{step: "representatives-resolution", role: "director", after: time.Hour, next: "town-approval"},
			stepDo{step: "town-approval", role: "town-finance", after: time.Hour},
			stepDo{step: "payment", role: "cashier", after: time.Hour}), ""},
		{"past the resolution", 80_000, append(slices.Clone(base),
			stepDo{step: "approval", role: "director", after: time.Hour, next: "payment"},
			stepDo{step: "payment", role: "cashier", after: time.Hour}), "approval:amount-threshold payment:amount-threshold"},
		{"past the town's approval", 300_000, append(slices.Clone(base),
			stepDo{step: "approval", role: "director", after: time.Hour, next: "representatives-resolution"},
			stepDo{step: "representatives-resolution", role: "director", after: time.Hour, next: "payment"},
			stepDo{step: "payment", role: "cashier", after: time.Hour}), "representatives-resolution:amount-threshold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai)
			inst, _, err := e.Start(walkActor("committee-member"), StartInput{ItemID: "funds-expenditure", Village: village, Title: "修缮",
				AmountFen: tc.amountYuan * 100, Now: start})
			if err != nil {
				t.Fatal(err)
			}
			ws, _ := runSteps(t, e, inst, start, tc.steps, CompleteInput{Thresholds: DefaultThresholds})
			if got := rules(ws); got != tc.want {
				t.Errorf("warnings %q, want %q", got, tc.want)
			}
		})
	}
}
