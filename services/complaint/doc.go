// Package complaint is a town's complaint service (码上举报): it takes
// villagers' complaints from the QR page, the JSON API and Open311, routes
// them to the village's liaison officer (监察联络员) and the town's
// discipline office, and follows them through their lifecycle:
//
//	received ─accept─▶ accepted ─investigate─▶ investigating ─resolve─▶ resolved ─feedback(satisfied)─▶ closed
//	    └─reject(reason)─▶ rejected            ▲                                   │
//	                                           └──────── feedback(not satisfied), once ┘
//
// It owns the complaints, their transitions, attachments and tracking codes,
// the deadlines and escalations, the statistics, and the abuse protection of
// the anonymous intake.
//
// Confidentiality: a complaint about a village's cadres (cadre-conduct) is
// never shown to that village's officials, and the reporter's identity is
// shown only to discipline staff (see ViewFor).
//
// The HTTP API is documented in api/openapi/complaint.yaml.
package complaint
