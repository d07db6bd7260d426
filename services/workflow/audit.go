package workflow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditEntry is one append-only record of what happened to an instance.
// Entries are hash-chained: each hash covers the entry and the previous
// hash, so changing, removing or reordering any row breaks every later link.
type AuditEntry struct {
	InstanceID string    `json:"instanceId"`
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	ActorID    string    `json:"actorId"`
	ActorRole  string    `json:"actorRole"`
	Action     string    `json:"action"`
	// Data is stored as the exact text that was hashed (not jsonb, which
	// would reorder keys and so change the bytes).
	Data     string `json:"data"`
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// GenesisHash precedes the first entry of every instance.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// NewAuditEntry chains an entry after prev (nil for the first).
func NewAuditEntry(prev *AuditEntry, instanceID string, at time.Time, actor Actor, action string, data any) (AuditEntry, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("audit data: %w", err)
	}
	e := AuditEntry{InstanceID: instanceID, Seq: 1, PrevHash: GenesisHash,
		// PostgreSQL keeps microseconds: hash what will be read back.
		At:      at.UTC().Truncate(time.Microsecond),
		ActorID: actor.ID, ActorRole: actor.Role, Action: action, Data: string(raw)}
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Hash = e.ComputeHash()
	return e, nil
}

// ComputeHash is SHA-256 over the entry's fields, one per line, in a fixed
// order, with the previous hash last.
func (e *AuditEntry) ComputeHash() string {
	h := sha256.New()
	for _, f := range []string{e.InstanceID, strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano),
		e.ActorID, e.ActorRole, e.Action, e.Data, e.PrevHash} {
		h.Write([]byte(strings.ReplaceAll(f, "\n", `\n`)))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ChainCheck is the result of verifying an instance's audit trail.
type ChainCheck struct {
	Valid    bool   `json:"valid"`
	Entries  int    `json:"entries"`
	BrokenAt int64  `json:"brokenAt,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// VerifyChain checks entries (in seq order) link by link.
func VerifyChain(entries []AuditEntry) ChainCheck {
	prev := GenesisHash
	for i, e := range entries {
		switch {
		case e.Seq != int64(i+1):
			return ChainCheck{Entries: len(entries), BrokenAt: int64(i + 1), Reason: fmt.Sprintf("entry %d is missing (found seq %d)", i+1, e.Seq)}
		case e.PrevHash != prev:
			return ChainCheck{Entries: len(entries), BrokenAt: e.Seq, Reason: fmt.Sprintf("entry %d does not follow entry %d", e.Seq, e.Seq-1)}
		case e.ComputeHash() != e.Hash:
			return ChainCheck{Entries: len(entries), BrokenAt: e.Seq, Reason: fmt.Sprintf("entry %d was altered after it was written", e.Seq)}
		}
		prev = e.Hash
	}
	return ChainCheck{Valid: true, Entries: len(entries)}
}
