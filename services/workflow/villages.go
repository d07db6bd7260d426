package workflow

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/tenant"
)

// HandleTenantEvent is the consumer handler of the town's tenant stream:
// the workflow learns the villages the operator registers (code, name, the
// thresholds of the amount controls) and archives, and acknowledges each on
// the tenant-acks stream in the same transaction, once per village
// generation (a replay or an older generation applies and sends nothing).
// A registration without thresholds (an older operator's) keeps those
// stored. Other types are ignored; another town's village or a malformed
// event is Permanent.
func (s *Service) HandleTenantEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	v, err := tenant.Decode(ev, s.Town)
	if err != nil {
		return err
	}
	switch v.Op {
	case tenant.Register:
		var live bool
		// The village's thresholds when the event carries them (an older
		// operator's does not: the stored ones stay; a new row gets the
		// defaults).
		th, carried := DefaultThresholds, v.Thresholds != nil
		if carried {
			th = Thresholds{RepresentativesResolutionAboveYuan: v.Thresholds.RepresentativesResolutionAboveYuan,
				TownApprovalAboveYuan: v.Thresholds.TownApprovalAboveYuan}
		}
		err := tx.QueryRow(ctx, `INSERT INTO villages (code, town, name, generation, uid,
				representatives_resolution_above_yuan, town_approval_above_yuan) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, generation = EXCLUDED.generation, uid = EXCLUDED.uid,
				archived_at = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_at END,
				archived_generation = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_generation END,
				representatives_resolution_above_yuan = CASE WHEN $8 THEN EXCLUDED.representatives_resolution_above_yuan
					ELSE villages.representatives_resolution_above_yuan END,
				town_approval_above_yuan = CASE WHEN $8 THEN EXCLUDED.town_approval_above_yuan ELSE villages.town_approval_above_yuan END,
				updated_at = now()
			WHERE villages.town = EXCLUDED.town AND `+tenant.RegisterGuard+`
			RETURNING archived_at IS NULL`, v.Code, s.Town, v.Name, v.Generation, v.UID,
			th.RepresentativesResolutionAboveYuan, th.TownApprovalAboveYuan, carried).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // not newer: acknowledged when it was applied
		}
		if err != nil {
			return err
		}
		return tenant.Ack(ctx, tx, "workflow", v, tenant.State(live), s.now())
	case tenant.Archive:
		err := tx.QueryRow(ctx, `INSERT INTO villages (code, town, name, generation, uid, archived_at, archived_generation)
			VALUES ($1, $2, $3, $4, $5, $6, $4)
			ON CONFLICT (code) DO UPDATE SET archived_at = EXCLUDED.archived_at,
				archived_generation = EXCLUDED.archived_generation, updated_at = now()
			WHERE villages.town = EXCLUDED.town AND `+tenant.ArchiveGuard+`
			RETURNING true`, v.Code, s.Town, v.Name, v.Generation, v.UID, v.At).Scan(new(bool))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return tenant.Ack(ctx, tx, "workflow", v, eventsv1.StateArchived, s.now())
	}
	return nil
}

var _ events.Handler = (*Service)(nil).HandleTenantEvent

// villageHere reports whether code is a village of this town: once the
// operator has announced any village, only those it announced; before, any
// code (a town set up by hand).
func (s *Service) villageHere(ctx context.Context, code string) (bool, error) {
	var known, closed bool
	err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM villages WHERE code = $1),
		EXISTS (SELECT FROM villages WHERE generation > 0)`, code).Scan(&known, &closed)
	return known || !closed, err
}

// refuseArchived refuses to start a process in an archived village, and,
// once the operator has announced any village of the town (a registration
// with a generation), in a village the town's registry does not hold: a
// code of another town's village is unknown here (404). Before any
// announcement (a town set up by hand) every code is accepted. Processes
// under way in an archived village are left as they are.
func refuseArchived(ctx context.Context, tx pgx.Tx, code string) error {
	var known, archived, closed bool
	err := tx.QueryRow(ctx, villageOpenSQL, code).Scan(&known, &archived, &closed)
	if err != nil {
		return err
	}
	return villageRefusal(code, known, archived, closed)
}

// villageOpenSQL reads what villageRefusal decides on.
const villageOpenSQL = `SELECT EXISTS (SELECT FROM villages WHERE code = $1),
			EXISTS (SELECT FROM villages WHERE code = $1 AND archived_at IS NOT NULL),
			EXISTS (SELECT FROM villages WHERE generation > 0)`

// villageRefusal is refuseArchived's answer given what villageOpenSQL read.
func villageRefusal(code string, known, archived, closed bool) error {
	switch {
	case archived:
		return domainerr.Refuse(409, "village-archived", "Village archived",
			"village %s is archived (该村已撤并/归档): no new process can be started there; its records are kept", code)
	case closed && !known:
		return domainerr.Refuse(404, "unknown-village", "Unknown village",
			"village %s is not a village of this town", code)
	}
	return nil
}
