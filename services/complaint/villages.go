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
func (s *Service) HandleTenantEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if ev.Type != eventsv1.TypeVillageRegistered {
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
	_, err := tx.Exec(ctx, `INSERT INTO villages (code, name, generation) VALUES ($1, $2, $3)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, generation = EXCLUDED.generation
		WHERE villages.generation < EXCLUDED.generation`, v.Code, name, v.Generation)
	return err
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
