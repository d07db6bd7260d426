package pow

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzPoW: a solved challenge is accepted once for its village and then
// reused; a token changed anywhere is accepted only if it is the same
// signed payload and signature (base64's spare bits), which then counts as
// the same spent challenge; a token the fuzzer writes itself never passes;
// an accepted nonce really does the work; an expired challenge is refused.
func FuzzPoW(f *testing.F) {
	f.Add("330283100201", uint8(4), uint16(3), byte('A'), "", "0", "330283100202", int64(10))
	f.Add("330283100201", uint8(1), uint16(200), byte('.'), "x", "", "330283100201", int64(301))
	f.Add("", uint8(8), uint16(0), byte(0), ".", strings.Repeat("9", 33), "", int64(-1))
	f.Add("v", uint8(2), uint16(65535), byte('_'), "eyJpIjoiMSIsInMiOiIxIiwiZCI6MCwiZSI6OTk5OTk5OTk5OTl9.AAAA", "1", "v", int64(0))
	f.Fuzz(func(t *testing.T, village string, difficulty uint8, pos uint16, b byte, extra, nonce, other string, dt int64) {
		// Callers pass a checked village code (12 digits): valid text (the
		// claims are JSON, where a village of "\xea" came back as U+FFFD)
		// and short (a village of 1000 characters made a token longer than
		// the 1024 bytes a token may have).
		village, other = strings.ToValidUTF8(village, "?"), strings.ToValidUTF8(other, "?")
		village, other = village[:min(len(village), 64)], other[:min(len(other), 64)]
		village, other = strings.ToValidUTF8(village, "?"), strings.ToValidUTF8(other, "?")
		now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
		c := NewChallenger(ChallengerConfig{Key: []byte("fuzz-key-fuzz-key-fuzz-key-32byt"), TTL: 5 * time.Minute, MinDifficulty: 1, MaxDifficulty: 8})
		ch := c.IssueChallenge(village, int(difficulty), now)
		if ch.Difficulty < 1 || ch.Difficulty > 8 {
			t.Fatalf("difficulty %d outside [1, 8]", ch.Difficulty)
		}
		solved := SolvePoW(ch.Seed, ch.Difficulty)

		// A token written by the fuzzer, without the key, never passes.
		if err := c.CheckPoWForVillage(extra, nonce, village, now); err == nil {
			t.Fatalf("forged token %q passed", extra)
		}
		// Any nonce that passes does the work.
		if err := c.CheckPoWForVillage(ch.Token, nonce, village, now); err == nil {
			if len(nonce) > powMaxNonceLen || powLeadingZeroBits(powHash(ch.Seed, nonce)) < ch.Difficulty {
				t.Fatalf("nonce %q passed without the work", nonce)
			}
		}
		if other != village {
			if err := c.CheckPoWForVillage(ch.Token, solved, other, now); !errors.Is(err, ErrChallengeWrongVillage) {
				t.Fatalf("challenge for %q used for %q: %v", village, other, err)
			}
		}
		late := now.Add(5*time.Minute + time.Duration(dt%1000)*time.Second)
		if !late.Before(ch.ExpiresAt) {
			if err := c.CheckPoWForVillage(ch.Token, solved, village, late); !errors.Is(err, ErrChallengeExpired) {
				t.Fatalf("expired challenge at %s: %v", late, err)
			}
		}

		// A changed token.
		mutated := []byte(ch.Token)
		if len(mutated) > 0 {
			mutated[int(pos)%len(mutated)] = b
		}
		mutated = append(mutated, extra...)
		if m := string(mutated); m != ch.Token {
			if err := c.CheckPoWForVillage(m, solved, village, now); err == nil && !sameToken(ch.Token, m) {
				t.Fatalf("changed token %q passed (issued %q)", m, ch.Token)
			}
		}

		if err := c.VerifyPoWForVillage(ch.Token, solved, village, now); err != nil {
			t.Fatalf("solved challenge refused: %v", err)
		}
		if err := c.VerifyPoWForVillage(ch.Token, solved, village, now); !errors.Is(err, ErrChallengeReused) {
			t.Fatalf("spent challenge accepted again: %v", err)
		}
		if m := string(mutated); m != ch.Token && sameToken(ch.Token, m) {
			if err := c.VerifyPoWForVillage(m, solved, village, now); !errors.Is(err, ErrChallengeReused) {
				t.Fatalf("a respelling %q of a spent token: %v", m, err)
			}
		}
	})
}

// sameToken: both tokens carry the same payload text and decode to the same
// signature.
func sameToken(a, b string) bool {
	pa, sa, _ := strings.Cut(a, ".")
	pb, sb, ok := strings.Cut(b, ".")
	if !ok || pa != pb {
		return false
	}
	da, err1 := base64.RawURLEncoding.DecodeString(sa)
	db, err2 := base64.RawURLEncoding.DecodeString(sb)
	return err1 == nil && err2 == nil && bytes.Equal(da, db)
}
