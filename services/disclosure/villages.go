package disclosure

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/tenant"
)

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
	v, err := tenant.Decode(ev, s.Town)
	if err != nil {
		return err
	}
	switch v.Op {
	case tenant.Register:
	case tenant.Archive:
		return s.archiveVillage(ctx, tx, v)
	default:
		return nil
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
	apply, recreated := v.Newer(generation, uid)
	if !apply {
		return nil // seen already, or older than what is stored
	}
	if recreated {
		archived = false
	}
	if _, err := tx.Exec(ctx, `UPDATE villages SET name = $2, name_generation = $3, uid = $4,
		archived_at = CASE WHEN $5 THEN archived_at END, archived_generation = CASE WHEN $5 THEN archived_generation END
		WHERE code = $1`, v.Code, v.Name, v.Generation, v.UID, archived); err != nil {
		return err
	}
	if v.Name != name || recreated {
		if err := touchVillage(ctx, tx, v.Code); err != nil {
			return err
		}
	}
	return tenant.Ack(ctx, tx, "disclosure", v, tenant.State(!archived), time.Now())
}

// archiveVillage marks a village archived, once per generation of the
// Village, and acknowledges it. Its records stay public; touching it
// re-renders every cached page with the archive notice.
func (s *Service) archiveVillage(ctx context.Context, tx pgx.Tx, v tenant.Village) error {
	if err := lockVillage(ctx, tx, v.Code, s.Town); err != nil {
		return err
	}
	// An archival of another uid than the stored one (a predecessor of a
	// recreated village) changes nothing.
	tag, err := tx.Exec(ctx, `UPDATE villages SET archived_at = $2, archived_generation = $3,
			uid = CASE WHEN uid = '' THEN $4 ELSE uid END
		WHERE code = $1 AND (uid = '' OR $4 = '' OR uid = $4) AND (archived_generation IS NULL OR archived_generation < $3)`,
		v.Code, v.At, v.Generation, v.UID)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	if err := touchVillage(ctx, tx, v.Code); err != nil {
		return err
	}
	return tenant.Ack(ctx, tx, "disclosure", v, eventsv1.StateArchived, time.Now())
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
