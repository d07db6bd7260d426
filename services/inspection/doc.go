// Package inspection is a town's inspection service, the discipline
// commission's side: the points-based dynamic warning (动态预警/积分预警)
// that rates every village A, B, C or D per assessment period, the warning
// and rectification notices (预警通知书, 整改通知书) a C or a D brings, the
// three-colour supervision orders (三色督查令), inspection tours (巡察) and
// their findings, cadre integrity files (廉情档案) and the selection check
// (负面清零), cross-checks, the verification of the workflow's audit chain
// against its anchors, the district overview built by one town's
// instance, and the notifications that tell people of tasks, deadlines,
// escalations, notices and orders (the console inbox, e-mail and DingTalk
// robots: notify*.go).
//
// A village's rating is always recomputed from all its facts of the period,
// never updated incrementally, so that it is deterministic, independent of
// the order in which events arrive, and immune to redelivered events (a fact
// id is counted once).
//
// The HTTP API is documented in api/openapi/inspection.yaml.
package inspection
