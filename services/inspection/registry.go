package inspection

// The town's village registry, fed by the operator's tenant stream: each
// Village that becomes Ready is announced (code, name, kind, generation) and
// upserted into the villages table tours_store.go already keeps.
//
// The rule: once the operator has announced at least one village of this
// town, the announced villages ARE the town's villages. From then on the
// coverage universe is exactly them, and integrity files, findings, orders,
// interviews, tours and PUT /v1/villages refuse any other code with a 422
// naming it. Before the first announcement (a town not yet onboarded by the
// operator, development, tests) nothing is refused and villages registered
// by hand or by planning a tour make the universe, as before.

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tenant"
)

// HandleTenantEvent is the events.Handler of the town's tenant stream: a
// registered village is upserted into the registry, its name and kind
// replaced only by a later generation of the Village (so redelivery,
// replays and reordering change nothing). Other types are ignored; an event
// of another town or a malformed one is Permanent.
//
// Each registration applied, and each archival, is acknowledged on the
// tenant-acks stream in the same transaction (outbox), once per village
// generation. An archived village keeps its records and leaves coverage.
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
	// A row of another town with the same code (a misconfigured shared
	// database) is left alone: the WHERE keeps the upsert to this town.
	// A new uid is a recreated village: it replaces the row whatever its
	// generation, and is live again.
	var live bool
	err = tx.QueryRow(ctx, `INSERT INTO villages (code, town, name, kind, generation, announced_at, uid) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, generation = EXCLUDED.generation,
			announced_at = EXCLUDED.announced_at, uid = EXCLUDED.uid,
			archived_at = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_at END,
			archived_generation = CASE WHEN villages.uid <> EXCLUDED.uid THEN NULL ELSE villages.archived_generation END
		WHERE villages.town = EXCLUDED.town AND `+tenant.RegisterGuard+`
		RETURNING archived_at IS NULL`,
		v.Code, s.Town, v.Name, v.Kind, v.Generation, v.At, v.UID).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // not newer (acknowledged when applied), or another town's row
	}
	if err != nil {
		return err
	}
	return tenant.Ack(ctx, tx, "inspection", v, tenant.State(live), s.now())
}

// archiveVillage marks a village archived, once per generation of the
// Village, and acknowledges it.
func (s *Service) archiveVillage(ctx context.Context, tx pgx.Tx, v tenant.Village) error {
	err := tx.QueryRow(ctx, `INSERT INTO villages (code, town, name, generation, announced_at, uid, archived_at, archived_generation)
		VALUES ($1, $2, $3, $4, $5, $6, $5, $4)
		ON CONFLICT (code) DO UPDATE SET archived_at = EXCLUDED.archived_at, archived_generation = EXCLUDED.archived_generation
		WHERE villages.town = EXCLUDED.town AND `+tenant.ArchiveGuard+`
		RETURNING true`, v.Code, s.Town, v.Name, v.Generation, v.At, v.UID).Scan(new(bool))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return tenant.Ack(ctx, tx, "inspection", v, eventsv1.StateArchived, s.now())
}

var _ events.Handler = (*Service)(nil).HandleTenantEvent

// decodeVillageRegistered reads and checks a registration of any town (the
// district feed's): the envelope and the data must agree on town and
// village. Its errors are Permanent.
func decodeVillageRegistered(ev eventsv1.Event) (tenant.Village, error) {
	if ev.Town == "" {
		return tenant.Village{}, events.Permanent(fmt.Errorf("event %s: registration without a town", ev.ID))
	}
	return tenant.Decode(ev, ev.Town)
}

// registryClosed reports whether the operator has announced any village of
// the town, which makes the announced villages the only ones accepted.
func (s *Service) registryClosed(ctx context.Context, q querier) (bool, error) {
	var closed bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM villages WHERE town = $1 AND generation IS NOT NULL)`, s.Town).Scan(&closed)
	return closed, err
}

// unregistered returns a field error for each code (under field, or
// field[i] when several) that the closed registry does not hold; none
// while the registry is open. Codes that are not 12 digits are left to the
// caller's format check.
func (s *Service) unregistered(ctx context.Context, q querier, field string, codes ...string) ([]httpapi.FieldError, error) {
	closed, err := s.registryClosed(ctx, q)
	if err != nil || !closed {
		return nil, err
	}
	var errs []httpapi.FieldError
	for i, code := range codes {
		if !identity.ValidVillage(code) {
			continue
		}
		var ok bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM villages WHERE code = $1 AND town = $2 AND generation IS NOT NULL)`,
			code, s.Town).Scan(&ok); err != nil {
			return nil, err
		}
		if !ok {
			f := field
			if len(codes) > 1 {
				f = fmt.Sprintf("%s[%d]", field, i)
			}
			errs = append(errs, httpapi.FieldError{Field: f, Detail: fmt.Sprintf("village %s is not registered in town %s", code, s.Town)})
		}
	}
	return errs, nil
}

// requireRegistered is unregistered as an error: a 422 problem naming the
// codes, or nil.
func (s *Service) requireRegistered(ctx context.Context, q querier, field string, codes ...string) error {
	errs, err := s.unregistered(ctx, q, field, codes...)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return httpapi.ValidationFailed(errs...)
	}
	return nil
}

// villageName is the village's registered name (else VillageNames', else
// its code), to address notices.
// villageNameSQL reads a village's name; a consumer's batch answers it
// from the names it read at once (apply_write.go).
const villageNameSQL = `SELECT name FROM villages WHERE code = $1 AND town = $2`

func (s *Service) villageName(ctx context.Context, q querier, code string) (string, error) {
	var name string
	err := q.QueryRow(ctx, villageNameSQL, code, s.Town).Scan(&name)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	if name == "" {
		name = s.VillageNames[code]
	}
	if name == "" {
		name = code
	}
	return name, nil
}
