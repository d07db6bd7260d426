// Package ratelimit holds the token buckets of the public portals (the
// complaint intake and disclosure's own-payments lookup): a bucket per
// key (a client, a village, a household), in memory, the keys bounded, the
// least recently used forgotten first. Time is always passed in, so tests
// and handlers share one clock. Clients are keyed by httpapi.RateLimitKey.
package ratelimit

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// Rate is a bucket's refill: at most Burst tokens, one more every Every.
type Rate struct {
	Every time.Duration
	Burst int
}

// Bucket is one token bucket. It starts full. Not safe for concurrent
// use: its owner locks.
type Bucket struct {
	tokens float64
	last   time.Time
}

// Refill adds the tokens earned since the last refill (a clock going back
// earns nothing).
func (b *Bucket) Refill(now time.Time, r Rate) {
	if b.last.IsZero() {
		b.tokens, b.last = float64(r.Burst), now
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(r.Burst), b.tokens+float64(el)/float64(r.Every))
		b.last = now
	}
}

// Tokens is what the bucket holds (after the last Refill).
func (b *Bucket) Tokens() float64 { return b.tokens }

// Take takes a token if the bucket has one.
func (b *Bucket) Take() bool {
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Give returns a token taken in vain, never above the burst.
func (b *Bucket) Give(r Rate) { b.tokens = math.Min(float64(r.Burst), b.tokens+1) }

// Wait is how long until the bucket has a token (0 when it has one), to
// the nanosecond, rounded up.
func (b *Bucket) Wait(r Rate) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	d := (1 - b.tokens) * float64(r.Every)
	// Less the float noise of dividing and multiplying by Every (a third
	// of a minute earned leaves 40.00000000000001s): a wait of 40s rounded
	// up to whole seconds must stay 40.
	return time.Duration(math.Ceil(d - d*1e-12))
}

// LRU is per-key state, at most Max keys: a new key pushes out the least
// recently used one, and keys unused for Idle (when not zero) are
// forgotten. Not safe for concurrent use.
type LRU[V any] struct {
	max   int
	idle  time.Duration
	ll    *list.List // of *entry[V], most recently used first
	items map[string]*list.Element
}

type entry[V any] struct {
	key  string
	seen time.Time
	val  V
}

// NewLRU keeps at most maxKeys keys (at least one), forgetting those idle for
// idle (0: only when pushed out).
func NewLRU[V any](maxKeys int, idle time.Duration) *LRU[V] {
	return &LRU[V]{max: maxKeys, idle: idle, ll: list.New(), items: map[string]*list.Element{}}
}

// Get returns key's state, made by mk if the key is new (or was forgotten),
// and marks it used at now.
func (l *LRU[V]) Get(key string, now time.Time, mk func() V) V {
	if l.idle > 0 {
		for e := l.ll.Back(); e != nil; e = l.ll.Back() {
			ent := e.Value.(*entry[V])
			if now.Sub(ent.seen) < l.idle {
				break
			}
			l.ll.Remove(e)
			delete(l.items, ent.key)
		}
	}
	if e, ok := l.items[key]; ok {
		ent := e.Value.(*entry[V])
		if now.After(ent.seen) {
			ent.seen = now
		}
		l.ll.MoveToFront(e)
		return ent.val
	}
	for l.ll.Len() >= max(l.max, 1) {
		e := l.ll.Back()
		l.ll.Remove(e)
		delete(l.items, e.Value.(*entry[V]).key)
	}
	ent := &entry[V]{key: key, seen: now, val: mk()}
	l.items[key] = l.ll.PushFront(ent)
	return ent.val
}

// Len is the number of keys held.
func (l *LRU[V]) Len() int { return l.ll.Len() }

// Limiter is a Bucket per key, all of one Rate, the keys held in an LRU.
// Safe for concurrent use.
type Limiter struct {
	rate Rate
	mu   sync.Mutex
	keys *LRU[*Bucket]
}

// NewLimiter holds at most maxKeys buckets, forgetting those idle for idle
// (0: only when pushed out); a forgotten key starts again with a full
// bucket.
func NewLimiter(r Rate, maxKeys int, idle time.Duration) *Limiter {
	return &Limiter{rate: r, keys: NewLRU[*Bucket](maxKeys, idle)}
}

// Rate is the limiter's rate.
func (l *Limiter) Rate() Rate { return l.rate }

func (l *Limiter) bucket(key string, now time.Time) *Bucket {
	b := l.keys.Get(key, now, func() *Bucket { return &Bucket{} })
	b.Refill(now, l.rate)
	return b
}

// Allow takes a token of key's bucket, or says how long until it has one.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, now)
	if b.Take() {
		return true, 0
	}
	return false, b.Wait(l.rate)
}

// Peek says whether key's bucket has a token, and if not how long until it
// has one, taking nothing.
func (l *Limiter) Peek(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	wait := l.bucket(key, now).Wait(l.rate)
	return wait == 0, wait
}

// give returns a token Allow took in vain.
func (l *Limiter) give(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket(key, now).Give(l.rate)
}

// Len is the number of keys held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys.Len()
}

// Key is one bucket of a limiter.
type Key struct {
	Limiter *Limiter
	Key     string
}

// AllowAll takes a token of every bucket or of none: at the first bucket
// without one it gives back those already taken (the attempt did not
// happen) and says how long until that bucket has one.
func AllowAll(now time.Time, keys ...Key) (bool, time.Duration) {
	for i, k := range keys {
		if ok, wait := k.Limiter.Allow(k.Key, now); !ok {
			for _, taken := range keys[:i] {
				taken.Limiter.give(taken.Key, now)
			}
			return false, wait
		}
	}
	return true, 0
}
