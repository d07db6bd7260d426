package complaint

// Rate limiting of the anonymous intake ("码上举报"), the first of its
// abuse guards (the others: flood.go, challenge.go (services/internal/pow), bytebudget.go and
// intakelimits.go). All in memory, standard library only.
//
// RateLimiter keeps token buckets per client and per village. The client is
// identified only by ClientKey(addr) = HMAC-SHA256(per-process random key,
// host part of addr, an IPv6 address as its /64). The raw address is never
// stored, and the key is lost on restart, so the limiter cannot be used to
// re-identify reporters. Do not log Decision values together with the raw
// address.
//
// Suggested handler flow:
//
//	d := rl.Allow(addr, village, now)
//	if !d.Allowed && d.ChallengeRequired && token != "" {
//	    if err := ch.VerifyPoWForVillage(token, nonce, village, now); err != nil { 400 + err }
//	    d = rl.AllowWithProof(addr, village, now)
//	}
//	if !d.Allowed { 429, Retry-After: d.RetryAfter; if d.ChallengeRequired: body = ch.IssueChallenge(village, d.Difficulty, now) }
//	if err := ValidateIntake(in); err != nil { 400 + err }

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/ratelimit"
)

// Decision reasons.
const (
	LimitReasonClient  = "client"
	LimitReasonVillage = "village"
)

// Decision is the outcome of RateLimiter.Allow.
type Decision struct {
	Allowed bool
	// Reason is LimitReasonClient or LimitReasonVillage when !Allowed.
	Reason string
	// RetryAfter is how long until a token is available (0 if allowed, or
	// when only a challenge is needed).
	RetryAfter time.Duration
	// ChallengeRequired: the village is flooded; a solved proof of work lets
	// the request through (AllowWithProof).
	ChallengeRequired bool
	// Difficulty in leading zero bits, set when ChallengeRequired.
	Difficulty int
	// Message is the Chinese text for the page.
	Message string
}

// RateLimitConfig holds the limiter settings. Zero fields take defaults.
type RateLimitConfig struct {
	ClientEvery  time.Duration // one client token per ClientEvery (default 2m = 5 per 10 min)
	ClientBurst  int           // default 3
	VillageEvery time.Duration // one village token per VillageEvery (default 1m = 60 per hour)
	VillageBurst int           // default 20
	MaxClients   int           // tracked clients, LRU beyond (default 100000)
	MaxVillages  int           // tracked villages, LRU beyond (default 10000)
	IdleTTL      time.Duration // forget keys idle this long (default 1h; >= time to refill)

	FloodWindow    time.Duration // default 10m
	FloodThreshold int           // attempts per window that trigger challenges (default 30)
	MinDifficulty  int           // default 16
	MaxDifficulty  int           // default 22

	// ClientDailyBytes bounds the bytes one client may upload (report-page
	// bodies, attachments included) per day (default 64 MiB: four reports
	// with three 5 MiB files each). Counts of submissions alone let one
	// client store gigabytes a day.
	ClientDailyBytes int64
}

func (c *RateLimitConfig) setDefaults() {
	if c.ClientEvery <= 0 {
		c.ClientEvery = 2 * time.Minute
	}
	if c.ClientBurst <= 0 {
		c.ClientBurst = 3
	}
	if c.VillageEvery <= 0 {
		c.VillageEvery = time.Minute
	}
	if c.VillageBurst <= 0 {
		c.VillageBurst = 20
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 100000
	}
	if c.MaxVillages <= 0 {
		c.MaxVillages = 10000
	}
	if c.IdleTTL <= 0 {
		c.IdleTTL = time.Hour
	}
	if c.FloodWindow <= 0 {
		c.FloodWindow = 10 * time.Minute
	}
	if c.FloodThreshold <= 0 {
		c.FloodThreshold = 30
	}
	if c.MinDifficulty <= 0 {
		c.MinDifficulty = 16
	}
	if c.ClientDailyBytes <= 0 {
		c.ClientDailyBytes = 64 << 20
	}
	if c.MaxDifficulty < c.MinDifficulty {
		c.MaxDifficulty = 22
		if c.MaxDifficulty < c.MinDifficulty {
			c.MaxDifficulty = c.MinDifficulty
		}
	}
}

func (c RateLimitConfig) clientRate() ratelimit.Rate {
	return ratelimit.Rate{Every: c.ClientEvery, Burst: c.ClientBurst}
}

func (c RateLimitConfig) villageRate() ratelimit.Rate {
	return ratelimit.Rate{Every: c.VillageEvery, Burst: c.VillageBurst}
}

func newBucket() *ratelimit.Bucket { return &ratelimit.Bucket{} }

// retryAfter is how long until b has a token: whole seconds for
// Retry-After, never early.
func retryAfter(b *ratelimit.Bucket, r ratelimit.Rate) time.Duration {
	if b.Tokens() >= 1 {
		return 0
	}
	return b.Wait(r).Round(time.Second) + time.Second
}

// RateLimiter enforces per-client and per-village token buckets and detects
// floods. Safe for concurrent use. Time is always passed in (injectable clock).
type RateLimiter struct {
	cfg      RateLimitConfig
	key      []byte
	mu       sync.Mutex
	clients  *ratelimit.LRU[*ratelimit.Bucket]
	villages *ratelimit.LRU[*villageState]
	// uploads are the clients' byte budgets, kept for a day whatever
	// IdleTTL says.
	uploads *ratelimit.LRU[*byteBudget]
}

// NewRateLimiter returns a limiter with a fresh random HMAC key.
func NewRateLimiter(cfg RateLimitConfig) *RateLimiter {
	cfg.setDefaults()
	return &RateLimiter{
		cfg:      cfg,
		key:      randomBytes(32),
		clients:  ratelimit.NewLRU[*ratelimit.Bucket](cfg.MaxClients, cfg.IdleTTL),
		villages: ratelimit.NewLRU[*villageState](cfg.MaxVillages, cfg.IdleTTL),
		uploads:  ratelimit.NewLRU[*byteBudget](cfg.MaxClients, uploadDay),
	}
}

// Config returns the effective configuration (defaults filled in).
func (r *RateLimiter) Config() RateLimitConfig { return r.cfg }

// ClientKey is the only form in which a client address is kept: a truncated
// HMAC-SHA256 under a per-process random key, of httpapi.RateLimitKey(addr)
// (port stripped, so one phone reconnecting is one client; an IPv6 address
// counted as its /64, so that a client cannot take a fresh bucket per
// address of its subnet).
func (r *RateLimiter) ClientKey(addr string) string {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(httpapi.RateLimitKey(addr)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// TrackedClients is the number of client buckets held in memory.
func (r *RateLimiter) TrackedClients() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clients.Len()
}

// TrackedVillages is the number of village states held in memory.
func (r *RateLimiter) TrackedVillages() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.villages.Len()
}

// Allow decides whether one anonymous submission from clientAddr for village
// may proceed at time now. Tokens are consumed only when Allowed. When the
// village is flooded the decision is !Allowed with ChallengeRequired; after a
// verified proof of work call AllowWithProof. village must already be checked
// against the known villages: unknown names would let a flood of invented
// villages push real ones out of the bounded village table.
func (r *RateLimiter) Allow(clientAddr, village string, now time.Time) Decision {
	return r.allow(clientAddr, village, now, false)
}

// PeekClient reports whether the client has a submission left, consuming
// nothing and counting no attempt: the report page asks before reading a
// body, so that a client over its limit is refused before it uploads.
func (r *RateLimiter) PeekClient(clientAddr string, now time.Time) Decision {
	ck := r.ClientKey(clientAddr)
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.clients.Get(ck, now, newBucket)
	c.Refill(now, r.cfg.clientRate())
	if c.Tokens() < 1 {
		return Decision{Reason: LimitReasonClient, RetryAfter: retryAfter(c, r.cfg.clientRate()),
			Message: "您提交得太频繁，请稍后再试"}
	}
	return Decision{Allowed: true}
}

// AllowWithProof is Allow for a request that carried a verified proof of work
// (see Challenger.VerifyPoWForVillage): the per-client limit still applies,
// the village limit and flood check do not.
func (r *RateLimiter) AllowWithProof(clientAddr, village string, now time.Time) Decision {
	return r.allow(clientAddr, village, now, true)
}

func (r *RateLimiter) allow(clientAddr, village string, now time.Time, proved bool) Decision {
	ck := r.ClientKey(clientAddr)
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.clients.Get(ck, now, newBucket)
	v := r.villages.Get(village, now, newVillageState)

	c.Refill(now, r.cfg.clientRate())
	v.Refill(now, r.cfg.villageRate())
	v.roll(now, r.cfg.FloodWindow)
	v.curCount++ // every attempt counts toward flood detection

	if c.Tokens() < 1 {
		return Decision{Reason: LimitReasonClient, RetryAfter: retryAfter(c, r.cfg.clientRate()),
			Message: "您提交得太频繁，请稍后再试"}
	}
	if !proved {
		att := v.attempts(now, r.cfg.FloodWindow)
		if v.Tokens() < 1 || att > float64(r.cfg.FloodThreshold) {
			return Decision{Reason: LimitReasonVillage, RetryAfter: retryAfter(&v.Bucket, r.cfg.villageRate()),
				ChallengeRequired: true, Difficulty: r.difficulty(att),
				Message: "当前提交量较大，请完成页面上的自动验证后再提交"}
		}
		v.Take()
	}
	c.Take()
	return Decision{Allowed: true}
}
