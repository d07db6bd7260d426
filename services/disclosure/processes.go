package disclosure

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/api/divcode"
	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// The 流程到哪了 projection: what the portal shows of a village's processes,
// built from the town's workflow events. Every change is keyed by what the
// event itself carries, so a redelivered event, even under a new event id,
// changes nothing; events of one process arriving out of order converge to
// the same rows.

// Process statuses.
const (
	ProcessRunning   = "running"
	ProcessCompleted = "completed"
	ProcessWithdrawn = "withdrawn"
)

// projectedTypes are the workflow events the projection consumes.
var projectedTypes = map[string]bool{
	eventsv1.TypeInstanceStarted:   true,
	eventsv1.TypeStepCompleted:     true,
	eventsv1.TypeInstanceCompleted: true,
	eventsv1.TypeInstanceWithdrawn: true,
	eventsv1.TypeWarningRaised:     true,
}

// Process is a village's process as the portal shows it.
type Process struct {
	InstanceID     string
	TrackingNumber string
	Village        string
	ItemID         string
	ItemName       string
	Category       string
	CatalogVersion string
	Title          string
	Status         string
	// CurrentStep is the step the process waits on; empty before the first
	// step is done (the item's first step) and once it ended.
	CurrentStep    string
	StartedAt      *time.Time
	CompletedAt    *time.Time
	WithdrawnAt    *time.Time
	WithdrawReason string
	Steps          []ProcessStep
	Warnings       []ProcessWarning
}

// ProcessStep is one completion of a step.
type ProcessStep struct {
	StepID      string
	StepName    string
	CompletedAt time.Time
}

// ProcessWarning is a public violation warning (违规预警) on a process.
type ProcessWarning struct {
	ID       string
	StepID   string
	Rule     string
	Message  string
	Norm     string
	Basis    string
	RaisedAt time.Time
}

// projectProcess applies one workflow event of a village's process. A
// private warning, or an event naming no process, is ignored; an event
// naming no valid village or conflicting with what is stored (the process
// under another village) is a Permanent error.
func (s *Service) projectProcess(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	var (
		ref     eventsv1.InstanceRef
		apply   func() (int64, error)
		decoded any
	)
	switch ev.Type {
	case eventsv1.TypeInstanceStarted:
		var d eventsv1.InstanceStarted
		decoded = &d
		apply = func() (int64, error) {
			return exec(ctx, tx, `UPDATE processes SET title = $2, started_at = $3
				WHERE instance_id = $1 AND started_at IS NULL`, d.InstanceID, d.Title, d.StartedAt)
		}
	case eventsv1.TypeStepCompleted:
		var d eventsv1.StepCompleted
		decoded = &d
		apply = func() (int64, error) {
			n, err := exec(ctx, tx, `INSERT INTO process_steps (instance_id, step_id, step_name, completed_at)
				VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, d.InstanceID, d.StepID, d.StepName, d.CompletedAt)
			if err != nil {
				return 0, err
			}
			// The latest completion decides where the process stands.
			m, err := exec(ctx, tx, `UPDATE processes SET current_step = $2, last_step_at = $3
				WHERE instance_id = $1 AND status = 'running' AND (last_step_at IS NULL OR last_step_at < $3)`,
				d.InstanceID, d.NextStep, d.CompletedAt)
			return n + m, err
		}
	case eventsv1.TypeInstanceCompleted:
		var d eventsv1.InstanceCompleted
		decoded = &d
		apply = func() (int64, error) {
			return exec(ctx, tx, `UPDATE processes SET status = 'completed', completed_at = $2, current_step = '',
				title = CASE WHEN title = '' THEN $3 ELSE title END
				WHERE instance_id = $1 AND status = 'running'`, d.InstanceID, d.CompletedAt, d.Title)
		}
	case eventsv1.TypeInstanceWithdrawn:
		var d eventsv1.InstanceWithdrawn
		decoded = &d
		apply = func() (int64, error) {
			return exec(ctx, tx, `UPDATE processes SET status = 'withdrawn', withdrawn_at = $2, withdraw_reason = $3,
				current_step = '' WHERE instance_id = $1 AND status = 'running'`, d.InstanceID, d.WithdrawnAt, d.Reason)
		}
	case eventsv1.TypeWarningRaised:
		var d eventsv1.WarningRaised
		decoded = &d
		apply = func() (int64, error) {
			if !d.Public {
				return 0, nil
			}
			return exec(ctx, tx, `INSERT INTO process_warnings (warning_id, instance_id, step_id, rule, message, norm, basis, raised_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (warning_id) DO NOTHING`,
				d.WarningID, d.InstanceID, d.StepID, d.Rule, d.Message, d.Norm, d.Basis, d.RaisedAt)
		}
	default:
		return nil
	}
	if err := ev.Decode(decoded); err != nil {
		return events.Permanent(err)
	}
	switch d := decoded.(type) {
	case *eventsv1.InstanceStarted:
		ref = d.InstanceRef
	case *eventsv1.StepCompleted:
		ref = d.InstanceRef
	case *eventsv1.InstanceCompleted:
		ref = d.InstanceRef
	case *eventsv1.InstanceWithdrawn:
		ref = d.InstanceRef
	case *eventsv1.WarningRaised:
		if !d.Public || d.WarningID == "" {
			return nil // only public warnings are shown
		}
		ref = d.InstanceRef
	}
	if !divcode.Valid(ev.Village) {
		return events.Permanent(fmt.Errorf("event %s: village %q is not a 12-digit code", ev.ID, ev.Village))
	}
	if ref.InstanceID == "" || ref.TrackingNumber == "" || ref.ItemID == "" {
		// Nothing to show it under; a completion is still booked.
		if s.Log != nil {
			s.Log.WarnContext(ctx, "workflow event not projected: no instance, tracking number or item", "event", ev.ID, "type", ev.Type)
		}
		return nil
	}
	created, err := s.ensureProcess(ctx, tx, ev, ref)
	if err != nil {
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

// ensureProcess locks ev's village and makes the process row ref names
// (1 when it created it); a process stored under another village is a
// Permanent error.
func (s *Service) ensureProcess(ctx context.Context, tx pgx.Tx, ev eventsv1.Event, ref eventsv1.InstanceRef) (int64, error) {
	if err := lockVillage(ctx, tx, ev.Village, ev.Town); err != nil {
		return 0, err
	}
	created, err := exec(ctx, tx, `INSERT INTO processes (instance_id, tracking_number, village, item_id, item_name, category, catalog_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (instance_id) DO NOTHING`,
		ref.InstanceID, ref.TrackingNumber, ev.Village, ref.ItemID, ref.ItemName, ref.Category, ref.CatalogVersion)
	if err != nil {
		return 0, err
	}
	var storedVillage string
	if err := tx.QueryRow(ctx, `SELECT village FROM processes WHERE instance_id = $1`, ref.InstanceID).Scan(&storedVillage); err != nil {
		return 0, err
	}
	if storedVillage != ev.Village {
		// Never let one village's event touch another's process.
		return 0, events.Permanent(fmt.Errorf("event %s: instance %s belongs to village %s, not %s", ev.ID, ref.InstanceID, storedVillage, ev.Village))
	}
	return created, nil
}

// exec runs a statement and counts the rows it changed.
func exec(ctx context.Context, tx pgx.Tx, sql string, args ...any) (int64, error) {
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// trackingNumber bounds what a lookup accepts before it reaches the
// database.
var trackingNumber = regexp.MustCompile(`^[0-9A-Za-z-]{1,64}$`)

// LoadProcess reads the process with a tracking number in village, with its
// steps and public warnings; a process of another village is ErrNotFound.
func (s *Service) LoadProcess(ctx context.Context, village, tracking string) (Process, error) {
	if !trackingNumber.MatchString(tracking) {
		return Process{}, ErrNotFound
	}
	var p Process
	err := s.Pool.QueryRow(ctx, `SELECT instance_id, tracking_number, village, item_id, item_name, category, catalog_version,
		title, status, current_step, started_at, completed_at, withdrawn_at, withdraw_reason
		FROM processes WHERE village = $1 AND tracking_number = $2
		ORDER BY started_at DESC NULLS LAST, instance_id LIMIT 1`, village, tracking).Scan(
		&p.InstanceID, &p.TrackingNumber, &p.Village, &p.ItemID, &p.ItemName, &p.Category, &p.CatalogVersion,
		&p.Title, &p.Status, &p.CurrentStep, &p.StartedAt, &p.CompletedAt, &p.WithdrawnAt, &p.WithdrawReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return Process{}, ErrNotFound
	}
	if err != nil {
		return Process{}, fmtErr("reading process", err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT step_id, step_name, completed_at FROM process_steps
		WHERE instance_id = $1 ORDER BY completed_at, step_id`, p.InstanceID)
	if err != nil {
		return Process{}, fmtErr("reading process steps", err)
	}
	if p.Steps, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ProcessStep]); err != nil {
		return Process{}, fmtErr("reading process steps", err)
	}
	rows, err = s.Pool.Query(ctx, `SELECT warning_id, step_id, rule, message, norm, basis, raised_at FROM process_warnings
		WHERE instance_id = $1 ORDER BY raised_at, warning_id`, p.InstanceID)
	if err != nil {
		return Process{}, fmtErr("reading process warnings", err)
	}
	if p.Warnings, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ProcessWarning]); err != nil {
		return Process{}, fmtErr("reading process warnings", err)
	}
	return p, nil
}
