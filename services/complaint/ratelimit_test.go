package complaint

import (
	"fmt"
	"reflect"
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
	// The keys the shared LRU holds, read by reflection: ratelimit.LRU
	// does not list them.
	for _, kv := range reflect.ValueOf(rl.clients).Elem().FieldByName("items").MapKeys() {
		k := kv.String()
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
