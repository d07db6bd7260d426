package disclosure

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
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
	clients, villages, households *keyedLimiter
}

func newLookupLimiter(l LookupLimits) *lookupLimiter {
	l = l.withDefaults()
	return &lookupLimiter{
		clients:    newKeyedLimiter(rate.Every(l.ClientEvery), l.ClientBurst, l.MaxKeys),
		villages:   newKeyedLimiter(rate.Every(l.VillageEvery), l.VillageBurst, l.MaxKeys),
		households: newKeyedLimiter(rate.Every(l.HouseholdEvery), l.HouseholdBurst, l.MaxKeys),
	}
}

// allow takes a token from the client's bucket, the village's and (unless
// household is empty) the household's, or from none; when refused it says
// how long to wait.
func (l *lookupLimiter) allow(client, village, household string, now time.Time) (bool, time.Duration) {
	c := l.clients.reserve(client, now)
	if wait := c.DelayFrom(now); wait > 0 {
		c.CancelAt(now)
		return false, wait
	}
	v := l.villages.reserve(village, now)
	if wait := v.DelayFrom(now); wait > 0 {
		v.CancelAt(now)
		c.CancelAt(now) // the client's attempt did not happen
		return false, wait
	}
	if household != "" {
		h := l.households.reserve(household, now)
		if wait := h.DelayFrom(now); wait > 0 {
			h.CancelAt(now)
			v.CancelAt(now)
			c.CancelAt(now)
			return false, wait
		}
	}
	return true, 0
}

// keyedLimiter is a token bucket per key, at most max keys: the least
// recently used key is forgotten first (it starts again with a full
// bucket, which the village bucket still bounds).
type keyedLimiter struct {
	every rate.Limit
	burst int
	max   int

	mu   sync.Mutex
	ll   *list.List // of *keyedEntry, most recently used first
	keys map[string]*list.Element
}

type keyedEntry struct {
	key string
	lim *rate.Limiter
}

func newKeyedLimiter(every rate.Limit, burst, max int) *keyedLimiter {
	return &keyedLimiter{every: every, burst: burst, max: max, ll: list.New(), keys: map[string]*list.Element{}}
}

func (k *keyedLimiter) reserve(key string, now time.Time) *rate.Reservation {
	k.mu.Lock()
	defer k.mu.Unlock()
	var lim *rate.Limiter
	if e, ok := k.keys[key]; ok {
		k.ll.MoveToFront(e)
		lim = e.Value.(*keyedEntry).lim
	} else {
		lim = rate.NewLimiter(k.every, k.burst)
		k.keys[key] = k.ll.PushFront(&keyedEntry{key, lim})
		for k.ll.Len() > k.max {
			old := k.ll.Back()
			k.ll.Remove(old)
			delete(k.keys, old.Value.(*keyedEntry).key)
		}
	}
	return lim.ReserveN(now, 1)
}

func (k *keyedLimiter) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ll.Len()
}
