// Package pow issues and verifies the proof-of-work challenges that guard
// the villagers' anonymous intakes (the complaint report page, the workflow's
// application form): a client past a limit passes only with a solved
// challenge, which costs a browser well under a second and a flood a lot.
package pow

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
)

// Proof-of-work errors. Returned as these exact values so errors.Is works.
var (
	ErrChallengeMalformed    = &domainerr.FieldError{Field: "pow_token", Code: "challenge_malformed", Message: "验证信息格式错误，请刷新页面后重试"}
	ErrChallengeBadSignature = &domainerr.FieldError{Field: "pow_token", Code: "challenge_bad_signature", Message: "验证信息无效，请刷新页面后重试"}
	ErrChallengeExpired      = &domainerr.FieldError{Field: "pow_token", Code: "challenge_expired", Message: "验证已过期，请刷新页面后重试"}
	ErrChallengeWrongVillage = &domainerr.FieldError{Field: "pow_token", Code: "challenge_wrong_village", Message: "验证信息与所选村不符，请刷新页面后重试"}
	ErrPoWInsufficientWork   = &domainerr.FieldError{Field: "pow_nonce", Code: "insufficient_work", Message: "验证计算未完成或结果错误，请重试"}
	ErrChallengeReused       = &domainerr.FieldError{Field: "pow_token", Code: "challenge_reused", Message: "该验证已使用过，请刷新页面后重试"}
	ErrChallengeCapacity     = &domainerr.FieldError{Field: "pow_token", Code: "challenge_capacity", Message: "系统繁忙，请稍后再试"}
)

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
	// Domain separates the signatures of different intakes, so a token
	// issued by one service never verifies at another sharing the key
	// (default "wuxiao-complaint-pow-v1", what the complaint service signed
	// with before this package existed).
	Domain string
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
		cfg.Key = randomBytes(32)
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
	if cfg.Domain == "" {
		cfg.Domain = "wuxiao-complaint-pow-v1"
	}
	return &Challenger{cfg: cfg, spent: make(map[string]time.Time)}
}

// IssueChallenge creates a challenge for village. difficulty (leading zero
// bits, usually Decision.Difficulty) is clamped to [MinDifficulty,
// MaxDifficulty]; 0 means MinDifficulty.
func (c *Challenger) IssueChallenge(village string, difficulty int, now time.Time) Challenge {
	difficulty = min(max(difficulty, c.cfg.MinDifficulty), c.cfg.MaxDifficulty)
	cl := powClaims{
		ID:         hex.EncodeToString(randomBytes(12)),
		Village:    village,
		Seed:       hex.EncodeToString(randomBytes(16)),
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
	m.Write([]byte(c.cfg.Domain))
	m.Write([]byte{0})
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

// Work is the number of leading zero bits of SHA-256(seed || nonce), the
// work a nonce proves for a challenge with that seed.
func Work(seed, nonce string) int { return powLeadingZeroBits(powHash(seed, nonce)) }

// RandomBytes returns n bytes from crypto/rand (keys for HMACs).
func RandomBytes(n int) []byte { return randomBytes(n) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("pow: crypto/rand: " + err.Error())
	}
	return b
}

// FormScript is the browser side for a page's form marked data-pow-form:
// it submits by fetch and, on a 428 answer carrying a challenge
// (<div id="pow" data-token data-seed data-difficulty>), solves it and
// resubmits with the proof (headers X-Wuxiao-Challenge, X-Wuxiao-Nonce).
//
//go:embed form.js
var FormScript string
