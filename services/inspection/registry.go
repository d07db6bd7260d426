package inspection

// The town's village registry, fed by the operator's tenant stream: each
// Village that becomes Ready is announced (code, name, kind, generation) and
// upserted into the villages table tours.go already keeps.
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
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// maxVillageName bounds an announced village name, in characters.
const maxVillageName = 64

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
	switch ev.Type {
	case eventsv1.TypeVillageRegistered:
	case eventsv1.TypeVillageArchived:
		return s.archiveVillage(ctx, tx, ev)
	default:
		return nil
	}
	v, err := decodeVillageRegistered(ev)
	if err != nil {
		return events.Permanent(err)
	}
	if v.Town != s.Town {
		return events.Permanent(fmt.Errorf("event %s registers a village of town %q on town %q's stream", ev.ID, v.Town, s.Town))
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
		WHERE villages.town = EXCLUDED.town AND (villages.generation IS NULL OR villages.generation < EXCLUDED.generation
			OR (villages.uid <> '' AND EXCLUDED.uid <> '' AND villages.uid <> EXCLUDED.uid))
		RETURNING archived_at IS NULL`,
		v.Code, s.Town, v.Name, v.Kind, v.Generation, ev.Time, v.UID).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // not newer (acknowledged when applied), or another town's row
	}
	if err != nil {
		return err
	}
	state := eventsv1.StateLive
	if !live {
		state = eventsv1.StateArchived
	}
	return s.ackVillage(ctx, tx, v.Code, v.UID, v.Generation, state)
}

// archiveVillage marks a village archived, once per generation of the
// Village, and acknowledges it.
func (s *Service) archiveVillage(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	var v eventsv1.VillageArchived
	if err := ev.Decode(&v); err != nil {
		return events.Permanent(err)
	}
	switch {
	case v.Town != s.Town || ev.Town != s.Town:
		return events.Permanent(fmt.Errorf("event %s archives a village of town %q/%q on town %q's stream", ev.ID, ev.Town, v.Town, s.Town))
	case !identity.ValidVillage(v.Code) || (ev.Village != "" && ev.Village != v.Code):
		return events.Permanent(fmt.Errorf("event %s: village %q (envelope %q) is not one 12-digit code", ev.ID, v.Code, ev.Village))
	case v.Generation <= 0:
		return events.Permanent(fmt.Errorf("event %s: generation %d is not positive", ev.ID, v.Generation))
	}
	name := strings.TrimSpace(v.Name)
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxVillageName {
		name = ""
	}
	// An archival of another uid than the stored one (a predecessor of a
	// recreated village) changes nothing.
	err := tx.QueryRow(ctx, `INSERT INTO villages (code, town, name, generation, announced_at, uid, archived_at, archived_generation)
		VALUES ($1, $2, $3, $4, $5, $6, $5, $4)
		ON CONFLICT (code) DO UPDATE SET archived_at = EXCLUDED.archived_at, archived_generation = EXCLUDED.archived_generation
		WHERE villages.town = EXCLUDED.town AND (villages.uid = '' OR EXCLUDED.uid = '' OR villages.uid = EXCLUDED.uid)
			AND (villages.archived_generation IS NULL OR villages.archived_generation < EXCLUDED.archived_generation)
		RETURNING true`, v.Code, s.Town, name, v.Generation, ev.Time, v.UID).Scan(new(bool))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.ackVillage(ctx, tx, v.Code, v.UID, v.Generation, eventsv1.StateArchived)
}

// ackVillage enqueues the service's acknowledgement on the tenant-acks stream.
func (s *Service) ackVillage(ctx context.Context, tx pgx.Tx, code, uid string, generation int64, state string) error {
	ev, err := eventsv1.NewVillageAck("inspection", s.Town, code, uid, generation, state, s.now())
	if err != nil {
		return events.Permanent(err)
	}
	return events.Enqueue(ctx, tx, eventsv1.Topic(s.Town, eventsv1.StreamTenantAcks), ev)
}

var _ events.Handler = (*Service)(nil).HandleTenantEvent

// decodeVillageRegistered reads and checks a registration: the envelope and
// the data must agree on town and village.
func decodeVillageRegistered(ev eventsv1.Event) (eventsv1.VillageRegistered, error) {
	var v eventsv1.VillageRegistered
	if err := ev.Decode(&v); err != nil {
		return v, err
	}
	v.Name = strings.TrimSpace(v.Name)
	switch {
	case v.Town == "" || v.Town != ev.Town:
		return v, fmt.Errorf("event %s: village town %q differs from the envelope's %q", ev.ID, v.Town, ev.Town)
	case !identity.ValidVillage(v.Code):
		return v, fmt.Errorf("event %s: village %q is not a 12-digit code", ev.ID, v.Code)
	case ev.Village != "" && ev.Village != v.Code:
		return v, fmt.Errorf("event %s: envelope village %q differs from %q", ev.ID, ev.Village, v.Code)
	case v.Name == "" || !utf8.ValidString(v.Name) || utf8.RuneCountInString(v.Name) > maxVillageName:
		return v, fmt.Errorf("event %s: village name %q is empty or longer than %d characters", ev.ID, v.Name, maxVillageName)
	case v.Generation <= 0:
		return v, fmt.Errorf("event %s: generation %d is not positive", ev.ID, v.Generation)
	}
	return v, nil
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

// registryClosed reports whether the operator has announced any village of
// the town, which makes the announced villages the only ones accepted.
func (s *Service) registryClosed(ctx context.Context, q rowQuerier) (bool, error) {
	var closed bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT FROM villages WHERE town = $1 AND generation IS NOT NULL)`, s.Town).Scan(&closed)
	return closed, err
}

// unregistered returns a field error for each code (under field, or
// field[i] when several) that the closed registry does not hold; none
// while the registry is open. Codes that are not 12 digits are left to the
// caller's format check.
func (s *Service) unregistered(ctx context.Context, q rowQuerier, field string, codes ...string) ([]httpapi.FieldError, error) {
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
func (s *Service) requireRegistered(ctx context.Context, q rowQuerier, field string, codes ...string) error {
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
func (s *Service) villageName(ctx context.Context, q rowQuerier, code string) (string, error) {
	var name string
	err := q.QueryRow(ctx, `SELECT name FROM villages WHERE code = $1 AND town = $2`, code, s.Town).Scan(&name)
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
