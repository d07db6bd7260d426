package eventsv1

import "time"

// TypeAuditAnchored is published by the workflow service on the town's
// workflow stream, in the transaction of every audit entry it appends.
const TypeAuditAnchored = "cn.wuxiao.workflow.audit.anchored.v1"

// AuditAnchored anchors one audit entry outside the town's workflow
// database: the inspection service keeps every anchor (never overwriting
// one) and verifies the workflow's audit chain against them, so that a
// deleted tail or a re-hashed suffix is seen even by someone who can write
// the workflow's tables.
type AuditAnchored struct {
	InstanceID string `json:"instanceId"`
	// TrackingNumber is the instance's public number (the envelope's subject).
	TrackingNumber string `json:"trackingNumber,omitempty"`
	Seq            int64  `json:"seq"`
	// Hash is the entry's hash (64 hex digits) and Alg how it was made
	// (hmac-sha256, or sha256 for entries written before keying).
	Hash string    `json:"hash"`
	Alg  string    `json:"alg"`
	At   time.Time `json:"at"`
}
