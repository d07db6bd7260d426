package workflow

// The notice board (四务公开 / 公示栏): a process that enters a step with a
// posting-duration control posts it at that moment, and the posting comes
// down when the step is recorded or the process withdrawn. Each posting is
// recorded (postings_store.go, table postings) and announced with
// cn.wuxiao.workflow.posting.published.v1 / .ended.v1 in the same
// transaction as the change that caused it; the disclosure service shows
// it on the village portal's 公示栏. The posting-duration control then
// measures the real posting, from its recorded start to the step's
// completion (CompleteInput.PostedAt).
//
// Which steps post: exactly those with a posting-duration control. The
// catalog's disclosure rules name no step, so they cannot decide when; a
// notice-board rule whose forDays equals the control's minDays names what
// is posted, otherwise the step's name does. The notice-board rules no
// posting step carries (e.g. 村规民约全文, 选举结果) are results: a process
// that completes posts them at that moment (kind result, within any
// withinDays), for forDays — they come down by themselves then, without
// an event — or for good when forDays is 0.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// PostingSection is the portal section postings appear in.
const PostingSection = "notice-board"

// PostingCalendar is how a posting's days are counted: natural days, as
// DaysBetween counts them and as the norms (公示期不少于N天) mean them.
const PostingCalendar = "calendar"

// PostingRule is what a step's posting must be.
type PostingRule struct {
	MinDays int
	What    string
	Section string
}

// PostingRuleOf says whether step of item requires a posting, and which:
// a step with a posting-duration control does, for the longest minDays of
// its controls.
func PostingRuleOf(item *wuxiaov1.PowerItem, step string) (PostingRule, bool) {
	st := item.Step(step)
	if st == nil {
		return PostingRule{}, false
	}
	rule := PostingRule{Section: PostingSection}
	for _, c := range item.ControlsOn(step) {
		if c.Type == wuxiaov1.ControlPostingDuration && c.MinDays != nil && int(*c.MinDays) > rule.MinDays {
			rule.MinDays = int(*c.MinDays)
		}
	}
	if rule.MinDays == 0 {
		return PostingRule{}, false
	}
	rule.What = st.Name
	for _, d := range item.Disclosure {
		if d.Section == wuxiaov1.PortalSection(PostingSection) && int(d.ForDays) == rule.MinDays {
			rule.What = d.What
			break
		}
	}
	return rule, true
}

// PlannedEnd is the earliest moment a posting started at start may come
// down: the beginning (Shanghai) of the day minDays after the day it went
// up, so that DaysBetween(start, end) == minDays.
func PlannedEnd(start time.Time, minDays int) time.Time {
	d := start.In(tz.Shanghai)
	return time.Date(d.Year(), d.Month(), d.Day()+minDays, 0, 0, 0, 0, tz.Shanghai)
}

// ResultRules are the notice-board disclosure rules of item that no
// posting step carries: posted when a process of it completes.
func ResultRules(item *wuxiaov1.PowerItem) []wuxiaov1.DisclosureRule {
	carried := map[string]bool{}
	for _, st := range item.Steps {
		if r, ok := PostingRuleOf(item, st.ID); ok {
			carried[r.What] = true
		}
	}
	var out []wuxiaov1.DisclosureRule
	for _, d := range item.Disclosure {
		if d.Section == wuxiaov1.PortalSection(PostingSection) && !carried[d.What] {
			out = append(out, d)
		}
	}
	return out
}

// Posting is one posting on a village's notice board.
type Posting struct {
	ID           string     `json:"id"`
	InstanceID   string     `json:"instanceId"`
	Village      string     `json:"village"`
	ItemID       string     `json:"itemId"`
	Kind         string     `json:"kind"` // eventsv1.PostingKindStep or PostingKindResult
	StepID       string     `json:"stepId"`
	Visit        int        `json:"visit"`
	What         string     `json:"what"`
	Section      string     `json:"section"`
	Title        string     `json:"title"`
	Text         string     `json:"text"`
	MinDays      int        `json:"minDays"`
	Calendar     string     `json:"calendar"`
	StartAt      time.Time  `json:"startAt"`
	PlannedEndAt *time.Time `json:"plannedEndAt,omitempty"`
	EndedAt      *time.Time `json:"endedAt,omitempty"`
	EndReason    string     `json:"endReason,omitempty"`
}

// publicText is text of a process made fit for the notice board: the
// payee's name masked wherever it appears, ID and phone numbers masked
// (personal.ScrubText, the one path of every public output).
func publicText(inst *Instance, s string) string {
	if inst.Payee != nil {
		if name := personal.NormalizeName(inst.Payee.Name); name != "" {
			s = strings.ReplaceAll(s, name, personal.MaskName(name))
			if name != inst.Payee.Name && inst.Payee.Name != "" {
				s = strings.ReplaceAll(s, inst.Payee.Name, personal.MaskName(name))
			}
		}
	}
	return personal.ScrubText(s)
}

// newPosting is the posting inst makes on entering its current step at now.
func newPosting(item *wuxiaov1.PowerItem, inst *Instance, rule PostingRule, now time.Time) Posting {
	st := item.Step(inst.Current)
	var b strings.Builder
	fmt.Fprintf(&b, "“%s”事项（办件编号 %s）进入“%s”环节，现予公示：%s。", item.Name, inst.TrackingNumber, st.Name, rule.What)
	fmt.Fprintf(&b, "办理主体：%s；办理方式：%s。", st.Handler, st.Method)
	writeFacts(&b, inst)
	end := PlannedEnd(now, rule.MinDays)
	fmt.Fprintf(&b, "公示期不少于%d天，自%s起至%s止。如有异议，请在公示期内提出。", rule.MinDays,
		now.In(tz.Shanghai).Format("2006年1月2日"), end.AddDate(0, 0, -1).Format("2006年1月2日"))
	return Posting{ID: uuid.NewString(), InstanceID: inst.ID, Village: inst.Village, ItemID: inst.ItemID, Kind: eventsv1.PostingKindStep,
		StepID: inst.Current, Visit: visits(inst, inst.Current), What: rule.What, Section: rule.Section, Title: publicText(inst, inst.Title),
		Text: publicText(inst, b.String()), MinDays: rule.MinDays, Calendar: PostingCalendar, StartAt: now, PlannedEndAt: &end}
}

// newResultPosting is the posting of a disclosure rule d when inst
// completed at now, after its step last.
func newResultPosting(item *wuxiaov1.PowerItem, inst *Instance, last string, d wuxiaov1.DisclosureRule, now time.Time) Posting {
	var b strings.Builder
	fmt.Fprintf(&b, "“%s”事项（办件编号 %s）已办结，现予公开：%s。", item.Name, inst.TrackingNumber, d.What)
	writeFacts(&b, inst)
	p := Posting{ID: uuid.NewString(), InstanceID: inst.ID, Village: inst.Village, ItemID: inst.ItemID, Kind: eventsv1.PostingKindResult,
		StepID: last, Visit: 1, What: d.What, Section: PostingSection, Title: publicText(inst, inst.Title),
		MinDays: int(d.ForDays), Calendar: PostingCalendar, StartAt: now}
	if d.ForDays > 0 {
		end := PlannedEnd(now, int(d.ForDays))
		p.PlannedEndAt = &end
		fmt.Fprintf(&b, "公开期%d天，自%s起至%s止。", d.ForDays, now.In(tz.Shanghai).Format("2006年1月2日"), end.AddDate(0, 0, -1).Format("2006年1月2日"))
	} else {
		fmt.Fprintf(&b, "自%s起长期公开。", now.In(tz.Shanghai).Format("2006年1月2日"))
	}
	p.Text = publicText(inst, b.String())
	return p
}

// writeFacts adds the amount and the (masked) payee of inst to a posting's text.
func writeFacts(b *strings.Builder, inst *Instance) {
	if inst.AmountFen > 0 {
		fmt.Fprintf(b, "涉及金额：%s元。", yuan(inst.AmountFen))
	}
	if inst.Payee != nil && inst.Payee.Name != "" {
		fmt.Fprintf(b, "对象：%s。", personal.MaskName(inst.Payee.Name))
	}
}

// syncPostings brings inst's postings in line with where it stands after
// a change at now: a posting whose step is no longer the current one (or
// whose process ended) comes down, and a current step that requires a
// posting gets one. Called in the change's transaction, after its events.
func (s *Service) syncPostings(ctx context.Context, tx pgx.Tx, inst *Instance, now time.Time) error {
	open, err := openPostings(ctx, tx, inst.ID)
	if err != nil {
		return err
	}
	return s.syncPostingsTo(ctx, txWriter{tx}, inst, open, now)
}

// syncPostingsTo is syncPostings given the instance's open postings (read
// under its row lock in this transaction), writing to w.
func (s *Service) syncPostingsTo(ctx context.Context, w writer, inst *Instance, open []Posting, now time.Time) error {
	current := false
	for _, p := range open {
		if inst.Status == StatusRunning && p.StepID == inst.Current && p.Visit == visits(inst, inst.Current) {
			current = true
			continue
		}
		reason := eventsv1.PostingEndedStepCompleted
		if inst.Status == StatusWithdrawn {
			reason = eventsv1.PostingEndedWithdrawn
		}
		if err := endPosting(ctx, w, p.ID, now, reason); err != nil {
			return err
		}
		days := DaysBetween(p.StartAt, now)
		if err := s.publishTo(ctx, w, inst, eventsv1.TypePostingEnded, eventsv1.PostingEnded{InstanceRef: ref(inst),
			PostingID: p.ID, StepID: p.StepID, Reason: reason, EndedAt: now, Days: days,
			// Short is what the control warns of: a withdrawn process's
			// posting is not short, it is gone.
			Short: reason == eventsv1.PostingEndedStepCompleted && days < p.MinDays}); err != nil {
			return err
		}
	}
	item := s.Engine.Catalog.Item(inst.ItemID)
	if current || item == nil {
		return nil
	}
	var posts []Posting
	switch inst.Status {
	case StatusRunning:
		if rule, ok := PostingRuleOf(item, inst.Current); ok {
			posts = append(posts, newPosting(item, inst, rule, now))
		}
	case StatusCompleted:
		// Called once, by the change that completed the process.
		last := ""
		if n := len(inst.Steps); n > 0 {
			last = inst.Steps[n-1].StepID
		}
		for _, d := range ResultRules(item) {
			posts = append(posts, newResultPosting(item, inst, last, d, now))
		}
	}
	for _, p := range posts {
		if err := insertPosting(ctx, w, p); err != nil {
			return err
		}
		stepName := ""
		if st := item.Step(p.StepID); st != nil {
			stepName = st.Name
		}
		if err := s.publishTo(ctx, w, inst, eventsv1.TypePostingPublished, eventsv1.PostingPublished{InstanceRef: ref(inst),
			PostingID: p.ID, Kind: p.Kind, StepID: p.StepID, StepName: stepName, What: p.What, Section: p.Section,
			Title: p.Title, Text: p.Text, MinDays: p.MinDays, Calendar: p.Calendar, StartAt: p.StartAt, PlannedEndAt: p.PlannedEndAt}); err != nil {
			return err
		}
	}
	return nil
}

// Postings lists a village's postings, newest first: the ones up now when
// current, else the ones come down.
func (s *Service) Postings(ctx context.Context, village string, current bool, limit int) ([]Posting, error) {
	ps, err := villagePostings(ctx, s.Pool, village, current, s.now(), limit)
	return ps, fmtErr("reading postings", err)
}
