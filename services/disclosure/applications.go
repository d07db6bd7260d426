package disclosure

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/api/divcode"
	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Villagers' applications (一跑) on 流程到哪了: the workflow's application
// events become the 办理进度 block of the process page. The events carry
// nothing personal; every event sets only its own columns of the
// process's row, and of two events of one kind the later (by the time it
// carries) wins, so redeliveries and reordering converge.

// applicationTypes are the application events the portal consumes.
var applicationTypes = map[string]bool{
	eventsv1.TypeApplicationFiled:           true,
	eventsv1.TypeApplicationMaterialsAsked:  true,
	eventsv1.TypeApplicationSupplemented:    true,
	eventsv1.TypeApplicationAppointmentMade: true,
}

// Application is what the portal knows of a process's application.
type Application struct {
	// Channel is eventsv1's "portal" or "on-behalf"; "" until the filed
	// event arrived.
	Channel        string
	FiledAt        *time.Time
	Missing        []string
	RequestedAt    *time.Time
	SupplementedAt *time.Time
	// The latest appointment, when AppointmentRecordedAt is set.
	VisitNeeded           bool
	AppointmentAt         *time.Time
	AppointmentPlace      string
	AppointmentRecordedAt *time.Time
}

// projectApplication applies one application event of a village's
// process. An event naming no valid village, or a process stored under
// another village, is a Permanent error.
func (s *Service) projectApplication(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if !divcode.Valid(ev.Village) {
		return events.Permanent(fmt.Errorf("event %s: village %q is not a 12-digit code", ev.ID, ev.Village))
	}
	var (
		ref   eventsv1.InstanceRef
		apply func() (int64, error)
	)
	switch ev.Type {
	case eventsv1.TypeApplicationFiled:
		var d eventsv1.ApplicationFiled
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		ref = d.InstanceRef
		channel := d.Channel
		if channel != "on-behalf" {
			channel = "portal"
		}
		apply = func() (int64, error) {
			return exec(ctx, tx, `UPDATE applications SET channel = $2, filed_at = $3
				WHERE instance_id = $1 AND filed_at IS NULL`, d.InstanceID, channel, d.FiledAt)
		}
	case eventsv1.TypeApplicationMaterialsAsked:
		var d eventsv1.ApplicationMaterialsRequested
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		ref = d.InstanceRef
		// Names of materials only; scrubbed like every public text.
		missing := make([]string, 0, len(d.Missing))
		for _, m := range d.Missing {
			if m = strings.TrimSpace(scrub(m)); m != "" {
				missing = append(missing, m)
			}
		}
		apply = func() (int64, error) {
			return exec(ctx, tx, `UPDATE applications SET missing = $2, requested_at = $3
				WHERE instance_id = $1 AND (requested_at IS NULL OR requested_at < $3)`, d.InstanceID, missing, d.RequestedAt)
		}
	case eventsv1.TypeApplicationSupplemented:
		var d eventsv1.ApplicationSupplemented
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		ref = d.InstanceRef
		apply = func() (int64, error) {
			return exec(ctx, tx, `UPDATE applications SET supplemented_at = $2
				WHERE instance_id = $1 AND (supplemented_at IS NULL OR supplemented_at < $2)`, d.InstanceID, d.SupplementedAt)
		}
	case eventsv1.TypeApplicationAppointmentMade:
		var d eventsv1.ApplicationAppointment
		if err := ev.Decode(&d); err != nil {
			return events.Permanent(err)
		}
		ref = d.InstanceRef
		at, place := d.At, strings.TrimSpace(scrub(d.Place))
		if !d.VisitNeeded {
			at, place = nil, ""
		}
		apply = func() (int64, error) {
			// A later appointment replaces an earlier one.
			return exec(ctx, tx, `UPDATE applications SET visit_needed = $2, appointment_at = $3, appointment_place = $4,
				appointment_recorded_at = $5
				WHERE instance_id = $1 AND (appointment_recorded_at IS NULL OR appointment_recorded_at < $5)`,
				d.InstanceID, d.VisitNeeded, at, place, d.RecordedAt)
		}
	default:
		return nil
	}
	if ref.InstanceID == "" || ref.TrackingNumber == "" || ref.ItemID == "" {
		return events.Permanent(fmt.Errorf("event %s: no instance, tracking number or item", ev.ID))
	}
	created, err := s.ensureProcess(ctx, tx, ev, ref)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO applications (instance_id, village) VALUES ($1, $2)
		ON CONFLICT (instance_id) DO NOTHING`, ref.InstanceID, ev.Village); err != nil {
		return err
	}
	changed, err := apply()
	if err != nil {
		return err
	}
	if created+changed == 0 {
		return nil // a redelivery: nothing the portal shows changed
	}
	return touchVillage(ctx, tx, ev.Village)
}

// loadApplication reads a process's application; nil when the process is
// no application (no application event arrived).
func (s *Service) loadApplication(ctx context.Context, instanceID string) (*Application, error) {
	var a Application
	err := s.Pool.QueryRow(ctx, `SELECT channel, filed_at, missing, requested_at, supplemented_at,
		visit_needed, appointment_at, appointment_place, appointment_recorded_at
		FROM applications WHERE instance_id = $1`, instanceID).Scan(
		&a.Channel, &a.FiledAt, &a.Missing, &a.RequestedAt, &a.SupplementedAt,
		&a.VisitNeeded, &a.AppointmentAt, &a.AppointmentPlace, &a.AppointmentRecordedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmtErr("reading application", err)
	}
	return &a, nil
}

// applicationStage is one line of the 办理进度 block.
type applicationStage struct {
	Label  string
	Detail string
	// Items are the materials asked for (names only).
	Items []string
	At    string
	// Current marks the line the applicant acts on now.
	Current bool
}

// applicationStages are the 办理进度 lines of an application, in the
// order they happen; the last one is current unless the process ended.
func applicationStages(a *Application, status string) []applicationStage {
	if a == nil {
		return nil
	}
	day := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(tz.Shanghai).Format("2006-01-02 15:04")
	}
	var out []applicationStage
	filed := applicationStage{Label: "已受理", At: day(a.FiledAt)}
	switch a.Channel {
	case "on-behalf":
		filed.Detail = "（由村（社区）干部代办提交）"
	case "portal":
		filed.Detail = "（本人在线申请）"
	}
	out = append(out, filed)
	if a.RequestedAt != nil {
		out = append(out, applicationStage{Label: "需补充材料",
			Detail: "（共" + strconv.Itoa(len(a.Missing)) + "项，请凭受理回执在线补充）",
			Items:  a.Missing, At: day(a.RequestedAt)})
	}
	// A supplement before the (latest) request answered an earlier one.
	if a.SupplementedAt != nil && (a.RequestedAt == nil || !a.SupplementedAt.Before(*a.RequestedAt)) {
		out = append(out, applicationStage{Label: "已补充", Detail: "（材料已在线补充，等待审核）", At: day(a.SupplementedAt)})
	}
	if a.AppointmentRecordedAt != nil {
		st := applicationStage{Label: "办理安排", At: day(a.AppointmentRecordedAt)}
		switch {
		case a.VisitNeeded && a.AppointmentAt != nil:
			place := a.AppointmentPlace
			if place == "" {
				place = "村（社区）便民服务点"
			}
			st.Detail = "：请于 " + day(a.AppointmentAt) + " 到" + place + "办理，请带齐材料原件。"
		default:
			st.Detail = "：无需到场，办结后可在本页查看办理结果。"
		}
		out = append(out, st)
	}
	if status == ProcessRunning {
		out[len(out)-1].Current = true
	}
	return out
}
