package complaint

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/wuxiao/wuxiao/api/divcode"
)

// A tracking code is the reporter's key to the public status page:
//
//	TS-NNN-XXXX-XXXX
//
// NNN are digits 7-9 of the complaint's village code, which name the town
// within its district (a village's code starts with its town's 9 digits),
// so that the district gateway sends a follow-up (/r/track/<code>,
// /v1/public/complaints/<code>, Open311 requests/<code>.json) straight to the
// town that holds the complaint. XXXX-XXXX are 8 random characters (40 bits)
// of an alphabet without look-alikes. Codes issued before the town part
// existed (TS-XXXX-XXXX) stay valid; the gateway asks every town for those.
// services/gateway/tracking.go reads this format: change both together.

// codeAlphabet has no characters that are easily confused (0/O, 1/I).
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ" // 32: a byte mod 32 is unbiased

var trackingCodePattern = regexp.MustCompile(`^TS-(?:[0-9]{3}-)?[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`)

// NewTrackingCode returns a readable code for a complaint about village,
// TS-NNN-XXXX-XXXX with NNN its town's part of the village code. A village
// that is not a 12-digit code (refused before a complaint is filed) gets a
// code without the town part.
func NewTrackingCode(village string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	random := string(b[:4]) + "-" + string(b[4:])
	if divcode.Valid(village) {
		return "TS-" + village[6:9] + "-" + random // digits 7-9: the town
	}
	return "TS-" + random
}

// ValidTrackingCode reports whether s has the form of a tracking code, with
// or without the town part.
func ValidTrackingCode(s string) bool { return trackingCodePattern.MatchString(s) }

// NewSecret returns a follow-up secret (shown once to the reporter) and its
// hash (the only thing stored).
func NewSecret() (secret, hash string) {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	secret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	return secret, HashSecret(secret)
}

// HashSecret is the stored form of a secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(strings.ToUpper(strings.TrimSpace(secret))))
	return hex.EncodeToString(sum[:])
}

// CheckSecret compares a presented secret with a stored hash in constant time.
func CheckSecret(hash, secret string) bool {
	if hash == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(secret))) == 1
}
