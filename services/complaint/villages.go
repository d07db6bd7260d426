package complaint

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// maxVillageName bounds a village's display name, in characters.
const maxVillageName = 64

var villageCodePattern = regexp.MustCompile(`^[0-9]{12}$`)

// HandleTenantEvent is the consumer handler of the town's tenant stream: it
// keeps the name of every village the operator registers, for the report
// page. A name is replaced only by a later generation of the Village, so
// the handler is idempotent; other event types are ignored, and another
// town's village or a malformed event is a Permanent error.
//
// Each registration applied, and each archival, is acknowledged on the
// tenant-acks stream in the same transaction (outbox), once per village
// generation: a replay or an older generation applies nothing and sends
// nothing.
func (s *Service) HandleTenantEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	switch ev.Type {
	case eventsv1.TypeVillageRegistered:
	case eventsv1.TypeVillageArchived:
		return s.archiveVillage(ctx, tx, ev)
	default:
		return nil
	}
	var v eventsv1.VillageRegistered
	if err := ev.Decode(&v); err != nil {
		return events.Permanent(err)
	}
	name := strings.TrimSpace(v.Name)
	switch {
	case s.Town != "" && (ev.Town != s.Town || v.Town != s.Town):
		return events.Permanent(fmt.Errorf("event %s is about town %q/%q, not %q", ev.ID, ev.Town, v.Town, s.Town))
	case !villageCodePattern.MatchString(v.Code) || (ev.Village != "" && ev.Village != v.Code):
		return events.Permanent(fmt.Errorf("event %s: village %q (envelope %q) is not one 12-digit code", ev.ID, v.Code, ev.Village))
	case name == "" || utf8.RuneCountInString(name) > maxVillageName || !utf8.ValidString(name):
		return events.Permanent(fmt.Errorf("event %s: village name %q is empty or longer than %d characters", ev.ID, v.Name, maxVillageName))
	case v.Generation <= 0:
		return events.Permanent(fmt.Errorf("event %s: generation %d is not positive", ev.ID, v.Generation))
	}
	// A new uid is a recreated village: it replaces the row whatever its
	// generation, and is live again.
	var live bool
	err := tx.QueryRow(ctx, `INSERT INTO villages (code, name, generation, uid) VALUES ($1, $2, $3, $4)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, generation = EXCLUDED.generation, uid = EXCLUDED.uid,
			archived_at = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_at END,
			archived_generation = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_generation END
		WHERE villages.generation < EXCLUDED.generation OR (villages.uid <> '' AND EXCLUDED.uid <> '' AND villages.uid <> EXCLUDED.uid)
		RETURNING archived_at IS NULL`, v.Code, name, v.Generation, v.UID).Scan(&live)
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
	return s.ackVillage(ctx, tx, ev.Town, v.Code, v.UID, v.Generation, state)
}

// archiveVillage marks a village archived (its complaints stay) and
// acknowledges it, once per generation of the Village.
func (s *Service) archiveVillage(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	var v eventsv1.VillageArchived
	if err := ev.Decode(&v); err != nil {
		return events.Permanent(err)
	}
	switch {
	case s.Town != "" && (ev.Town != s.Town || v.Town != s.Town):
		return events.Permanent(fmt.Errorf("event %s is about town %q/%q, not %q", ev.ID, ev.Town, v.Town, s.Town))
	case !villageCodePattern.MatchString(v.Code) || (ev.Village != "" && ev.Village != v.Code):
		return events.Permanent(fmt.Errorf("event %s: village %q (envelope %q) is not one 12-digit code", ev.ID, v.Code, ev.Village))
	case v.Generation <= 0:
		return events.Permanent(fmt.Errorf("event %s: generation %d is not positive", ev.ID, v.Generation))
	}
	name := strings.TrimSpace(v.Name)
	if name == "" || utf8.RuneCountInString(name) > maxVillageName || !utf8.ValidString(name) {
		name = v.Code
	}
	// An archival of another uid than the stored one (a predecessor of a
	// recreated village) changes nothing.
	err := tx.QueryRow(ctx, `INSERT INTO villages (code, name, generation, uid, archived_at, archived_generation)
		VALUES ($1, $2, $3, $4, $5, $3)
		ON CONFLICT (code) DO UPDATE SET archived_at = EXCLUDED.archived_at, archived_generation = EXCLUDED.archived_generation
		WHERE (villages.uid = '' OR EXCLUDED.uid = '' OR villages.uid = EXCLUDED.uid)
			AND (villages.archived_generation IS NULL OR villages.archived_generation < EXCLUDED.archived_generation)
		RETURNING true`, v.Code, name, v.Generation, v.UID, ev.Time).Scan(new(bool))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.ackVillage(ctx, tx, ev.Town, v.Code, v.UID, v.Generation, eventsv1.StateArchived)
}

// ackVillage enqueues the service's acknowledgement on the tenant-acks stream.
func (s *Service) ackVillage(ctx context.Context, tx pgx.Tx, town, code, uid string, generation int64, state string) error {
	ev, err := eventsv1.NewVillageAck("complaint", town, code, uid, generation, state, s.now())
	if err != nil {
		return events.Permanent(err)
	}
	return events.Enqueue(ctx, tx, eventsv1.Topic(town, eventsv1.StreamTenantAcks), ev)
}

// villageArchived refuses a complaint about an archived village.
func villageArchived(code string) *Error {
	return refuse(409, "village-archived", "Village archived",
		"该村已撤并/归档，不再受理新的举报，请直接向镇纪委反映 (village %s is archived: it takes no new complaints)", code)
}

// refuseArchived returns villageArchived when the village is archived.
func refuseArchived(ctx context.Context, tx pgx.Tx, code string) error {
	var archived bool
	err := tx.QueryRow(ctx, `SELECT archived_at IS NOT NULL FROM villages WHERE code = $1`, code).Scan(&archived)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if archived {
		return villageArchived(code)
	}
	return nil
}

// VillageArchived reports whether village is archived.
func (s *Service) VillageArchived(ctx context.Context, village string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var archived bool
	err := s.Pool.QueryRow(ctx, `SELECT archived_at IS NOT NULL FROM villages WHERE code = $1`, village).Scan(&archived)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return archived, err
}

// VillageName is the registered name of village, "" when none is known.
func (s *Service) VillageName(ctx context.Context, village string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var name string
	err := s.Pool.QueryRow(ctx, `SELECT name FROM villages WHERE code = $1`, village).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return name, err
}
