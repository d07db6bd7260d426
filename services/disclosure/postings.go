package disclosure

// The notice board (四务公开 / 公示栏): the workflow's postings, consumed
// from the town's workflow stream into the table postings and shown on
// the village portal at /v/{village}/postings — current postings with
// their start and planned end, past ones apart (kept). A posting shows
// from the moment its published event is applied. From a current posting
// a villager can raise an objection (异议): the link opens the complaint
// service's report page for the village with the posting's id
// (/r/{village}?posting=<id>), so the objection goes through the report
// page's abuse protection and stays as confidential as any report; this
// service never sees who objects.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/api/divcode"
	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// postingTypes are the workflow events of the notice board.
var postingTypes = map[string]bool{
	eventsv1.TypePostingPublished: true,
	eventsv1.TypePostingEnded:     true,
}

// projectPosting applies a posting event of a village. A redelivered event
// changes nothing; one naming no valid village, or a posting stored under
// another village, is a Permanent error.
func (s *Service) projectPosting(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if !divcode.Valid(ev.Village) {
		return events.Permanent(fmt.Errorf("event %s: village %q is not a 12-digit code", ev.ID, ev.Village))
	}
	var (
		id, instance string
		apply        func() (int64, error)
	)
	switch ev.Type {
	case eventsv1.TypePostingPublished:
		var d eventsv1.PostingPublished
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		id, instance = d.PostingID, d.InstanceID
		apply = func() (int64, error) {
			// Scrubbed again: the board is a public output like any other.
			kind := d.Kind
			if kind != eventsv1.PostingKindResult {
				kind = eventsv1.PostingKindStep
			}
			return exec(ctx, tx, `UPDATE postings SET tracking_number = $2, item_id = $3, item_name = $4, category = $5,
				step_id = $6, step_name = $7, what = $8, title = $9, body = $10, min_days = $11, start_at = $12, planned_end_at = $13,
				kind = $14 WHERE posting_id = $1 AND start_at IS NULL`, d.PostingID, d.TrackingNumber, d.ItemID, d.ItemName, d.Category,
				d.StepID, d.StepName, scrub(d.What), scrub(d.Title), scrub(d.Text), d.MinDays, d.StartAt, d.PlannedEndAt, kind)
		}
	case eventsv1.TypePostingEnded:
		var d eventsv1.PostingEnded
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		id, instance = d.PostingID, d.InstanceID
		apply = func() (int64, error) {
			return exec(ctx, tx, `UPDATE postings SET ended_at = $2, end_reason = $3, days = $4, short = $5
				WHERE posting_id = $1 AND ended_at IS NULL`, d.PostingID, d.EndedAt, d.Reason, d.Days, d.Short)
		}
	default:
		return nil
	}
	if id == "" || instance == "" {
		return events.Permanent(fmt.Errorf("event %s: no posting or instance id", ev.ID))
	}
	if err := lockVillage(ctx, tx, ev.Village, ev.Town); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO postings (posting_id, village, instance_id) VALUES ($1, $2, $3)
		ON CONFLICT (posting_id) DO NOTHING`, id, ev.Village, instance); err != nil {
		return err
	}
	var stored string
	if err := tx.QueryRow(ctx, `SELECT village FROM postings WHERE posting_id = $1`, id).Scan(&stored); err != nil {
		return err
	}
	if stored != ev.Village {
		return events.Permanent(fmt.Errorf("event %s: posting %s belongs to village %s, not %s", ev.ID, id, stored, ev.Village))
	}
	changed, err := apply()
	if err != nil || changed == 0 {
		return err // a redelivery: nothing the portal shows changed
	}
	return touchVillage(ctx, tx, ev.Village)
}

// Posting is a posting as the portal shows it.
type Posting struct {
	ID, Village, InstanceID, TrackingNumber string
	Kind                                    string // eventsv1.PostingKindStep or PostingKindResult
	ItemID, ItemName, Category              string
	StepID, StepName, What, Title, Text     string
	MinDays                                 int
	StartAt                                 time.Time
	PlannedEndAt                            time.Time
	EndedAt                                 *time.Time
	EndReason                               string
	Days                                    int
	Short                                   bool
}

// Postings lists a village's published postings, newest first: the ones
// up at now when current is true, else the ones come down (a step's
// posting by its ended event, a result posting at its planned end).
func (s *Service) Postings(ctx context.Context, village string, current bool, now time.Time, limit int) ([]Posting, error) {
	rows, err := s.Pool.Query(ctx, `SELECT posting_id, village, instance_id, kind, tracking_number, item_id, item_name, category,
		step_id, step_name, what, title, body, min_days, start_at, planned_end_at, ended_at, end_reason, days, short
		FROM postings WHERE village = $1 AND start_at IS NOT NULL
		AND (ended_at IS NULL AND (kind = 'step' OR planned_end_at IS NULL OR planned_end_at > $2)) = $3
		ORDER BY start_at DESC, posting_id LIMIT $4`, village, now, current, limit)
	if err != nil {
		return nil, fmtErr("reading postings", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Posting, error) {
		var p Posting
		var planned *time.Time
		err := r.Scan(&p.ID, &p.Village, &p.InstanceID, &p.Kind, &p.TrackingNumber, &p.ItemID, &p.ItemName, &p.Category,
			&p.StepID, &p.StepName, &p.What, &p.Title, &p.Text, &p.MinDays, &p.StartAt, &planned, &p.EndedAt, &p.EndReason, &p.Days, &p.Short)
		if planned != nil {
			p.PlannedEndAt = *planned
		}
		return p, err
	})
	return ps, fmtErr("reading postings", err)
}

// How many postings of each list the board shows.
const (
	boardCurrentMax = 100
	boardPastMax    = 50
)

type postingsView struct {
	Village string
	Current []postingRow
	Past    []postingRow
}

type postingRow struct {
	ID, Anchor, Title, What, ItemName, StepName, Text string
	// The period: "<Label>：<Start> 至 <End><Note>", or without End
	// "<Label>：<Start> 起长期公开".
	Label, Start, End, Note         string
	Short                           bool
	ProcessURL, Tracking, ObjectURL string
}

func day(t time.Time) string { return t.In(tz.Shanghai).Format("2006-01-02") }

func (s *Service) postingsView(ctx context.Context, village string, now time.Time) (view, error) {
	cur, err := s.Postings(ctx, village, true, now, boardCurrentMax)
	if err != nil {
		return view{}, err
	}
	past, err := s.Postings(ctx, village, false, now, boardPastMax)
	if err != nil {
		return view{}, err
	}
	pv := postingsView{Village: village}
	row := func(p Posting, current bool) postingRow {
		r := postingRow{ID: p.ID, Anchor: "p-" + p.ID, Title: p.Title, What: p.What, ItemName: p.ItemName, StepName: p.StepName,
			Text: p.Text, Label: "公示期", Start: day(p.StartAt), Short: p.Short, Tracking: p.TrackingNumber}
		// The planned end is the first day the posting may come down; the
		// last day it is up is the one before.
		lastDay := ""
		if !p.PlannedEndAt.IsZero() {
			lastDay = day(p.PlannedEndAt.Add(-time.Second))
		}
		switch {
		case p.Kind == eventsv1.PostingKindResult:
			r.Label, r.End = "公开期", lastDay
			if lastDay != "" {
				r.Note = fmt.Sprintf("（%d天）", p.MinDays)
				if !current {
					r.Note = fmt.Sprintf("，共%d天，公开期满", p.MinDays)
				}
			}
		case current:
			r.End, r.Note = lastDay, fmt.Sprintf("（不少于%d天）", p.MinDays)
		default:
			r.End, r.Note = day(*p.EndedAt), fmt.Sprintf("，共%d天（规定不少于%d天）", p.Days, p.MinDays)
			if reason := map[string]string{eventsv1.PostingEndedStepCompleted: "公示期结束，进入下一环节",
				eventsv1.PostingEndedWithdrawn: "流程已撤回"}[p.EndReason]; reason != "" {
				r.Note += "，" + reason
			}
		}
		if p.TrackingNumber != "" {
			r.ProcessURL = "/v/" + village + "/processes/" + url.PathEscape(p.TrackingNumber)
		}
		if current {
			r.ObjectURL = "/r/" + village + "?posting=" + url.QueryEscape(p.ID)
		}
		return r
	}
	for _, p := range cur {
		pv.Current = append(pv.Current, row(p, true))
	}
	for _, p := range past {
		pv.Past = append(pv.Past, row(p, false))
	}
	return view{Template: "postings", Title: "公示栏", Tab: tabPostings, Data: pv}, nil
}

// portalPostings serves the board. Result postings come down at their
// planned end, always the start of a day (Shanghai), so the page is keyed
// by the day as well as by the village's version.
func (s *Service) portalPostings(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	s.servePage(w, r, "postings?day="+day(now), nil, func(ctx context.Context, village string) (view, error) {
		return s.postingsView(ctx, village, now)
	})
}

// processPosting is a posting as a process's page lists it, linking to
// it on the board.
type processPosting struct {
	What, Period, URL string
}

// processPostings are the published postings of a process, oldest first.
func (s *Service) processPostings(ctx context.Context, village, instanceID string) ([]processPosting, error) {
	rows, err := s.Pool.Query(ctx, `SELECT posting_id, what, start_at, planned_end_at, ended_at FROM postings
		WHERE village = $1 AND instance_id = $2 AND start_at IS NOT NULL ORDER BY start_at, posting_id`, village, instanceID)
	if err != nil {
		return nil, fmtErr("reading a process's postings", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (processPosting, error) {
		var id, what string
		var start time.Time
		var planned, ended *time.Time
		if err := r.Scan(&id, &what, &start, &planned, &ended); err != nil {
			return processPosting{}, err
		}
		p := processPosting{What: what, URL: "/v/" + village + "/postings#p-" + id}
		switch {
		case ended != nil:
			p.Period = day(start) + " 至 " + day(*ended)
		case planned != nil:
			p.Period = day(start) + " 至 " + day(planned.Add(-time.Second))
		default:
			p.Period = day(start) + " 起长期公开"
		}
		return p, nil
	})
	return ps, fmtErr("reading a process's postings", err)
}
