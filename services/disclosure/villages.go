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
func (s *Service) HandleTenantEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if ev.Type != eventsv1.TypeVillageRegistered {
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
	var name string
	var generation int64
	if err := tx.QueryRow(ctx, `SELECT name, name_generation FROM villages WHERE code = $1`, v.Code).Scan(&name, &generation); err != nil {
		return err
	}
	if v.Generation <= generation {
		return nil // seen already, or older than what is stored
	}
	newName := strings.TrimSpace(v.Name)
	if _, err := tx.Exec(ctx, `UPDATE villages SET name = $2, name_generation = $3 WHERE code = $1`, v.Code, newName, v.Generation); err != nil {
		return err
	}
	if newName == name {
		return nil
	}
	return touchVillage(ctx, tx, v.Code)
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
