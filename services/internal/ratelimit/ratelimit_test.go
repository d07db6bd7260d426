package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestBucket(t *testing.T) {
	r := Rate{Every: time.Minute, Burst: 2}
	var b Bucket
	for i, step := range []struct {
		at       time.Duration
		take     bool
		wantWait time.Duration // before taking
	}{
		{0, true, 0}, {0, true, 0}, // starts full
		{0, false, time.Minute},
		{15 * time.Second, false, 45 * time.Second}, // a quarter earned
		{time.Minute, true, 0},
		{-time.Hour, false, time.Minute}, // a clock going back earns nothing
		{time.Hour, true, 0},             // refills to the burst, no more
		{time.Hour, true, 0},
		{time.Hour, false, time.Minute},
	} {
		b.Refill(t0.Add(step.at), r)
		if got := b.Wait(r); got != step.wantWait {
			t.Errorf("step %d: wait %s, want %s", i, got, step.wantWait)
		}
		if got := b.Take(); got != step.take {
			t.Errorf("step %d: take %v, want %v", i, got, step.take)
		}
	}
	b.Give(r)
	b.Give(r)
	b.Give(r)
	if b.Tokens() != 2 {
		t.Errorf("gave back above the burst: %v tokens", b.Tokens())
	}
}

// TestLimiterEviction: at most max keys, the least recently used forgotten
// first (it starts again with a full bucket).
func TestLimiterEviction(t *testing.T) {
	k := NewLimiter(Rate{Every: time.Second, Burst: 1}, 2, 0)
	take := func(key string) bool { ok, _ := k.Allow(key, t0); return ok }
	for _, step := range []struct {
		key  string
		want bool
	}{
		{"a", true}, {"a", false}, {"b", true}, {"a", false}, // a used most recently
		{"c", true},               // evicts b, the least recently used
		{"a", false}, {"b", true}, // b forgotten: a full bucket again
	} {
		if got := take(step.key); got != step.want {
			t.Errorf("take(%s) = %v, want %v", step.key, got, step.want)
		}
	}
	if n := k.Len(); n != 2 {
		t.Errorf("%d keys kept, want 2", n)
	}
}

func TestLRUIdle(t *testing.T) {
	l := NewLRU[*int](10, time.Hour)
	n := 0
	mk := func() *int { n++; v := n; return &v }
	a := l.Get("a", t0, mk)
	l.Get("b", t0.Add(30*time.Minute), mk)
	if got := l.Get("a", t0.Add(59*time.Minute), mk); got != a {
		t.Error("a used within the hour was forgotten")
	}
	l.Get("c", t0.Add(90*time.Minute), mk) // b idle for an hour: forgotten
	if l.Len() != 2 {
		t.Errorf("%d keys, want 2 (a and c)", l.Len())
	}
	if got := l.Get("a", t0.Add(3*time.Hour), mk); got == a {
		t.Error("a idle for two hours was kept")
	}
}

func TestPeekTakesNothing(t *testing.T) {
	l := NewLimiter(Rate{Every: time.Minute, Burst: 1}, 10, 0)
	for range 3 {
		if ok, wait := l.Peek("a", t0); !ok || wait != 0 {
			t.Fatalf("peek: %v %s", ok, wait)
		}
	}
	l.Allow("a", t0)
	if ok, wait := l.Peek("a", t0.Add(20*time.Second)); ok || wait != 40*time.Second {
		t.Errorf("peek after taking: %v %s", ok, wait)
	}
}

// TestAllowAll: a refusal by a later bucket gives back the earlier ones'
// tokens, and says how long the refusing bucket needs.
func TestAllowAll(t *testing.T) {
	clients := NewLimiter(Rate{Every: time.Minute, Burst: 2}, 100, 0)
	villages := NewLimiter(Rate{Every: 30 * time.Second, Burst: 3}, 100, 0)
	try := func(client, village string) (bool, time.Duration) {
		return AllowAll(t0, Key{clients, client}, Key{villages, village})
	}
	for i, step := range []struct {
		client, village string
		ok              bool
		wait            time.Duration
	}{
		{"alice", "v1", true, 0},
		{"alice", "v1", true, 0},
		{"alice", "v1", false, time.Minute}, // the client's bucket
		{"bob", "v1", true, 0},
		{"carol", "v1", false, 30 * time.Second}, // the village's
		{"carol", "v2", true, 0},                 // carol's token was given back
		{"carol", "v2", true, 0},
		{"carol", "v2", false, time.Minute},
	} {
		ok, wait := try(step.client, step.village)
		if ok != step.ok || wait != step.wait {
			t.Errorf("step %d: %v %s, want %v %s", i, ok, wait, step.ok, step.wait)
		}
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(Rate{Every: time.Hour, Burst: 5}, 1000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := map[string]int{}
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint("k", i%4)
			for range 10 {
				if ok, _ := l.Allow(key, t0); ok {
					mu.Lock()
					allowed[key]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for key, n := range allowed {
		if n != 5 {
			t.Errorf("%s: %d allowed, want the burst of 5", key, n)
		}
	}
}
