package pow

import (
	"errors"
	"testing"
	"time"
)

var abuseT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestChallengeSpentSetBounded(t *testing.T) {
	ch := NewChallenger(ChallengerConfig{MinDifficulty: 4, MaxDifficulty: 4, MaxSpent: 3, TTL: time.Minute})
	solve := func(now time.Time) error {
		c := ch.IssueChallenge("v", 0, now)
		return ch.VerifyPoW(c.Token, SolvePoW(c.Seed, c.Difficulty), now)
	}
	for i := range 3 {
		if err := solve(abuseT0); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	if err := solve(abuseT0); !errors.Is(err, ErrChallengeCapacity) {
		t.Fatalf("full spent set should fail closed, got %v", err)
	}
	if err := solve(abuseT0.Add(2 * time.Minute)); err != nil {
		t.Fatalf("after expiry the set is swept: %v", err)
	}
	if n := ch.SpentCount(); n != 1 {
		t.Fatalf("spent count %d, want 1", n)
	}
}

func TestPoWLeadingZeroBits(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want int
	}{{[]byte{0x80}, 0}, {[]byte{0x01}, 7}, {[]byte{0, 0xFF}, 8}, {[]byte{0, 0, 0x10}, 19}, {nil, 256}} {
		var h [32]byte
		copy(h[:], c.b)
		if got := powLeadingZeroBits(h); got != c.want {
			t.Errorf("%x: got %d want %d", c.b, got, c.want)
		}
	}
}

func TestPoWSolveDifficulty16(t *testing.T) {
	ch := NewChallenger(ChallengerConfig{})
	c := ch.IssueChallenge("v", 16, abuseT0)
	if c.Difficulty != 16 {
		t.Fatalf("difficulty %d", c.Difficulty)
	}
	nonce := SolvePoW(c.Seed, c.Difficulty)
	if powLeadingZeroBits(powHash(c.Seed, nonce)) < 16 {
		t.Fatalf("nonce %q does not meet difficulty", nonce)
	}
	if err := ch.VerifyPoW(c.Token, nonce, abuseT0); err != nil {
		t.Fatal(err)
	}
	// Clamping.
	if got := ch.IssueChallenge("v", 99, abuseT0).Difficulty; got != 22 {
		t.Errorf("clamped to %d, want 22", got)
	}
	if got := ch.IssueChallenge("v", 0, abuseT0).Difficulty; got != 16 {
		t.Errorf("default %d, want 16", got)
	}
}

func BenchmarkVerifyPoW(b *testing.B) {
	ch := NewChallenger(ChallengerConfig{MinDifficulty: 1, MaxDifficulty: 1, MaxSpent: b.N + 1})
	type solved struct{ token, nonce string }
	work := make([]solved, b.N)
	for i := range work {
		c := ch.IssueChallenge("v", 1, abuseT0)
		work[i] = solved{c.Token, SolvePoW(c.Seed, c.Difficulty)}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ch.VerifyPoW(work[i].token, work[i].nonce, abuseT0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDomainSeparatesIntakes: a token signed for one intake does not verify
// at another that shares the key.
func TestDomainSeparatesIntakes(t *testing.T) {
	key := []byte("shared-key-shared-key-shared-key")
	complaint := NewChallenger(ChallengerConfig{Key: key, MinDifficulty: 4, MaxDifficulty: 4})
	workflow := NewChallenger(ChallengerConfig{Key: key, MinDifficulty: 4, MaxDifficulty: 4, Domain: "wuxiao-workflow-pow-v1"})
	c := complaint.IssueChallenge("v", 0, abuseT0)
	nonce := SolvePoW(c.Seed, c.Difficulty)
	if err := workflow.VerifyPoWForVillage(c.Token, nonce, "v", abuseT0); !errors.Is(err, ErrChallengeBadSignature) {
		t.Fatalf("other domain: %v, want ErrChallengeBadSignature", err)
	}
	if err := complaint.VerifyPoWForVillage(c.Token, nonce, "v", abuseT0); err != nil {
		t.Fatalf("own domain: %v", err)
	}
}
