// Package auditchain is the workflow's audit trail as a hash chain, shared by
// the workflow service, which writes it, and the inspection service, which
// verifies it against the anchors it keeps outside the workflow's reach.
//
// Each entry's hash covers the entry and the previous hash. Entries written
// since the chain was keyed are HMAC-SHA256 under the town's audit key
// (WUXIAO_AUDIT_KEY), so that someone with write access to the database but
// without the key cannot re-hash a changed suffix; older entries are plain
// SHA-256 and still verify, but an unkeyed entry after a keyed one is a
// downgrade and is refused. A cut-off tail leaves a valid prefix: only the
// anchors (each entry's seq and hash, published as an event and kept by the
// inspection service) reveal it.
package auditchain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Algorithms of an entry's hash.
const (
	// AlgSHA256 is the unkeyed hash of the entries written before the
	// chain was keyed.
	AlgSHA256 = "sha256"
	// AlgHMAC is HMAC-SHA256 under the town's audit key.
	AlgHMAC = "hmac-sha256"
)

// KeySize is the length of an audit key in bytes.
const KeySize = 32

// GenesisHash precedes the first entry of every instance.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Entry is one append-only record of what happened to a process instance.
type Entry struct {
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
	// Alg is how Hash was computed: AlgHMAC, or AlgSHA256 for entries
	// written before the chain was keyed.
	Alg string `json:"alg"`
}

// ComputeHash is the entry's hash under its Alg, over the fields in a
// fixed order with the previous hash last. Keyed entries MAC each field
// length-prefixed (8 bytes, big-endian), so that no two different entries
// encode alike; unkeyed entries keep the encoding they were written with
// (one field per line, line feeds written as \n). It returns "" for an
// AlgHMAC entry without a key and for an unknown Alg, which match no
// stored hash.
func (e *Entry) ComputeHash(key []byte) string {
	fields := []string{e.InstanceID, strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano),
		e.ActorID, e.ActorRole, e.Action, e.Data, e.PrevHash}
	var h hash.Hash
	switch e.Alg {
	case AlgSHA256:
		h = sha256.New()
		for _, f := range fields {
			h.Write([]byte(strings.ReplaceAll(f, "\n", `\n`)))
			h.Write([]byte{'\n'})
		}
	case AlgHMAC:
		if len(key) == 0 {
			return ""
		}
		h = hmac.New(sha256.New, key)
		var n [8]byte
		for _, f := range fields {
			binary.BigEndian.PutUint64(n[:], uint64(len(f)))
			h.Write(n[:])
			h.Write([]byte(f))
		}
	default:
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Next chains a keyed entry after prev (nil for the first): it sets Seq,
// PrevHash, Alg and Hash, and truncates At to what PostgreSQL stores.
func Next(prev *Entry, e Entry, key []byte) (Entry, error) {
	if len(key) != KeySize {
		return Entry{}, fmt.Errorf("audit key: %d bytes, want %d (WUXIAO_AUDIT_KEY)", len(key), KeySize)
	}
	e.Seq, e.PrevHash, e.Alg = 1, GenesisHash, AlgHMAC
	// PostgreSQL keeps microseconds: hash what will be read back.
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Hash = e.ComputeHash(key)
	return e, nil
}

// Status is the outcome of verifying a chain.
type Status string

const (
	// Valid: every entry verifies, and every anchor matches an entry.
	Valid Status = "valid"
	// Altered: an entry is missing from the middle, out of place, or its
	// hash does not match its content.
	Altered Status = "altered"
	// Unkeyed: an entry without the key follows a keyed one (a downgrade:
	// someone without the key re-hashed it).
	Unkeyed Status = "unkeyed"
	// Rehashed: an entry's hash differs from its anchor (the entry was
	// replaced and the chain re-hashed from there on).
	Rehashed Status = "rehashed"
	// MissingTail: an anchor names an entry beyond the last one (the
	// tail was deleted).
	MissingTail Status = "missing-tail"
	// AnchorConflict: two different hashes were anchored for one entry
	// (someone published a forged anchor); both are kept.
	AnchorConflict Status = "anchor-conflict"
	// NoKey: the chain has keyed entries but the verifier has no key.
	NoKey Status = "no-key"
)

// Problem is one finding of a verification.
type Problem struct {
	Status Status `json:"status"`
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// Check is the result of verifying an instance's audit trail. Status,
// BrokenAt and Reason repeat the first problem (lowest seq).
type Check struct {
	Valid    bool      `json:"valid"`
	Status   Status    `json:"status"`
	Entries  int       `json:"entries"`
	Anchors  int       `json:"anchors,omitempty"`
	BrokenAt int64     `json:"brokenAt,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
}

// Anchor is an entry's seq and hash as published when it was written.
type Anchor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// maxProblems bounds a report: the first problems say what happened.
const maxProblems = 20

// Verify checks entries (in seq order) link by link under key.
func Verify(entries []Entry, key []byte) Check { return VerifyAnchored(entries, key, nil) }

// VerifyAnchored checks entries (in seq order) link by link under key, and
// against anchors (any order; several for one seq are a conflict).
func VerifyAnchored(entries []Entry, key []byte, anchors []Anchor) Check {
	c := Check{Entries: len(entries), Anchors: len(anchors)}
	add := func(s Status, seq int64, format string, args ...any) {
		if len(c.Problems) < maxProblems {
			c.Problems = append(c.Problems, Problem{Status: s, Seq: seq, Reason: fmt.Sprintf(format, args...)})
		}
	}
	anchored := map[int64][]string{}
	var lastAnchor int64
	for _, a := range anchors {
		if !slices.Contains(anchored[a.Seq], a.Hash) {
			anchored[a.Seq] = append(anchored[a.Seq], a.Hash)
		}
		lastAnchor = max(lastAnchor, a.Seq)
	}
	prev, keyed := GenesisHash, false
	for i, e := range entries {
		want := int64(i + 1)
		if e.Seq != want {
			add(Altered, want, "entry %d is missing (found seq %d)", want, e.Seq)
			break // later links cannot be told apart from the gap
		}
		hs := anchored[e.Seq]
		switch {
		case len(hs) > 1:
			add(AnchorConflict, e.Seq, "entry %d was anchored with %d different hashes", e.Seq, len(hs))
		case len(hs) == 1 && hs[0] != e.Hash:
			add(Rehashed, e.Seq, "entry %d differs from its anchor: the chain was re-hashed from here", e.Seq)
		}
		switch {
		case e.PrevHash != prev:
			add(Altered, e.Seq, "entry %d does not follow entry %d", e.Seq, e.Seq-1)
		case e.Alg == AlgSHA256 && keyed:
			add(Unkeyed, e.Seq, "entry %d has no key although an earlier entry has", e.Seq)
		case e.Alg == AlgHMAC && len(key) == 0:
			add(NoKey, e.Seq, "entry %d is keyed and the verifier has no audit key", e.Seq)
		case e.ComputeHash(key) != e.Hash:
			add(Altered, e.Seq, "entry %d was altered after it was written", e.Seq)
		}
		keyed = keyed || e.Alg == AlgHMAC
		prev = e.Hash
	}
	var last int64
	if len(entries) > 0 {
		last = entries[len(entries)-1].Seq
	}
	if lastAnchor > last {
		add(MissingTail, last+1, "entries %d to %d are anchored but missing: the tail was deleted", last+1, lastAnchor)
	}
	if len(c.Problems) == 0 {
		c.Valid, c.Status = true, Valid
		return c
	}
	first := c.Problems[0]
	c.Status, c.BrokenAt, c.Reason = first.Status, first.Seq, first.Reason
	return c
}
