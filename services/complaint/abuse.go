package complaint

// Abuse protection for the anonymous intake ("码上举报").
//
// Three independent layers, all in memory, standard library only:
//
//  1. RateLimiter: token buckets per client and per village. The client is
//     identified only by ClientKey(addr) = HMAC-SHA256(per-process random key,
//     host part of addr, an IPv6 address as its /64). The raw address is never stored, and the key is lost
//     on restart, so the limiter cannot be used to re-identify reporters. Do not
//     log Decision values together with the raw address.
//  2. Flood detection + proof of work: when a village sees more intake attempts
//     than FloodThreshold per FloodWindow, or its abuseBucket is empty, Allow refuses
//     with ChallengeRequired. The page then fetches a Challenge (a stateless,
//     HMAC-signed token), solves it in the browser (see SolvePoW) and resubmits;
//     after VerifyPoWForVillage succeeds the caller uses AllowWithProof, which
//     still enforces the per-client abuseBucket but skips the village abuseBucket (the
//     work is the price of admission during a flood).
//  3. Input limits: ValidateIntake checks description length and attachment
//     count, size and sniffed content type.
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
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// ---------------------------------------------------------------------------
// Errors

// FieldError is a rejected input: Field and Code are stable English
// identifiers (for logs, tests and API clients), Message is the Chinese text
// shown on the page.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Code + " (" + e.Message + ")" }

// FieldErrors collects every FieldError of one submission so the page can
// show all problems at once.
type FieldErrors []*FieldError

func (v FieldErrors) Error() string {
	parts := make([]string, len(v))
	for i, e := range v {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Proof-of-work errors. Returned as these exact values so errors.Is works.
var (
	ErrChallengeMalformed    = &FieldError{"pow_token", "challenge_malformed", "验证信息格式错误，请刷新页面后重试"}
	ErrChallengeBadSignature = &FieldError{"pow_token", "challenge_bad_signature", "验证信息无效，请刷新页面后重试"}
	ErrChallengeExpired      = &FieldError{"pow_token", "challenge_expired", "验证已过期，请刷新页面后重试"}
	ErrChallengeWrongVillage = &FieldError{"pow_token", "challenge_wrong_village", "验证信息与所选村不符，请刷新页面后重试"}
	ErrPoWInsufficientWork   = &FieldError{"pow_nonce", "insufficient_work", "验证计算未完成或结果错误，请重试"}
	ErrChallengeReused       = &FieldError{"pow_token", "challenge_reused", "该验证已使用过，请刷新页面后重试"}
	ErrChallengeCapacity     = &FieldError{"pow_token", "challenge_capacity", "系统繁忙，请稍后再试"}
)

// ---------------------------------------------------------------------------
// Rate limiting

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

type abuseBucket struct {
	tokens float64
	last   time.Time
}

// take refills the abuseBucket to now and reports whether a token is available
// and, if not, how long until one is. It consumes nothing.
func (b *abuseBucket) refill(now time.Time, every time.Duration, burst int) {
	if b.last.IsZero() {
		b.tokens, b.last = float64(burst), now
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+float64(el)/float64(every))
		b.last = now
	}
}

func (b *abuseBucket) wait(every time.Duration) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	d := time.Duration(math.Ceil((1 - b.tokens) * float64(every)))
	return d.Round(time.Second) + time.Second // whole seconds for Retry-After, never early
}

type abuseVillage struct {
	abuseBucket
	winStart  time.Time
	curCount  int
	prevCount int
}

// attempts is a sliding-window estimate of attempts in the last window.
func (v *abuseVillage) attempts(now time.Time, win time.Duration) float64 {
	v.roll(now, win)
	frac := 1 - float64(now.Sub(v.winStart))/float64(win)
	if frac < 0 {
		frac = 0
	}
	return float64(v.prevCount)*frac + float64(v.curCount)
}

func (v *abuseVillage) roll(now time.Time, win time.Duration) {
	if v.winStart.IsZero() {
		v.winStart = now
		return
	}
	for el := now.Sub(v.winStart); el >= win; el = now.Sub(v.winStart) {
		if el >= 2*win {
			v.prevCount, v.curCount = 0, 0
			v.winStart = now
			return
		}
		v.prevCount, v.curCount = v.curCount, 0
		v.winStart = v.winStart.Add(win)
	}
}

type abuseLRUEntry struct {
	key  string
	seen time.Time
	val  any
}

// abuseLRU is a map + recency list; the back is the least recently used.
type abuseLRU struct {
	max   int
	ttl   time.Duration
	ll    *list.List
	items map[string]*list.Element
}

func newAbuseLRU(max int, ttl time.Duration) *abuseLRU {
	return &abuseLRU{max: max, ttl: ttl, ll: list.New(), items: make(map[string]*list.Element)}
}

func (l *abuseLRU) get(key string, now time.Time, mk func() any) any {
	// Evict idle entries from the back (oldest use first).
	for e := l.ll.Back(); e != nil; e = l.ll.Back() {
		ent := e.Value.(*abuseLRUEntry)
		if now.Sub(ent.seen) < l.ttl {
			break
		}
		l.ll.Remove(e)
		delete(l.items, ent.key)
	}
	if e, ok := l.items[key]; ok {
		ent := e.Value.(*abuseLRUEntry)
		if now.After(ent.seen) {
			ent.seen = now
		}
		l.ll.MoveToFront(e)
		return ent.val
	}
	for l.ll.Len() >= l.max {
		e := l.ll.Back()
		l.ll.Remove(e)
		delete(l.items, e.Value.(*abuseLRUEntry).key)
	}
	ent := &abuseLRUEntry{key: key, seen: now, val: mk()}
	l.items[key] = l.ll.PushFront(ent)
	return ent.val
}

// RateLimiter enforces per-client and per-village token buckets and detects
// floods. Safe for concurrent use. Time is always passed in (injectable clock).
type RateLimiter struct {
	cfg      RateLimitConfig
	key      []byte
	mu       sync.Mutex
	clients  *abuseLRU
	villages *abuseLRU
	// uploads are the clients' byte budgets (*abuseBytes), kept for a day
	// whatever IdleTTL says.
	uploads *abuseLRU
}

// abuseBytes is one client's upload budget: bytes used since start.
type abuseBytes struct {
	start time.Time
	used  int64
}

// NewRateLimiter returns a limiter with a fresh random HMAC key.
func NewRateLimiter(cfg RateLimitConfig) *RateLimiter {
	cfg.setDefaults()
	return &RateLimiter{
		cfg:      cfg,
		key:      abuseRandom(32),
		clients:  newAbuseLRU(cfg.MaxClients, cfg.IdleTTL),
		villages: newAbuseLRU(cfg.MaxVillages, cfg.IdleTTL),
		uploads:  newAbuseLRU(cfg.MaxClients, uploadDay),
	}
}

// uploadDay is the period of ClientDailyBytes.
const uploadDay = 24 * time.Hour

// ReserveBytes takes n bytes of the client's daily upload budget before a
// body of (at most) n bytes is read. When they are not left, nothing is
// taken and the Decision (Reason LimitReasonClient) says when the budget
// renews. Give back what the body did not use with SettleBytes.
func (r *RateLimiter) ReserveBytes(clientAddr string, n int64, now time.Time) Decision {
	ck := r.ClientKey(clientAddr)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.uploads.get(ck, now, func() any { return &abuseBytes{} }).(*abuseBytes)
	if b.start.IsZero() || now.Sub(b.start) >= uploadDay {
		b.start, b.used = now, 0
	}
	if b.used+n > r.cfg.ClientDailyBytes {
		wait := b.start.Add(uploadDay).Sub(now).Round(time.Second) + time.Second
		return Decision{Reason: LimitReasonClient, RetryAfter: wait,
			Message: fmt.Sprintf("今天从您的网络上传的内容已达上限（每天%dMB），请明天再试，或不带附件提交", r.cfg.ClientDailyBytes>>20)}
	}
	b.used += n
	return Decision{Allowed: true}
}

// SettleBytes gives back the part of a reservation a body did not use
// (reserved - used; a reservation from a previous day is not given back).
func (r *RateLimiter) SettleBytes(clientAddr string, reserved, used int64, now time.Time) {
	if used >= reserved {
		return
	}
	ck := r.ClientKey(clientAddr)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.uploads.get(ck, now, func() any { return &abuseBytes{} }).(*abuseBytes)
	if !b.start.IsZero() && now.Sub(b.start) < uploadDay {
		b.used = max(0, b.used-(reserved-used))
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
	return r.clients.ll.Len()
}

// TrackedVillages is the number of village states held in memory.
func (r *RateLimiter) TrackedVillages() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.villages.ll.Len()
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
	c := r.clients.get(ck, now, func() any { return &abuseBucket{} }).(*abuseBucket)
	c.refill(now, r.cfg.ClientEvery, r.cfg.ClientBurst)
	if c.tokens < 1 {
		return Decision{Reason: LimitReasonClient, RetryAfter: c.wait(r.cfg.ClientEvery),
			Message: "您提交得太频繁，请稍后再试"}
	}
	return Decision{Allowed: true}
}

// VillageFlooded reports whether a submission to village would need a
// proof of work now, consuming nothing and counting no attempt (the report
// page asks before reading a body).
func (r *RateLimiter) VillageFlooded(village string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.villages.get(village, now, func() any { return &abuseVillage{} }).(*abuseVillage)
	v.refill(now, r.cfg.VillageEvery, r.cfg.VillageBurst)
	return v.tokens < 1 || v.attempts(now, r.cfg.FloodWindow) > float64(r.cfg.FloodThreshold)
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
	c := r.clients.get(ck, now, func() any { return &abuseBucket{} }).(*abuseBucket)
	v := r.villages.get(village, now, func() any { return &abuseVillage{} }).(*abuseVillage)

	c.refill(now, r.cfg.ClientEvery, r.cfg.ClientBurst)
	v.refill(now, r.cfg.VillageEvery, r.cfg.VillageBurst)
	v.roll(now, r.cfg.FloodWindow)
	v.curCount++ // every attempt counts toward flood detection

	if c.tokens < 1 {
		return Decision{Reason: LimitReasonClient, RetryAfter: c.wait(r.cfg.ClientEvery),
			Message: "您提交得太频繁，请稍后再试"}
	}
	if !proved {
		att := v.attempts(now, r.cfg.FloodWindow)
		if v.tokens < 1 || att > float64(r.cfg.FloodThreshold) {
			return Decision{Reason: LimitReasonVillage, RetryAfter: v.wait(r.cfg.VillageEvery),
				ChallengeRequired: true, Difficulty: r.difficulty(att),
				Message: "当前提交量较大，请完成页面上的自动验证后再提交"}
		}
		v.tokens--
	}
	c.tokens--
	return Decision{Allowed: true}
}

// difficulty grows by one bit per doubling of attempts over the threshold.
func (r *RateLimiter) difficulty(attempts float64) int {
	d := r.cfg.MinDifficulty
	if ratio := attempts / float64(r.cfg.FloodThreshold); ratio > 1 {
		d += int(math.Log2(ratio))
	}
	return min(max(d, r.cfg.MinDifficulty), r.cfg.MaxDifficulty)
}

// ---------------------------------------------------------------------------
// Proof of work

// Challenge is what the page receives. Token is opaque and carries everything
// needed to verify (HMAC-signed), so any replica holding the same key can
// verify it. Reuse detection (the spent set) is per process: with several
// replicas, share the key and route a village's intake to one replica or
// accept that a token may be spent once per replica.
type Challenge struct {
	ID         string    `json:"id"`
	Token      string    `json:"token"`
	Seed       string    `json:"seed"`
	Difficulty int       `json:"difficulty"`
	ExpiresAt  time.Time `json:"expires_at"`
	Village    string    `json:"-"`
}

type powClaims struct {
	ID         string `json:"i"`
	Village    string `json:"v"`
	Seed       string `json:"s"`
	Difficulty int    `json:"d"`
	Expires    int64  `json:"e"`
}

// ChallengerConfig holds the proof-of-work settings. Zero fields take defaults.
type ChallengerConfig struct {
	Key           []byte        // HMAC key; random per process if nil (set it to share across replicas)
	TTL           time.Duration // default 5m
	MinDifficulty int           // default 16
	MaxDifficulty int           // default 22
	MaxSpent      int           // spent ids remembered until expiry (default 100000)
}

// Challenger issues and verifies proof-of-work challenges. Safe for
// concurrent use.
type Challenger struct {
	cfg       ChallengerConfig
	mu        sync.Mutex
	spent     map[string]time.Time
	lastSweep time.Time
}

// NewChallenger returns a Challenger.
func NewChallenger(cfg ChallengerConfig) *Challenger {
	if len(cfg.Key) == 0 {
		cfg.Key = abuseRandom(32)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.MinDifficulty <= 0 {
		cfg.MinDifficulty = 16
	}
	if cfg.MaxDifficulty < cfg.MinDifficulty {
		cfg.MaxDifficulty = max(22, cfg.MinDifficulty)
	}
	if cfg.MaxSpent <= 0 {
		cfg.MaxSpent = 100000
	}
	return &Challenger{cfg: cfg, spent: make(map[string]time.Time)}
}

// IssueChallenge creates a challenge for village. difficulty (leading zero
// bits, usually Decision.Difficulty) is clamped to [MinDifficulty,
// MaxDifficulty]; 0 means MinDifficulty.
func (c *Challenger) IssueChallenge(village string, difficulty int, now time.Time) Challenge {
	difficulty = min(max(difficulty, c.cfg.MinDifficulty), c.cfg.MaxDifficulty)
	cl := powClaims{
		ID:         hex.EncodeToString(abuseRandom(12)),
		Village:    village,
		Seed:       hex.EncodeToString(abuseRandom(16)),
		Difficulty: difficulty,
		Expires:    now.Add(c.cfg.TTL).Unix(),
	}
	payload, _ := json.Marshal(cl) // cannot fail for this struct
	p := base64.RawURLEncoding.EncodeToString(payload)
	token := p + "." + base64.RawURLEncoding.EncodeToString(c.sign(p))
	return Challenge{ID: cl.ID, Token: token, Seed: cl.Seed, Difficulty: difficulty,
		ExpiresAt: time.Unix(cl.Expires, 0), Village: village}
}

func (c *Challenger) sign(p string) []byte {
	m := hmac.New(sha256.New, c.cfg.Key)
	m.Write([]byte("wuxiao-complaint-pow-v1\x00"))
	m.Write([]byte(p))
	return m.Sum(nil)
}

// powMaxNonceLen bounds the nonce the client may send.
const powMaxNonceLen = 32

// VerifyPoW checks token and nonce at time now and marks the challenge spent.
// Errors: ErrChallengeMalformed, ErrChallengeBadSignature, ErrChallengeExpired,
// ErrPoWInsufficientWork, ErrChallengeReused, ErrChallengeCapacity.
func (c *Challenger) VerifyPoW(token, nonce string, now time.Time) error {
	_, err := c.verify(token, nonce, "", false, now)
	return err
}

// VerifyPoWForVillage is VerifyPoW that also requires the challenge to have
// been issued for village (ErrChallengeWrongVillage otherwise).
func (c *Challenger) VerifyPoWForVillage(token, nonce, village string, now time.Time) error {
	_, err := c.verify(token, nonce, village, true, now)
	return err
}

// CheckPoWForVillage is VerifyPoWForVillage without spending the challenge:
// the report page checks a proof sent in headers before it reads the body,
// and spends it (VerifyPoWForVillage) once the form is valid.
func (c *Challenger) CheckPoWForVillage(token, nonce, village string, now time.Time) error {
	cl, err := c.check(token, nonce, village, true, now)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, used := c.spent[cl.ID]; used {
		return ErrChallengeReused
	}
	return nil
}

func (c *Challenger) verify(token, nonce, village string, checkVillage bool, now time.Time) (*powClaims, error) {
	cl, err := c.check(token, nonce, village, checkVillage, now)
	if err != nil {
		return nil, err
	}
	return c.spend(cl, now)
}

// check verifies a proof of work without looking at the spent set.
func (c *Challenger) check(token, nonce, village string, checkVillage bool, now time.Time) (*powClaims, error) {
	if len(token) > 1024 {
		return nil, ErrChallengeMalformed
	}
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return nil, ErrChallengeMalformed
	}
	gotSig, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, ErrChallengeMalformed
	}
	if subtle.ConstantTimeCompare(gotSig, c.sign(p)) != 1 {
		return nil, ErrChallengeBadSignature
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, ErrChallengeMalformed
	}
	var cl powClaims
	if err := json.Unmarshal(raw, &cl); err != nil || cl.ID == "" || cl.Seed == "" {
		return nil, ErrChallengeMalformed
	}
	exp := time.Unix(cl.Expires, 0)
	if !now.Before(exp) {
		return nil, ErrChallengeExpired
	}
	if checkVillage && cl.Village != village {
		return nil, ErrChallengeWrongVillage
	}
	if nonce == "" || len(nonce) > powMaxNonceLen || powLeadingZeroBits(powHash(cl.Seed, nonce)) < cl.Difficulty {
		return nil, ErrPoWInsufficientWork
	}
	return &cl, nil
}

// spend marks a checked challenge spent (once only).
func (c *Challenger) spend(cl *powClaims, now time.Time) (*powClaims, error) {
	exp := time.Unix(cl.Expires, 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, used := c.spent[cl.ID]; used {
		return nil, ErrChallengeReused
	}
	if len(c.spent) >= c.cfg.MaxSpent || now.Sub(c.lastSweep) > time.Minute {
		c.sweep(now)
	}
	if len(c.spent) >= c.cfg.MaxSpent {
		// Fail closed: forgetting unexpired ids would allow reuse.
		return nil, ErrChallengeCapacity
	}
	c.spent[cl.ID] = exp
	return cl, nil
}

func (c *Challenger) sweep(now time.Time) {
	c.lastSweep = now
	for id, exp := range c.spent {
		if !now.Before(exp) {
			delete(c.spent, id)
		}
	}
}

// SpentCount is the number of spent challenge ids remembered.
func (c *Challenger) SpentCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.spent)
}

func powHash(seed, nonce string) [32]byte {
	buf := make([]byte, 0, len(seed)+len(nonce))
	buf = append(buf, seed...)
	buf = append(buf, nonce...)
	return sha256.Sum256(buf)
}

// powLeadingZeroBits counts the leading zero bits of h.
func powLeadingZeroBits(h [32]byte) int {
	n := 0
	for _, b := range h {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// SolvePoW finds a nonce such that SHA-256(seed || nonce) has at least
// difficulty leading zero bits, where seed is the Challenge.Seed string and
// nonce is a decimal counter string, both as UTF-8 bytes. This is exactly what
// the portal's JavaScript does (crypto.subtle.digest("SHA-256", seed+String(i))
// for i = 0, 1, 2, …); expected work is 2^difficulty hashes (~65k at 16 bits,
// well under a second on a phone; ~4M at 22 bits).
func SolvePoW(seed string, difficulty int) string {
	buf := []byte(seed)
	for i := uint64(0); ; i++ {
		b := strconv.AppendUint(buf[:len(seed)], i, 10)
		if powLeadingZeroBits(sha256.Sum256(b)) >= difficulty {
			return string(b[len(seed):])
		}
		buf = b
	}
}

// ---------------------------------------------------------------------------
// Input limits

// Intake limits.
const (
	IntakeMinDescriptionRunes = 10
	IntakeMaxDescriptionRunes = 2000
	IntakeMaxFiles            = 3
	IntakeMaxFileBytes        = 5 << 20
	// IntakeMaxBodyBytes is a suitable http.MaxBytesReader limit for the
	// whole multipart request.
	IntakeMaxBodyBytes = IntakeMaxFiles*IntakeMaxFileBytes + 64<<10
)

// IntakeFileTypes are the sniffed types accepted.
var IntakeFileTypes = []string{"image/jpeg", "image/png", "application/pdf"}

// IntakeFile describes one uploaded file. Head is (at least) the first 512
// bytes of the content; the declared content type is deliberately not used.
type IntakeFile struct {
	Name string
	Size int64
	Head []byte
	// Unclean: its metadata (a photo's GPS position, a PDF's author)
	// could not be removed, so it is not stored (services/internal/media).
	Unclean bool
}

// IntakeLimitsInput is the part of an anonymous submission checked here.
type IntakeLimitsInput struct {
	Description string
	Files       []IntakeFile
}

// ValidateIntakeDescription checks that the trimmed description is valid UTF-8 of
// IntakeMinDescriptionRunes..IntakeMaxDescriptionRunes runes.
func ValidateIntakeDescription(s string) *FieldError {
	if !utf8.ValidString(s) {
		return &FieldError{"description", "description_invalid_encoding", "问题描述包含无法识别的字符"}
	}
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	switch {
	case n < IntakeMinDescriptionRunes:
		return &FieldError{"description", "description_too_short",
			fmt.Sprintf("问题描述至少需要%d个字（当前%d个字）", IntakeMinDescriptionRunes, n)}
	case n > IntakeMaxDescriptionRunes:
		return &FieldError{"description", "description_too_long",
			fmt.Sprintf("问题描述最多%d个字（当前%d个字）", IntakeMaxDescriptionRunes, n)}
	}
	return nil
}

// ValidateIntakeFile checks one attachment's size and sniffed type. i is its
// zero-based position, used in the field name ("attachments[i]").
func ValidateIntakeFile(i int, a IntakeFile) *FieldError {
	field := fmt.Sprintf("attachments[%d]", i)
	if a.Unclean {
		return &FieldError{field, "attachment_metadata", fmt.Sprintf(
			"第%d个附件无法处理：无法去除其中的拍摄位置、作者等信息。请换一个文件，例如截图后上传，或将PDF另存为新文件（不加密）后上传", i+1)}
	}
	if a.Size <= 0 || len(a.Head) == 0 {
		return &FieldError{field, "attachment_empty", fmt.Sprintf("第%d个附件是空文件", i+1)}
	}
	if a.Size > IntakeMaxFileBytes {
		return &FieldError{field, "attachment_too_large",
			fmt.Sprintf("第%d个附件超过%dMB的大小限制", i+1, IntakeMaxFileBytes>>20)}
	}
	head := a.Head
	if len(head) > 512 {
		head = head[:512]
	}
	ct := sniffIntakeType(head)
	for _, ok := range IntakeFileTypes {
		if ct == ok {
			return nil
		}
	}
	return &FieldError{field, "attachment_type_not_allowed",
		fmt.Sprintf("第%d个附件格式不支持，只能上传JPG、PNG图片或PDF文件", i+1)}
}

// sniffIntakeType returns the media type (without parameters) that
// http.DetectContentType finds in head.
func sniffIntakeType(head []byte) string {
	ct := http.DetectContentType(head)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}

// ValidateIntake checks description and attachments and returns all problems
// as FieldErrors, or nil.
func ValidateIntake(in IntakeLimitsInput) error {
	var errs FieldErrors
	if e := ValidateIntakeDescription(in.Description); e != nil {
		errs = append(errs, e)
	}
	errs = append(errs, ValidateIntakeFiles(in.Files)...)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ValidateIntakeFiles checks the number of files and each of the first
// IntakeMaxFiles; nil when all is well.
func ValidateIntakeFiles(files []IntakeFile) FieldErrors {
	var errs FieldErrors
	if len(files) > IntakeMaxFiles {
		errs = append(errs, &FieldError{"attachments", "too_many_attachments",
			fmt.Sprintf("最多只能上传%d个附件（当前%d个）", IntakeMaxFiles, len(files))})
	}
	for i, a := range files {
		if i >= IntakeMaxFiles {
			break
		}
		if e := ValidateIntakeFile(i, a); e != nil {
			errs = append(errs, e)
		}
	}
	return errs
}

func abuseRandom(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("complaint: crypto/rand: " + err.Error())
	}
	return b
}
