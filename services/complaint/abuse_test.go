package complaint

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var abuseT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestLimitClientBucket(t *testing.T) {
	rl := NewRateLimiter(RateLimitConfig{FloodThreshold: 1 << 20})
	const addr = "192.0.2.10:51234"
	steps := []struct {
		at      time.Duration
		addr    string
		allowed bool
		reason  string
	}{
		{0, addr, true, ""},
		{0, addr, true, ""},
		{0, addr, true, ""}, // burst 3 used
		{0, addr, false, LimitReasonClient},
		{0, "192.0.2.10:40000", false, LimitReasonClient}, // same host, other port
		{0, "192.0.2.11:51234", true, ""},                 // other client unaffected
		{time.Minute, addr, false, LimitReasonClient},     // half a token
		{2 * time.Minute, addr, true, ""},                 // one token per 2 minutes
		{2 * time.Minute, addr, false, LimitReasonClient},
		{time.Hour, addr, true, ""}, // refilled to burst
		{time.Hour, addr, true, ""},
		{time.Hour, addr, true, ""},
		{time.Hour, addr, false, LimitReasonClient},
	}
	for i, s := range steps {
		d := rl.Allow(s.addr, "v1", abuseT0.Add(s.at))
		if d.Allowed != s.allowed || d.Reason != s.reason {
			t.Fatalf("step %d: got allowed=%v reason=%q, want %v %q", i, d.Allowed, d.Reason, s.allowed, s.reason)
		}
		if !d.Allowed {
			if d.RetryAfter <= 0 || d.RetryAfter > 2*time.Minute+time.Second {
				t.Errorf("step %d: RetryAfter %v out of range", i, d.RetryAfter)
			}
			if d.Message == "" || d.ChallengeRequired {
				t.Errorf("step %d: client rejection should carry a message and no challenge: %+v", i, d)
			}
		}
	}
	// Retry-After is honest: at now+RetryAfter the client is let in.
	now := abuseT0.Add(2 * time.Hour)
	for range 3 {
		rl.Allow("198.51.100.1:1", "v1", now)
	}
	d := rl.Allow("198.51.100.1:1", "v1", now)
	if d.Allowed {
		t.Fatal("expected rejection")
	}
	if d2 := rl.Allow("198.51.100.1:1", "v1", now.Add(d.RetryAfter)); !d2.Allowed {
		t.Fatalf("not allowed after RetryAfter %v: %+v", d.RetryAfter, d2)
	}
}

func TestLimitVillageBucket(t *testing.T) {
	rl := NewRateLimiter(RateLimitConfig{VillageBurst: 5, VillageEvery: time.Minute, FloodThreshold: 1 << 20})
	for i := range 5 {
		if d := rl.Allow(fmt.Sprintf("10.0.0.%d:1", i), "v1", abuseT0); !d.Allowed {
			t.Fatalf("client %d: %+v", i, d)
		}
	}
	d := rl.Allow("10.0.0.99:1", "v1", abuseT0)
	if d.Allowed || d.Reason != LimitReasonVillage || !d.ChallengeRequired || d.Difficulty != 16 || d.RetryAfter <= 0 {
		t.Fatalf("village limit: %+v", d)
	}
	if d := rl.Allow("10.0.0.99:1", "v2", abuseT0); !d.Allowed {
		t.Fatalf("other village should be unaffected: %+v", d)
	}
	// The village rejection did not consume the client's tokens: with a proof
	// the client still has its burst minus the v2 submission.
	for i := range 2 {
		if d := rl.AllowWithProof("10.0.0.99:1", "v1", abuseT0); !d.Allowed {
			t.Fatalf("with proof %d: %+v", i, d)
		}
	}
	if d := rl.AllowWithProof("10.0.0.99:1", "v1", abuseT0); d.Allowed || d.Reason != LimitReasonClient {
		t.Fatalf("proof must not bypass the client limit: %+v", d)
	}
	if d := rl.Allow("10.0.0.50:1", "v1", abuseT0.Add(time.Minute)); !d.Allowed {
		t.Fatalf("village refills one per minute: %+v", d)
	}
}

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
		if powLeadingZeroBits(powHash(weakC.Seed, n)) < weakC.Difficulty {
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
			var fe *FieldError
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
	var cl powClaims
	if err := json.Unmarshal(raw, &cl); err != nil {
		t.Fatal(err)
	}
	cl.Difficulty = 1
	raw, _ = json.Marshal(cl)
	return base64.RawURLEncoding.EncodeToString(raw) + "." + sig
}

func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

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

func TestLimitMemoryBound(t *testing.T) {
	rl := NewRateLimiter(RateLimitConfig{MaxClients: 1000, MaxVillages: 50, IdleTTL: time.Hour})
	for i := range 20000 {
		now := abuseT0.Add(time.Duration(i) * time.Millisecond)
		rl.Allow(fmt.Sprintf("10.%d.%d.%d:443", i>>16&255, i>>8&255, i&255), fmt.Sprintf("v%d", i%200), now)
		if n := rl.TrackedClients(); n > 1000 {
			t.Fatalf("after %d clients tracking %d > 1000", i+1, n)
		}
	}
	if n := rl.TrackedClients(); n != 1000 {
		t.Fatalf("tracked clients %d, want 1000", n)
	}
	if n := rl.TrackedVillages(); n != 50 {
		t.Fatalf("tracked villages %d, want 50", n)
	}
	// The most recent client survived LRU eviction: its bucket is still used.
	last := "10.0.78.31:443" // i = 19999
	for range 2 {
		rl.Allow(last, "v0", abuseT0.Add(20*time.Second))
	}
	if d := rl.Allow(last, "v0", abuseT0.Add(20*time.Second)); d.Allowed || d.Reason != LimitReasonClient {
		t.Fatalf("recent client forgotten: %+v", d)
	}
	// Idle keys are dropped.
	rl.Allow("192.0.2.1:1", "v0", abuseT0.Add(3*time.Hour))
	if n, v := rl.TrackedClients(), rl.TrackedVillages(); n != 1 || v != 1 {
		t.Fatalf("after idle period tracking %d clients, %d villages; want 1, 1", n, v)
	}
}

func TestLimitKeyIsNotAddress(t *testing.T) {
	rl := NewRateLimiter(RateLimitConfig{})
	other := NewRateLimiter(RateLimitConfig{})
	addrs := []string{"192.0.2.10:51234", "192.0.2.10", "[2001:db8::1]:443", "2001:db8::1", "", "unix-socket"}
	for _, a := range addrs {
		k := rl.ClientKey(a)
		host := a
		if i := strings.LastIndex(a, ":"); i > 0 && strings.Count(a, ":") == 1 {
			host = a[:i]
		}
		if k == a || (host != "" && strings.Contains(k, host)) || len(k) != 32 {
			t.Errorf("ClientKey(%q) = %q reveals the address", a, k)
		}
		if k == other.ClientKey(a) {
			t.Errorf("ClientKey(%q) is the same under two process keys", a)
		}
		rl.Allow(a, "v1", abuseT0)
	}
	if rl.ClientKey("192.0.2.10:1") != rl.ClientKey("192.0.2.10:2") {
		t.Error("port should not split a client")
	}
	if rl.ClientKey("192.0.2.10:1") == rl.ClientKey("192.0.2.11:1") {
		t.Error("different hosts share a key")
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for k := range rl.clients.items {
		for _, a := range addrs {
			if a != "" && strings.Contains(k, strings.Trim(a, "[]")) {
				t.Errorf("limiter stores raw address %q in key %q", a, k)
			}
		}
	}
}

func TestLimitConcurrent(t *testing.T) {
	rl := NewRateLimiter(RateLimitConfig{MaxClients: 100})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if rl.Allow(fmt.Sprintf("10.1.%d.%d:1", g, i%50), "v", abuseT0).Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 20 { // village burst
		t.Fatalf("allowed %d, want 20 (village burst)", allowed)
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

func TestLimitIntakeValidation(t *testing.T) {
	jpeg := []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00")
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	pdf := []byte("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n")
	html := []byte("<html><script>alert(1)</script></html>")
	gif := []byte("GIF89a\x01\x00\x01\x00")
	exe := []byte("MZ\x90\x00\x03\x00\x00\x00")
	ok := "村里的路灯坏了三个月没人修。"
	file := func(name string, head []byte, size int64) IntakeFile {
		return IntakeFile{Name: name, Head: head, Size: size}
	}
	cases := []struct {
		name  string
		in    IntakeLimitsInput
		codes []string // want codes in order; nil = valid
		field string   // field of the first error
	}{
		{"valid no files", IntakeLimitsInput{Description: ok}, nil, ""},
		{"valid three types", IntakeLimitsInput{Description: ok, Files: []IntakeFile{
			file("a.jpg", jpeg, 1000), file("b.png", png, 1000), file("c.pdf", pdf, IntakeMaxFileBytes)}}, nil, ""},
		{"exactly 10 runes", IntakeLimitsInput{Description: "一二三四五六七八九十"}, nil, ""},
		{"exactly 2000 runes", IntakeLimitsInput{Description: strings.Repeat("字", 2000)}, nil, ""},
		{"9 runes", IntakeLimitsInput{Description: "一二三四五六七八九"}, []string{"description_too_short"}, "description"},
		{"padding does not count", IntakeLimitsInput{Description: "   一二三   \n\n  "}, []string{"description_too_short"}, "description"},
		{"2001 runes", IntakeLimitsInput{Description: strings.Repeat("字", 2001)}, []string{"description_too_long"}, "description"},
		{"invalid utf8", IntakeLimitsInput{Description: ok + "\xff"}, []string{"description_invalid_encoding"}, "description"},
		{"too many files", IntakeLimitsInput{Description: ok, Files: []IntakeFile{
			file("1.jpg", jpeg, 1), file("2.jpg", jpeg, 1), file("3.jpg", jpeg, 1), file("4.jpg", jpeg, 1)}},
			[]string{"too_many_attachments"}, "attachments"},
		{"too large", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("big.jpg", jpeg, IntakeMaxFileBytes+1)}},
			[]string{"attachment_too_large"}, "attachments[0]"},
		{"empty file", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("e.jpg", nil, 0)}},
			[]string{"attachment_empty"}, "attachments[0]"},
		{"html named jpg", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("ok.png", png, 10), file("photo.jpg", html, 100)}},
			[]string{"attachment_type_not_allowed"}, "attachments[1]"},
		{"gif", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("a.gif", gif, 10)}},
			[]string{"attachment_type_not_allowed"}, "attachments[0]"},
		{"exe", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("a.pdf", exe, 10)}},
			[]string{"attachment_type_not_allowed"}, "attachments[0]"},
		{"all at once", IntakeLimitsInput{Description: "短", Files: []IntakeFile{file("a.gif", gif, 10)}},
			[]string{"description_too_short", "attachment_type_not_allowed"}, "description"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateIntake(tc.in)
			if tc.codes == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fes FieldErrors
			if !errors.As(err, &fes) {
				t.Fatalf("want FieldErrors, got %v", err)
			}
			if len(fes) != len(tc.codes) {
				t.Fatalf("got %v, want codes %v", fes, tc.codes)
			}
			for i, fe := range fes {
				if fe.Code != tc.codes[i] || fe.Message == "" {
					t.Errorf("error %d: %+v, want code %s", i, fe, tc.codes[i])
				}
			}
			if fes[0].Field != tc.field {
				t.Errorf("field %q, want %q", fes[0].Field, tc.field)
			}
		})
	}
	// Messages name the limit.
	for _, c := range []struct {
		err  error
		want string
	}{
		{ValidateIntake(IntakeLimitsInput{Description: "短"}), "10"},
		{ValidateIntake(IntakeLimitsInput{Description: strings.Repeat("字", 2001)}), "2000"},
		{ValidateIntake(IntakeLimitsInput{Description: ok, Files: make([]IntakeFile, 4)}), "3"},
		{ValidateIntake(IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("x", jpeg, 6<<20)}}), "5MB"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v should mention %q", c.err, c.want)
		}
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
