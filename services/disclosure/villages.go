package disclosure

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// MaxVillageName bounds a village's display name, in characters.
const MaxVillageName = 64

// HandleTenantEvent is the consumer handler of the town's tenant stream:
// a village registered by the operator gets its row (so its portal exists
// from then on) and its name, which the portal shows instead of the code.
// The name is kept only from a later generation of the Village than the
// one stored, so replays and reordering change nothing; a changed name
// bumps the village's version, so every cached portal page is re-rendered.
// Other event types are ignored; another town's village or a malformed
// event is a Permanent error.
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
	if err := checkVillageRegistered(ev, v, s.Town); err != nil {
		return events.Permanent(err)
	}
	if err := lockVillage(ctx, tx, v.Code, s.Town); err != nil {
		return err
	}
	var name, uid string
	var generation int64
	var archived bool
	if err := tx.QueryRow(ctx, `SELECT name, name_generation, uid, archived_at IS NOT NULL FROM villages WHERE code = $1`, v.Code).
		Scan(&name, &generation, &uid, &archived); err != nil {
		return err
	}
	// A new uid is a recreated village: it replaces the row whatever its
	// generation, and is live again.
	recreated := uid != "" && v.UID != "" && uid != v.UID
	if v.Generation <= generation && !recreated {
		return nil // seen already, or older than what is stored
	}
	newName := strings.TrimSpace(v.Name)
	if recreated {
		archived = false
	}
	if _, err := tx.Exec(ctx, `UPDATE villages SET name = $2, name_generation = $3, uid = $4,
		archived_at = CASE WHEN $5 THEN archived_at END, archived_generation = CASE WHEN $5 THEN archived_generation END
		WHERE code = $1`, v.Code, newName, v.Generation, v.UID, archived); err != nil {
		return err
	}
	if newName != name || recreated {
		if err := touchVillage(ctx, tx, v.Code); err != nil {
			return err
		}
	}
	state := eventsv1.StateLive
	if archived {
		state = eventsv1.StateArchived
	}
	return s.ackVillage(ctx, tx, ev.Town, v.Code, v.UID, v.Generation, state)
}

// archiveVillage marks a village archived, once per generation of the
// Village, and acknowledges it. Its records stay public; touching it
// re-renders every cached page with the archive notice.
func (s *Service) archiveVillage(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	var v eventsv1.VillageArchived
	if err := ev.Decode(&v); err != nil {
		return events.Permanent(err)
	}
	switch {
	case s.Town != "" && (ev.Town != s.Town || v.Town != s.Town):
		return events.Permanent(fmt.Errorf("event %s is about town %q/%q, not %q", ev.ID, ev.Town, v.Town, s.Town))
	case !villageCode.MatchString(v.Code) || (ev.Village != "" && ev.Village != v.Code):
		return events.Permanent(fmt.Errorf("event %s: village %q (envelope %q) is not one 12-digit code", ev.ID, v.Code, ev.Village))
	case v.Generation <= 0:
		return events.Permanent(fmt.Errorf("event %s: generation %d is not positive", ev.ID, v.Generation))
	}
	if err := lockVillage(ctx, tx, v.Code, s.Town); err != nil {
		return err
	}
	// An archival of another uid than the stored one (a predecessor of a
	// recreated village) changes nothing.
	tag, err := tx.Exec(ctx, `UPDATE villages SET archived_at = $2, archived_generation = $3,
			uid = CASE WHEN uid = '' THEN $4 ELSE uid END
		WHERE code = $1 AND (uid = '' OR $4 = '' OR uid = $4) AND (archived_generation IS NULL OR archived_generation < $3)`,
		v.Code, ev.Time, v.Generation, v.UID)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	if err := touchVillage(ctx, tx, v.Code); err != nil {
		return err
	}
	return s.ackVillage(ctx, tx, ev.Town, v.Code, v.UID, v.Generation, eventsv1.StateArchived)
}

// ackVillage enqueues the service's acknowledgement on the tenant-acks stream.
func (s *Service) ackVillage(ctx context.Context, tx pgx.Tx, town, code, uid string, generation int64, state string) error {
	ev, err := eventsv1.NewVillageAck("disclosure", town, code, uid, generation, state, time.Now())
	if err != nil {
		return events.Permanent(err)
	}
	return events.Enqueue(ctx, tx, eventsv1.Topic(town, eventsv1.StreamTenantAcks), ev)
}

// villageArchived reports whether village is archived (false when it
// cannot be read: the notice is then missing, the records are not).
func (s *Service) villageArchived(village string) bool {
	if village == "" || s.Pool == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var archived bool
	_ = s.Pool.QueryRow(ctx, `SELECT archived_at IS NOT NULL FROM villages WHERE code = $1`, village).Scan(&archived)
	return archived
}

// checkVillageRegistered refuses an event that can never be applied.
func checkVillageRegistered(ev eventsv1.Event, v eventsv1.VillageRegistered, town string) error {
	switch {
	case town != "" && (ev.Town != town || v.Town != town):
		return fmt.Errorf("event %s is about town %q/%q, not %q", ev.ID, ev.Town, v.Town, town)
	case !villageCode.MatchString(v.Code):
		return fmt.Errorf("event %s: village %q is not a 12-digit code", ev.ID, v.Code)
	case ev.Village != "" && ev.Village != v.Code:
		return fmt.Errorf("event %s: envelope village %q differs from %q", ev.ID, ev.Village, v.Code)
	case strings.TrimSpace(v.Name) == "" || utf8.RuneCountInString(v.Name) > MaxVillageName || !utf8.ValidString(v.Name):
		return fmt.Errorf("event %s: village name %q is empty or longer than %d characters", ev.ID, v.Name, MaxVillageName)
	case v.Generation <= 0:
		return fmt.Errorf("event %s: generation %d is not positive", ev.ID, v.Generation)
	}
	return nil
}

// villageName is the name registered for village, "" when none (or when
// it cannot be read: the page then shows the code).
func (s *Service) villageName(ctx context.Context, village string) string {
	if village == "" || s.Pool == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var name string
	_ = s.Pool.QueryRow(ctx, `SELECT name FROM villages WHERE code = $1`, village).Scan(&name)
	return name
}
