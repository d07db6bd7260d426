package complaint

// The proof of work, the third abuse guard: during a flood (flood.go) a
// submission passes the village limit only with a solved challenge. The
// code lives in services/internal/pow, shared with the workflow's
// application form; these names keep the complaint's callers unchanged.

import "github.com/wuxiao/wuxiao/services/internal/pow"

type (
	// Challenge is what the page receives (pow.Challenge).
	Challenge = pow.Challenge
	// ChallengerConfig holds the proof-of-work settings (pow.ChallengerConfig).
	ChallengerConfig = pow.ChallengerConfig
	// Challenger issues and verifies challenges (pow.Challenger).
	Challenger = pow.Challenger
)

// Proof-of-work errors (the pow package's values, so errors.Is works).
var (
	ErrChallengeMalformed    = pow.ErrChallengeMalformed
	ErrChallengeBadSignature = pow.ErrChallengeBadSignature
	ErrChallengeExpired      = pow.ErrChallengeExpired
	ErrChallengeWrongVillage = pow.ErrChallengeWrongVillage
	ErrPoWInsufficientWork   = pow.ErrPoWInsufficientWork
	ErrChallengeReused       = pow.ErrChallengeReused
	ErrChallengeCapacity     = pow.ErrChallengeCapacity
)

// NewChallenger returns a Challenger signing as the complaint intake.
func NewChallenger(cfg ChallengerConfig) *Challenger { return pow.NewChallenger(cfg) }

// SolvePoW finds a nonce for a challenge (pow.SolvePoW).
func SolvePoW(seed string, difficulty int) string { return pow.SolvePoW(seed, difficulty) }

func randomBytes(n int) []byte { return pow.RandomBytes(n) }
