package complaint

// Objections (异议) to a posting on a village's notice board (公示栏).
// The disclosure portal's 公示栏 links each current posting to this
// service's report page as /r/{village}?posting=<posting id>; the page
// says that the report is an objection to that posting — naming it when
// this service has seen its announcement on the workflow stream
// (HandleWorkflowEvent, table postings) — and sends the id with the form.
// So an objection goes through everything a report goes through — the
// abuse guard (rate limits, flood proof of work), the intake's
// validation, anonymity by default, the reporter seen by discipline staff
// only — and is routed like any complaint: the village's liaison officer
// (村务监督委员会) and the town's discipline office handle it, and the
// villager gets its tracking code. The disclosure service never sees who
// objects. The complaint keeps the posting id (doc postingId, column
// posting_id, ComplaintFiled.postingId) and what was posted (doc
// postingTitle); the JSON intake takes the id as "posting". A posting
// announced under another village is refused; one not announced yet (the
// stream lags) is accepted by its id alone.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/api/divcode"
	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/personal"
)

// ValidPostingID: a posting id is the workflow's UUID.
func ValidPostingID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && len(s) == 36 && u != uuid.Nil
}

// postingParam is the posting a report page link names, "" when none or
// malformed (the page is then an ordinary report page; nothing malformed
// is shown back).
func postingParam(r *http.Request) string {
	p := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("posting")))
	if !ValidPostingID(p) {
		return ""
	}
	return p
}

// IsObjection reports whether c is an objection to a notice-board posting.
func (c *Complaint) IsObjection() bool { return c.PostingID != "" }

// Posting is a notice-board posting as this service knows it.
type Posting struct {
	ID, Village, What, Title, ItemName string
	StartAt, PlannedEndAt, EndedAt     *time.Time
}

// Label is how a page and the complaint name the posting: what was
// posted and about what.
func (p Posting) Label() string {
	s := p.What
	if p.Title != "" {
		s += "（" + p.Title + "）"
	}
	return personal.ScrubText(s)
}

// HandleWorkflowEvent is the consumer handler of the town's workflow
// stream: it keeps the postings (other events of the town are ignored;
// any event of another town is refused, whatever its type).
func (s *Service) HandleWorkflowEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if s.Town != "" && ev.Town != s.Town {
		return events.Permanent(fmt.Errorf("event %s is about town %q, not %q", ev.ID, ev.Town, s.Town))
	}
	if ev.Type != eventsv1.TypePostingPublished && ev.Type != eventsv1.TypePostingEnded {
		return nil
	}
	if !divcode.Valid(ev.Village) {
		return events.Permanent(fmt.Errorf("event %s: village %q is not a 12-digit code", ev.ID, ev.Village))
	}
	var id string
	var apply func() error
	switch ev.Type {
	case eventsv1.TypePostingPublished:
		var d eventsv1.PostingPublished
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		id = d.PostingID
		apply = func() error {
			_, err := tx.Exec(ctx, `UPDATE postings SET what = $2, title = $3, item_name = $4, start_at = $5, planned_end_at = $6
				WHERE posting_id = $1 AND start_at IS NULL`, id, d.What, d.Title, d.ItemName, d.StartAt, d.PlannedEndAt)
			return err
		}
	default:
		var d eventsv1.PostingEnded
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		id = d.PostingID
		apply = func() error {
			_, err := tx.Exec(ctx, `UPDATE postings SET ended_at = $2 WHERE posting_id = $1 AND ended_at IS NULL`, id, d.EndedAt)
			return err
		}
	}
	if !ValidPostingID(id) {
		return events.Permanent(fmt.Errorf("event %s: posting id %q is not a UUID", ev.ID, id))
	}
	var village string
	if err := tx.QueryRow(ctx, `INSERT INTO postings (posting_id, village) VALUES ($1, $2)
		ON CONFLICT (posting_id) DO UPDATE SET village = postings.village RETURNING village`, id, ev.Village).Scan(&village); err != nil {
		return err
	}
	if village != ev.Village {
		return events.Permanent(fmt.Errorf("event %s: posting %s belongs to village %s, not %s", ev.ID, id, village, ev.Village))
	}
	return apply()
}

// errOtherVillagePosting: the posting objected to is another village's.
var errOtherVillagePosting = domainerr.Refuse(422, "posting-other-village", "Posting of another village",
	"the posting objected to is on another village's notice board")

// postingOf reads a posting objected to in village: nil when this service
// has not seen it announced; errOtherVillagePosting when it is another
// village's.
func postingOf(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, village, id string) (*Posting, error) {
	p := Posting{ID: id}
	err := q.QueryRow(ctx, `SELECT village, what, title, item_name, start_at, planned_end_at, ended_at FROM postings WHERE posting_id = $1`, id).
		Scan(&p.Village, &p.What, &p.Title, &p.ItemName, &p.StartAt, &p.PlannedEndAt, &p.EndedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	case p.Village != village:
		return nil, errOtherVillagePosting
	}
	return &p, nil
}

// Posting returns the posting id of village as this service knows it
// (nil: not announced yet).
func (s *Service) Posting(ctx context.Context, village, id string) (*Posting, error) {
	p, err := postingOf(ctx, s.Pool, village, id)
	return p, fmtErr("reading posting", err)
}
