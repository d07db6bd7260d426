package eventsv1

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
}
