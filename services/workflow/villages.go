package workflow

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// maxVillageName bounds a registered village's name, in characters.
const maxVillageName = 64

var villageCodePattern = regexp.MustCompile(`^[0-9]{12}$`)

// HandleTenantEvent is the consumer handler of the town's tenant stream:
// the workflow learns the villages the operator registers (code, name) and
// archives, and acknowledges each on the tenant-acks stream in the same
// transaction, once per village generation (a replay or an older
// generation applies and sends nothing). Thresholds stay as SetVillage
// set them. Other types are ignored; another town's village or a malformed
// event is Permanent.
func (s *Service) HandleTenantEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	switch ev.Type {
	case eventsv1.TypeVillageRegistered:
		var v eventsv1.VillageRegistered
		if err := ev.Decode(&v); err != nil {
			return events.Permanent(err)
		}
		name := strings.TrimSpace(v.Name)
		if err := s.checkTenantEvent(ev, v.Town, v.Code, v.Generation); err != nil {
			return err
		}
		if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxVillageName {
			return events.Permanent(fmt.Errorf("event %s: village name %q is empty or longer than %d characters", ev.ID, v.Name, maxVillageName))
		}
		// A new uid is a recreated village: it replaces the row whatever
		// its generation, and is live again.
		var live bool
		err := tx.QueryRow(ctx, `INSERT INTO villages (code, town, name, generation, uid) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, generation = EXCLUDED.generation, uid = EXCLUDED.uid,
				archived_at = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_at END,
				archived_generation = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_generation END,
				updated_at = now()
			WHERE villages.town = EXCLUDED.town AND (villages.generation < EXCLUDED.generation
				OR (villages.uid <> '' AND EXCLUDED.uid <> '' AND villages.uid <> EXCLUDED.uid))
			RETURNING archived_at IS NULL`, v.Code, s.Town, name, v.Generation, v.UID).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // not newer: acknowledged when it was applied
		}
		if err != nil {
			return err
		}
		state := eventsv1.StateLive
		if !live {
			state = eventsv1.StateArchived
		}
		return s.ackVillage(ctx, tx, v.Code, v.UID, v.Generation, state)
	case eventsv1.TypeVillageArchived:
		var v eventsv1.VillageArchived
		if err := ev.Decode(&v); err != nil {
			return events.Permanent(err)
		}
		if err := s.checkTenantEvent(ev, v.Town, v.Code, v.Generation); err != nil {
			return err
		}
		name := strings.TrimSpace(v.Name)
		if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxVillageName {
			name = ""
		}
		// An archival of another uid than the stored one (a predecessor of
		// a recreated village) changes nothing.
		err := tx.QueryRow(ctx, `INSERT INTO villages (code, town, name, generation, uid, archived_at, archived_generation)
			VALUES ($1, $2, $3, $4, $5, $6, $4)
			ON CONFLICT (code) DO UPDATE SET archived_at = EXCLUDED.archived_at,
				archived_generation = EXCLUDED.archived_generation, updated_at = now()
			WHERE villages.town = EXCLUDED.town AND (villages.uid = '' OR EXCLUDED.uid = '' OR villages.uid = EXCLUDED.uid)
				AND (villages.archived_generation IS NULL OR villages.archived_generation < EXCLUDED.archived_generation)
			RETURNING true`, v.Code, s.Town, name, v.Generation, v.UID, ev.Time).Scan(new(bool))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.ackVillage(ctx, tx, v.Code, v.UID, v.Generation, eventsv1.StateArchived)
	}
	return nil
}

var _ events.Handler = (*Service)(nil).HandleTenantEvent

// checkTenantEvent refuses an event that can never be applied.
func (s *Service) checkTenantEvent(ev eventsv1.Event, town, code string, generation int64) error {
	switch {
	case ev.Town != s.Town || town != s.Town:
		return events.Permanent(fmt.Errorf("event %s is about town %q/%q, not %q", ev.ID, ev.Town, town, s.Town))
	case !villageCodePattern.MatchString(code) || (ev.Village != "" && ev.Village != code):
		return events.Permanent(fmt.Errorf("event %s: village %q (envelope %q) is not one 12-digit code", ev.ID, code, ev.Village))
	case generation <= 0:
		return events.Permanent(fmt.Errorf("event %s: generation %d is not positive", ev.ID, generation))
	}
	return nil
}

// ackVillage enqueues the service's acknowledgement on the tenant-acks stream.
func (s *Service) ackVillage(ctx context.Context, tx pgx.Tx, code, uid string, generation int64, state string) error {
	ev, err := eventsv1.NewVillageAck("workflow", s.Town, code, uid, generation, state, s.now())
	if err != nil {
		return events.Permanent(err)
	}
	return events.Enqueue(ctx, tx, eventsv1.Topic(s.Town, eventsv1.StreamTenantAcks), ev)
}

// refuseArchived refuses to start a process in an archived village; its
// processes under way are left as they are.
func refuseArchived(ctx context.Context, tx pgx.Tx, code string) error {
	var archived bool
	err := tx.QueryRow(ctx, `SELECT archived_at IS NOT NULL FROM villages WHERE code = $1`, code).Scan(&archived)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !archived) {
		return nil
	}
	if err != nil {
		return err
	}
	return refuse(409, "village-archived", "Village archived",
		"village %s is archived (该村已撤并/归档): no new process can be started there; its records are kept", code)
}
