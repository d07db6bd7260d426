package workflow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/auditchain"
)

// AuditEntry is one append-only record of what happened to an instance.
// Entries are hash-chained (see auditchain): each hash covers the entry and
// the previous hash, so changing, removing or reordering any row breaks
// every later link, and since the chain is keyed (HMAC-SHA256 under
// WUXIAO_AUDIT_KEY) nobody without the key can re-hash a changed suffix.
type AuditEntry = auditchain.Entry

// ChainCheck is the result of verifying an instance's audit trail.
type ChainCheck = auditchain.Check

// GenesisHash precedes the first entry of every instance.
const GenesisHash = auditchain.GenesisHash

// NewAuditEntry chains a keyed entry after prev (nil for the first).
func NewAuditEntry(prev *AuditEntry, key []byte, instanceID string, at time.Time, actor Actor, action string, data any) (AuditEntry, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("audit data: %w", err)
	}
	return auditchain.Next(prev, AuditEntry{InstanceID: instanceID, At: at, ActorID: actor.ID, ActorRole: actor.Role,
		Action: action, Data: string(raw)}, key)
}

// VerifyChain checks entries (in seq order) link by link under key. It
// cannot see a deleted tail: the inspection service verifies against the
// anchors it keeps for that (GET /v1/audit/verify there).
func VerifyChain(entries []AuditEntry, key []byte) ChainCheck {
	return auditchain.Verify(entries, key)
}
