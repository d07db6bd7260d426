// Package tenant is the services' common handling of the operator's tenant
// stream (api/events/v1/tenant.go): it decodes and checks a registration or
// an archival of a village, and enqueues the service's acknowledgement on
// the tenant-acks stream. Each service keeps its own storage and effects.
package tenant

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/api/divcode"
	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// MaxVillageName bounds a village's display name, in characters.
const MaxVillageName = 64

// Op is what a tenant event asks of a service.
type Op int

const (
	// Skip: not a tenant event the services apply (another type).
	Skip Op = iota
	// Register: a village registered or changed (registered.v1).
	Register
	// Archive: a village archived (archived.v1).
	Archive
)

// Village is a checked tenant event.
type Village struct {
	Op Op
	// Town is the envelope's town, which acks are published for.
	Town string
	Code string
	// Name is trimmed. A registration's is never empty; an archival's is
	// "" when absent or unusable (an archival is applied whatever its name).
	Name       string
	Kind       string
	Roles      []string
	PortalURL  string
	UID        string
	Generation int64
	// Thresholds of a registration, nil when the event carries none (an
	// older operator's): keep those stored.
	Thresholds *eventsv1.VillageThresholds
	// At is the event's time (when an archival took effect).
	At time.Time
}

// Decode reads ev for the service of town ("" accepts any town, as in
// development). It returns Op Skip for other event types, and a Permanent
// error for an event that can never be applied: another town's, a code that
// is not 12 digits or differs from the envelope's, a generation that is not
// positive, or a registration without a usable name.
func Decode(ev eventsv1.Event, town string) (Village, error) {
	v := Village{Town: ev.Town, At: ev.Time}
	var dataTown string
	switch ev.Type {
	case eventsv1.TypeVillageRegistered:
		var r eventsv1.VillageRegistered
		if err := ev.Decode(&r); err != nil {
			return Village{}, events.Permanent(err)
		}
		v.Op, v.Code, v.Name, v.Kind, v.Roles, v.PortalURL, v.UID, v.Generation, v.Thresholds =
			Register, r.Code, strings.TrimSpace(r.Name), r.Kind, r.Roles, r.PortalURL, r.UID, r.Generation, r.Thresholds
		dataTown = r.Town
	case eventsv1.TypeVillageArchived:
		var a eventsv1.VillageArchived
		if err := ev.Decode(&a); err != nil {
			return Village{}, events.Permanent(err)
		}
		v.Op, v.Code, v.Name, v.UID, v.Generation = Archive, a.Code, strings.TrimSpace(a.Name), a.UID, a.Generation
		dataTown = a.Town
	default:
		return Village{}, nil
	}
	nameOK := v.Name != "" && utf8.ValidString(v.Name) && utf8.RuneCountInString(v.Name) <= MaxVillageName
	switch {
	case town != "" && (ev.Town != town || dataTown != town):
		return Village{}, events.Permanent(fmt.Errorf("event %s is about town %q/%q, not %q", ev.ID, ev.Town, dataTown, town))
	case !divcode.Valid(v.Code) || (ev.Village != "" && ev.Village != v.Code):
		return Village{}, events.Permanent(fmt.Errorf("event %s: village %q (envelope %q) is not one 12-digit code", ev.ID, v.Code, ev.Village))
	case v.Generation <= 0:
		return Village{}, events.Permanent(fmt.Errorf("event %s: generation %d is not positive", ev.ID, v.Generation))
	case v.Op == Register && !nameOK:
		return Village{}, events.Permanent(fmt.Errorf("event %s: village name %q is empty or longer than %d characters", ev.ID, v.Name, MaxVillageName))
	case v.Thresholds != nil && (v.Thresholds.RepresentativesResolutionAboveYuan < 0 || v.Thresholds.TownApprovalAboveYuan < 0):
		return Village{}, events.Permanent(fmt.Errorf("event %s: negative thresholds %+v", ev.ID, *v.Thresholds))
	}
	if !nameOK {
		v.Name = ""
	}
	return v, nil
}

// Newer is the replay guard of a registration against the row stored
// (generation and uid of the Village last applied): apply when the event is
// of a later generation or of another uid (a recreated village, which
// replaces the row whatever its generation and is live again); else skip, as
// it was acknowledged when it was applied.
func (v Village) Newer(storedGeneration int64, storedUID string) (apply, recreated bool) {
	recreated = storedUID != "" && v.UID != "" && storedUID != v.UID
	return recreated || v.Generation > storedGeneration, recreated
}

// The guards of Newer and of an archival as the WHERE of an upsert
// (INSERT INTO villages ... ON CONFLICT (code) DO UPDATE ... WHERE), with the
// event's generation and uid in EXCLUDED.generation, EXCLUDED.uid and, for an
// archival, EXCLUDED.archived_generation.
const (
	// RegisterGuard: a later generation, or another uid.
	RegisterGuard = `(villages.generation IS NULL OR villages.generation < EXCLUDED.generation
		OR (villages.uid <> '' AND EXCLUDED.uid <> '' AND villages.uid <> EXCLUDED.uid))`
	// ArchiveGuard: the stored uid (an archival of a recreated village's
	// predecessor changes nothing), not archived yet at this generation.
	ArchiveGuard = `(villages.uid = '' OR EXCLUDED.uid = '' OR villages.uid = EXCLUDED.uid)
		AND (villages.archived_generation IS NULL OR villages.archived_generation < EXCLUDED.archived_generation)`
)

// Ack enqueues service's acknowledgement of v, applied at at and leaving the
// village in state (eventsv1.StateLive or StateArchived), on the town's
// tenant-acks stream in tx (outbox). Its id is derived from the village
// generation and state, so acking again deduplicates.
func Ack(ctx context.Context, tx pgx.Tx, service string, v Village, state string, at time.Time) error {
	ev, err := eventsv1.NewVillageAck(service, v.Town, v.Code, v.UID, v.Generation, state, at)
	if err != nil {
		return events.Permanent(err)
	}
	return events.Enqueue(ctx, tx, eventsv1.Topic(v.Town, eventsv1.StreamTenantAcks), ev)
}

// State is the acknowledged state of a village, live or archived.
func State(live bool) string {
	if live {
		return eventsv1.StateLive
	}
	return eventsv1.StateArchived
}
