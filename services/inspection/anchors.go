package inspection

import (
	"context"
	"errors"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/auditchain"
	"github.com/wuxiao/wuxiao/services/internal/platform"
)

// The workflow's audit chain, verified here against the anchors this
// service keeps: the workflow publishes every entry's seq and hash
// (eventsv1.AuditAnchored) in the transaction that writes it, and this
// service, which the workflow's database role cannot write, keeps them.
// Someone who can write the workflow's tables but lacks the audit key can
// delete a tail (the anchors name entries beyond the last row), or re-hash
// a changed suffix with plain SHA-256 (unkeyed after keyed, and unlike its
// anchors); a changed row no longer matches its hash.

// AuditReport is the verification of one instance's audit trail.
type AuditReport struct {
	InstanceID     string `json:"instanceId"`
	Village        string `json:"village,omitempty"`
	TrackingNumber string `json:"trackingNumber,omitempty"`
	auditchain.Check
}

// AuditSweep is the verification of every audit trail of the town.
type AuditSweep struct {
	Instances int `json:"instances"`
	Valid     int `json:"valid"`
	// Broken lists the instances whose trail does not verify.
	Broken     []AuditReport `json:"broken"`
	VerifiedAt time.Time     `json:"verifiedAt"`
}

// ErrNoAuditInstance: neither the workflow's audit table nor the anchors
// know the instance.
var ErrNoAuditInstance = errors.New("no audit trail for this instance")

// AuditSweepLoop verifies every audit trail every interval and logs each
// broken one as an error (the alert on error logs pages the platform team;
// discipline inspectors see the same through GET /v1/audit/verify).
func (s *Service) AuditSweepLoop(interval time.Duration) func(context.Context) error {
	return platform.Every(interval, s.auditSweep)
}

func (s *Service) auditSweep(ctx context.Context) {
	sweep, err := s.VerifyAllAudits(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log().ErrorContext(ctx, "verifying the audit trails", "error", err.Error())
		}
		return
	}
	for _, r := range sweep.Broken {
		s.log().ErrorContext(ctx, "audit trail does not verify", "instance", r.InstanceID, "village", r.Village,
			"status", string(r.Status), "seq", r.BrokenAt, "reason", r.Reason)
	}
	s.log().InfoContext(ctx, "audit trails verified", "instances", sweep.Instances, "valid", sweep.Valid, "broken", len(sweep.Broken))
}
