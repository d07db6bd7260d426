package complaint

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/tenant"
)

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
	v, err := tenant.Decode(ev, s.Town)
	if err != nil {
		return err
	}
	switch v.Op {
	case tenant.Register:
		var live bool
		err := tx.QueryRow(ctx, `INSERT INTO villages (code, name, generation, uid) VALUES ($1, $2, $3, $4)
			ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, generation = EXCLUDED.generation, uid = EXCLUDED.uid,
				archived_at = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_at END,
				archived_generation = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_generation END
			WHERE `+tenant.RegisterGuard+`
			RETURNING archived_at IS NULL`, v.Code, v.Name, v.Generation, v.UID).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // not newer: acknowledged when it was applied
		}
		if err != nil {
			return err
		}
		return tenant.Ack(ctx, tx, "complaint", v, tenant.State(live), s.now())
	case tenant.Archive:
		return s.archiveVillage(ctx, tx, v)
	}
	return nil
}

// archiveVillage marks a village archived (its complaints stay) and
// acknowledges it, once per generation of the Village.
func (s *Service) archiveVillage(ctx context.Context, tx pgx.Tx, v tenant.Village) error {
	name := v.Name
	if name == "" {
		name = v.Code // a village unknown so far is named by its code
	}
	err := tx.QueryRow(ctx, `INSERT INTO villages (code, name, generation, uid, archived_at, archived_generation)
		VALUES ($1, $2, $3, $4, $5, $3)
		ON CONFLICT (code) DO UPDATE SET archived_at = EXCLUDED.archived_at, archived_generation = EXCLUDED.archived_generation
		WHERE `+tenant.ArchiveGuard+`
		RETURNING true`, v.Code, name, v.Generation, v.UID, v.At).Scan(new(bool))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return tenant.Ack(ctx, tx, "complaint", v, eventsv1.StateArchived, s.now())
}

// villageArchived refuses a complaint about an archived village.
func villageArchived(code string) *domainerr.Error {
	return domainerr.Refuse(409, "village-archived", "Village archived",
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

// VillageOpen reports whether complaints may be filed for village: it is in
// the registry of villages the operator registered (table villages; an
// archived one is open here, File refuses it with its own message), or the
// registry is empty. An empty registry is a town set up by hand (or one
// whose tenant stream has not arrived yet): it has nothing to check against,
// so every well-formed code is taken, as before the registry existed. Once
// one village is registered, an unknown code is refused before the abuse
// guard, so invented villages neither escape the village flood guard nor
// push real villages out of its bounded table.
func (s *Service) VillageOpen(ctx context.Context, village string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var open bool
	err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM villages WHERE code = $1)
		OR NOT EXISTS (SELECT 1 FROM villages)`, village).Scan(&open)
	return open, err
}

// Messages for a village that is not (or no longer) in the registry.
const (
	unknownVillageTitle   = "找不到该村"
	unknownVillageMessage = "该村尚未开通码上举报，或链接中的村代码不正确。请重新扫描村务公开栏上的二维码；如仍无法打开，请直接向镇纪委反映。"
	unknownVillageDetail  = "no such village in this town: the operator has not registered it"
)
