package eventsv1

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Event types published by the operator on the town's tenant stream.
const (
	// TypeVillageRegistered: a Village became Ready at a new generation
	// (onboarded, renamed, or its officials' roles changed). Services keep
	// the latest per village code; the event id is derived from the
	// Village's uid and generation, so a re-publication deduplicates.
	TypeVillageRegistered = "cn.wuxiao.tenant.village.registered.v1"
)

// VillageRegistered describes a village to the town's services. It carries
// no personal data: officials appear only as the roles the village has.
type VillageRegistered struct {
	// Code is the village's 12-digit administrative division code.
	Code string `json:"code"`
	// Name is the village's display name, e.g. 岩头村.
	Name string `json:"name"`
	// Kind is village (行政村) or community (社区).
	Kind string `json:"kind"`
	// Town is the town's object name, e.g. xikou.
	Town string `json:"town"`
	// Roles held by the village's officials, sorted, each once.
	Roles []string `json:"roles"`
	// PortalURL is the village's public portal (its QR code's address).
	PortalURL string `json:"portalURL,omitempty"`
	// Generation of the Village object this describes; later wins.
	Generation int64 `json:"generation"`
	// UID of the Village object; acks echo it, so that the operator can
	// tell a recreated village's acks from its predecessor's.
	UID string `json:"uid,omitempty"`
	// Thresholds of the village's amount controls (Village
	// spec.thresholds). Absent in events of operators before it: a
	// service then keeps the thresholds it has.
	Thresholds *VillageThresholds `json:"thresholds,omitempty"`
}

// VillageThresholds are the amounts, in yuan, above which a village's
// spending needs a representatives' resolution and the town's approval.
type VillageThresholds struct {
	RepresentativesResolutionAboveYuan int64 `json:"representativesResolutionAboveYuan"`
	TownApprovalAboveYuan              int64 `json:"townApprovalAboveYuan"`
}

// Tenant lifecycle beyond registration.
const (
	// TypeVillageArchived: a Village was deleted. Services keep every record
	// of it, mark it archived (no new complaints, processes; out of
	// coverage) and acknowledge. Published by the operator before it lets
	// the Village go; the id is derived from the uid and generation.
	TypeVillageArchived = "cn.wuxiao.tenant.village.archived.v1"
	// TypeVillageAcknowledged: a service applied a registration or an
	// archival. Published by the services on the tenant-acks stream, one
	// per service, village generation and state.
	TypeVillageAcknowledged = "cn.wuxiao.tenant.village.acknowledged.v1"
)

// StreamTenantAcks is the stream the services acknowledge tenant events on.
// A stream of its own, not the tenant stream: the operator stays the only
// writer of registrations (per-topic ACLs can enforce that), the services'
// tenant consumers do not process each other's acks, and the operator
// reads acks without reading its own events back.
const StreamTenantAcks = "tenant-acks"

// VillageArchived tells the town's services that a village is archived.
type VillageArchived struct {
	Code string `json:"code"`
	Name string `json:"name"`
	Town string `json:"town"`
	// UID of the Village object; acks echo it.
	UID string `json:"uid"`
	// Generation of the Village object when it was deleted.
	Generation int64 `json:"generation"`
}

// States of a village in a service, as acknowledged.
const (
	StateLive     = "live"
	StateArchived = "archived"
)

// VillageAcknowledged is a service's answer to a registration or archival.
type VillageAcknowledged struct {
	// Service is workflow, disclosure, complaint or inspection.
	Service string `json:"service"`
	Code    string `json:"code"`
	Town    string `json:"town"`
	// UID of the Village object, echoed from the event acknowledged ("" if
	// it carried none).
	UID string `json:"uid,omitempty"`
	// Generation of the Village acknowledged.
	Generation int64 `json:"generation"`
	// State is live or archived; Live is State == live.
	State string `json:"state"`
	Live  bool   `json:"live"`
	// At is when the service applied the event.
	At time.Time `json:"at"`
}

// ackNamespace scopes the ids of acknowledgements.
var ackNamespace = uuid.MustParse("0b7d6c1a-3f2e-4b8a-9c55-2e9f4a1d7e63")

// NewVillageAck builds a service's acknowledgement. Its id is derived from
// service, town, village, uid, generation and state, so that the one
// acknowledgement of a village generation per service deduplicates however
// often it is built.
func NewVillageAck(service, town, code, uid string, generation int64, state string, at time.Time) (Event, error) {
	a := VillageAcknowledged{Service: service, Code: code, Town: town, UID: uid, Generation: generation,
		State: state, Live: state == StateLive, At: at.UTC()}
	data, err := json.Marshal(a)
	if err != nil {
		return Event{}, err
	}
	key := strings.Join([]string{service, town, code, uid, strconv.FormatInt(generation, 10), state}, "/")
	ev := Event{ID: uuid.NewSHA1(ackNamespace, []byte(key)).String(), Source: "/towns/" + town + "/" + service,
		Type: TypeVillageAcknowledged, Subject: code, Time: a.At, Town: town, Village: code, Data: data}
	return ev, ev.Validate()
}
