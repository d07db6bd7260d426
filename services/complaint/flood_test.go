package complaint

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/pow"
)

func TestLimitDifficultyAdapts(t *testing.T) {
	rl := NewRateLimiter(RateLimitConfig{FloodThreshold: 30})
	for _, c := range []struct {
		attempts float64
		want     int
	}{{0, 16}, {30, 16}, {59, 16}, {60, 17}, {120, 18}, {240, 19}, {960, 21}, {1920, 22}, {1e9, 22}} {
		if got := rl.difficulty(c.attempts); got != c.want {
			t.Errorf("difficulty(%v) = %d, want %d", c.attempts, got, c.want)
		}
	}
}

// Many clients flood one village: challenges become required, a solved
// challenge is accepted once; reused, expired, tampered, foreign and
// insufficient proofs are rejected with their own errors.
func TestAbuseFloodScenario(t *testing.T) {
	rl := NewRateLimiter(RateLimitConfig{MaxDifficulty: 18}) // cap keeps the test fast
	ch := NewChallenger(ChallengerConfig{MaxDifficulty: 18})
	const village = "zhangjiacun"

	var first, last Decision
	challenged := 0
	for i := range 200 {
		now := abuseT0.Add(time.Duration(i) * 300 * time.Millisecond) // 200 requests in one minute
		d := rl.Allow(fmt.Sprintf("203.0.113.%d:%d", i%250, 1000+i), village, now)
		if d.ChallengeRequired {
			if challenged == 0 {
				first = d
			}
			challenged++
			last = d
			if d.Allowed || d.Reason != LimitReasonVillage || d.Message == "" {
				t.Fatalf("request %d: %+v", i, d)
			}
		}
	}
	if challenged == 0 {
		t.Fatal("flood never triggered a challenge")
	}
	if first.Difficulty != 16 || last.Difficulty <= first.Difficulty || last.Difficulty > 18 {
		t.Fatalf("difficulty did not adapt: first %d last %d", first.Difficulty, last.Difficulty)
	}
	// Another village is not affected by the flood.
	now := abuseT0.Add(time.Minute)
	if d := rl.Allow("198.51.100.7:1", "lijiacun", now); !d.Allowed || d.ChallengeRequired {
		t.Fatalf("other village: %+v", d)
	}

	// A villager caught in the flood solves the challenge.
	const villager = "198.51.100.8:4444"
	d := rl.Allow(villager, village, now)
	if d.Allowed || !d.ChallengeRequired {
		t.Fatalf("villager should be challenged: %+v", d)
	}
	c := ch.IssueChallenge(village, d.Difficulty, now)
	if c.Difficulty != d.Difficulty || c.ID == "" || c.Seed == "" || !c.ExpiresAt.After(now) {
		t.Fatalf("challenge: %+v", c)
	}
	nonce := SolvePoW(c.Seed, c.Difficulty)
	if err := ch.VerifyPoWForVillage(c.Token, nonce, village, now.Add(10*time.Second)); err != nil {
		t.Fatalf("solved challenge rejected: %v", err)
	}
	if d := rl.AllowWithProof(villager, village, now.Add(10*time.Second)); !d.Allowed {
		t.Fatalf("proved request rejected: %+v", d)
	}
	if err := ch.VerifyPoWForVillage(c.Token, nonce, village, now.Add(11*time.Second)); !errors.Is(err, ErrChallengeReused) {
		t.Fatalf("reuse: got %v", err)
	}

	// Each failure mode has its own error.
	fresh := func() (Challenge, string) {
		c := ch.IssueChallenge(village, 16, now)
		return c, SolvePoW(c.Seed, c.Difficulty)
	}
	expC, expN := fresh()
	tamC, tamN := fresh()
	vilC, vilN := fresh()
	weakC, _ := fresh()
	weakNonce := ""
	for i := 0; ; i++ {
		n := "w" + strconv.Itoa(i)
		if pow.Work(weakC.Seed, n) < weakC.Difficulty {
			weakNonce = n
			break
		}
	}
	other := NewChallenger(ChallengerConfig{MaxDifficulty: 18})
	forC := other.IssueChallenge(village, 16, now)
	forN := SolvePoW(forC.Seed, forC.Difficulty)

	cases := []struct {
		name    string
		token   string
		nonce   string
		village string
		at      time.Time
		want    error
	}{
		{"expired", expC.Token, expN, village, expC.ExpiresAt, ErrChallengeExpired},
		{"tampered difficulty", tamperDifficulty(t, tamC.Token), tamN, village, now, ErrChallengeBadSignature},
		{"tampered signature", tamC.Token[:len(tamC.Token)-2] + flip(tamC.Token[len(tamC.Token)-2:]), tamN, village, now, ErrChallengeBadSignature},
		{"other key", forC.Token, forN, village, now, ErrChallengeBadSignature},
		{"wrong village", vilC.Token, vilN, "lijiacun", now, ErrChallengeWrongVillage},
		{"insufficient work", weakC.Token, weakNonce, village, now, ErrPoWInsufficientWork},
		{"empty nonce", weakC.Token, "", village, now, ErrPoWInsufficientWork},
		{"huge nonce", weakC.Token, strings.Repeat("9", 1000), village, now, ErrPoWInsufficientWork},
		{"garbage", "not-a-token", "1", village, now, ErrChallengeMalformed},
		{"empty", "", "1", village, now, ErrChallengeMalformed},
		{"bad base64", "a.!!!", "1", village, now, ErrChallengeMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ch.VerifyPoWForVillage(tc.token, tc.nonce, tc.village, tc.at)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var fe *domainerr.FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Code == "" || fe.Message == "" {
				t.Fatalf("error is not a complete FieldError: %#v", err)
			}
		})
	}
	// Failed attempts did not spend the challenges: the rightful solutions
	// still work once.
	if err := ch.VerifyPoWForVillage(vilC.Token, vilN, village, now); err != nil {
		t.Fatalf("village-checked challenge after failed attempt: %v", err)
	}
	if err := ch.VerifyPoW(tamC.Token, tamN, now); err != nil {
		t.Fatalf("untampered token: %v", err)
	}

	// The flood subsides: after a quiet period no challenge is required.
	later := now.Add(30 * time.Minute)
	if d := rl.Allow("198.51.100.9:1", village, later); !d.Allowed || d.ChallengeRequired {
		t.Fatalf("after flood: %+v", d)
	}
}

func tamperDifficulty(t *testing.T, token string) string {
	t.Helper()
	p, sig, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		t.Fatal(err)
	}
	var cl map[string]any // the signed claims; "d" is the difficulty
	if err := json.Unmarshal(raw, &cl); err != nil {
		t.Fatal(err)
	}
	cl["d"] = 1
	raw, _ = json.Marshal(cl)
	return base64.RawURLEncoding.EncodeToString(raw) + "." + sig
}

func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
