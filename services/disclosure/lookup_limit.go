package disclosure

import (
	"time"

	"github.com/wuxiao/wuxiao/services/internal/ratelimit"
)

// The own-payments lookup answers "did the holder of this ID number, name
// and lookup code receive anything?". Its answer needs all three, and a
// miss tells nothing (see LookupOwn), but guessing must still be slow:
// every attempt costs a token of the client's bucket (an IPv6 client
// counted by its /64, which one subscriber usually holds whole), of the
// village's and of the household's whose ID number was typed, so one client
// cannot try more than a handful an hour, many clients together cannot try
// more than the village allows, and nobody can try more than a few codes
// for one household. (A household's bucket can be emptied by someone else:
// its holder then waits an hour, which the lookup page says.)

// LookupLimits configures the lookup's rate limits; zero values take the
// defaults.
type LookupLimits struct {
	ClientEvery  time.Duration // one client token per ClientEvery (default 1m)
	ClientBurst  int           // default 10
	VillageEvery time.Duration // one village token per VillageEvery (default 5s = 720 an hour)
	VillageBurst int           // default 120
	// HouseholdEvery and HouseholdBurst bound the attempts at one
	// household (one ID number in one village), whoever makes them.
	HouseholdEvery time.Duration // default 1h
	HouseholdBurst int           // default 5
	MaxKeys        int           // clients (and villages) remembered, least recently used forgotten first (default 100000)
}

func (l LookupLimits) withDefaults() LookupLimits {
	if l.ClientEvery <= 0 {
		l.ClientEvery = time.Minute
	}
	if l.ClientBurst <= 0 {
		l.ClientBurst = 10
	}
	if l.VillageEvery <= 0 {
		l.VillageEvery = 5 * time.Second
	}
	if l.VillageBurst <= 0 {
		l.VillageBurst = 120
	}
	if l.HouseholdEvery <= 0 {
		l.HouseholdEvery = time.Hour
	}
	if l.HouseholdBurst <= 0 {
		l.HouseholdBurst = 5
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = 100_000
	}
	return l
}

// lookupLimiter holds the client, village and household buckets of the
// lookup.
type lookupLimiter struct {
	clients, villages, households *ratelimit.Limiter
}

func newLookupLimiter(l LookupLimits) *lookupLimiter {
	l = l.withDefaults()
	// No idle expiry: MaxKeys bounds the memory, and a forgotten key
	// starts again with a full bucket, which the village bucket still bounds.
	return &lookupLimiter{
		clients:    ratelimit.NewLimiter(ratelimit.Rate{Every: l.ClientEvery, Burst: l.ClientBurst}, l.MaxKeys, 0),
		villages:   ratelimit.NewLimiter(ratelimit.Rate{Every: l.VillageEvery, Burst: l.VillageBurst}, l.MaxKeys, 0),
		households: ratelimit.NewLimiter(ratelimit.Rate{Every: l.HouseholdEvery, Burst: l.HouseholdBurst}, l.MaxKeys, 0),
	}
}

// allow takes a token from the client's bucket, the village's and (unless
// household is empty) the household's, or from none; when refused it says
// how long to wait.
func (l *lookupLimiter) allow(client, village, household string, now time.Time) (bool, time.Duration) {
	keys := []ratelimit.Key{{Limiter: l.clients, Key: client}, {Limiter: l.villages, Key: village}}
	if household != "" {
		keys = append(keys, ratelimit.Key{Limiter: l.households, Key: household})
	}
	return ratelimit.AllowAll(now, keys...)
}
