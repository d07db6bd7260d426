package complaint

// Flood detection, the second abuse guard: when a village sees more intake
// attempts than FloodThreshold per FloodWindow, or its bucket is empty,
// RateLimiter.Allow refuses with ChallengeRequired. The page then fetches a
// Challenge (a stateless, HMAC-signed token, services/internal/pow), solves it in the
// browser (see SolvePoW) and resubmits; after VerifyPoWForVillage succeeds
// the caller uses AllowWithProof, which still enforces the per-client bucket
// but skips the village bucket (the work is the price of admission during a
// flood).

import (
	"math"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/ratelimit"
)

// villageState is a village's bucket and its attempts in the current and
// the previous flood window.
type villageState struct {
	ratelimit.Bucket
	winStart  time.Time
	curCount  int
	prevCount int
}

func newVillageState() *villageState { return &villageState{} }

// attempts is a sliding-window estimate of attempts in the last window.
func (v *villageState) attempts(now time.Time, win time.Duration) float64 {
	v.roll(now, win)
	frac := 1 - float64(now.Sub(v.winStart))/float64(win)
	if frac < 0 {
		frac = 0
	}
	return float64(v.prevCount)*frac + float64(v.curCount)
}

func (v *villageState) roll(now time.Time, win time.Duration) {
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

// VillageFlooded reports whether a submission to village would need a
// proof of work now, consuming nothing and counting no attempt (the report
// page asks before reading a body).
func (r *RateLimiter) VillageFlooded(village string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.villages.Get(village, now, newVillageState)
	v.Refill(now, r.cfg.villageRate())
	return v.Tokens() < 1 || v.attempts(now, r.cfg.FloodWindow) > float64(r.cfg.FloodThreshold)
}

// difficulty grows by one bit per doubling of attempts over the threshold.
func (r *RateLimiter) difficulty(attempts float64) int {
	d := r.cfg.MinDifficulty
	if ratio := attempts / float64(r.cfg.FloodThreshold); ratio > 1 {
		d += int(math.Log2(ratio))
	}
	return min(max(d, r.cfg.MinDifficulty), r.cfg.MaxDifficulty)
}
