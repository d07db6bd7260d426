package disclosure

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/store"
)

// awaitLimit bounds every wait for the listener: a failure, not a speed.
const awaitLimit = 10 * time.Second

// replica opens another Service on a's database with its own pool, as a
// second replica of the binary would.
func replica(t testing.TB, a *Service) *Service {
	t.Helper()
	pool, err := store.Open(context.Background(), a.Pool.Config().ConnString(), "disclosure")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return portalService(t, &Service{Pool: pool, Town: a.Town, IDHashKey: a.IDHashKey, Log: a.Log, Now: a.Now})
}

// listen runs s's listener until the test ends and waits until it listens.
// With reconnect, every connection attempt after the first waits for it.
func listen(t testing.TB, s *Service, reconnect <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	o := listenOptions{beforeConnect: func(ctx context.Context) error {
		attempts++ // only the listener goroutine calls this
		if attempts == 1 || reconnect == nil {
			return nil
		}
		select {
		case <-reconnect:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	done := make(chan error, 1)
	go func() { done <- s.listenPortal(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listener: %v", err)
		}
	})
	awaitBook(t, s, "listening", func(b *versionBook) bool { return b.listening })
}

// awaitBook waits, at most awaitLimit, until cond holds for s's map.
func awaitBook(t testing.TB, s *Service, what string, cond func(*versionBook) bool) {
	t.Helper()
	b := s.cache().versions
	timeout := time.After(awaitLimit)
	for {
		b.mu.RLock()
		ok, changed := cond(b), b.changed
		b.mu.RUnlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%s: not within %v", what, awaitLimit)
		}
	}
}

func bookVersion(b *versionBook, village string) int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if e, ok := b.villages[village]; ok {
		return e.v.Version
	}
	return -1
}

// TestPortalListenReplicas: two replicas on one database, both listening.
// A write through one is on the other's pages without a database read;
// with the other's listener killed, pages read the database and stay
// correct; after it reconnects, its map starts empty.
func TestPortalListenReplicas(t *testing.T) {
	ctx := context.Background()
	a := portalService(t, newService(t, testTown))
	b := replica(t, a)
	reconnect := make(chan struct{})
	listen(t, a, nil)
	listen(t, b, reconnect)
	tsA, tsB := serve(t, a), serve(t, b)
	path := "/v/" + village + "?year=2026"
	bb := b.cache().versions

	// write records an entry through a and returns the village's version.
	write := func(desc string) int64 {
		t.Helper()
		if _, err := a.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindIncome, Category: CategoryOtherIncome,
			AmountFen: 100, Date: "2026-03-01", Description: desc}); err != nil {
			t.Fatal(err)
		}
		v, err := a.villageVersion(ctx, village)
		if err != nil {
			t.Fatal(err)
		}
		return v.Version
	}
	// awaitNotified waits for b's listener to hear version; it logs whether
	// it had already arrived when the write returned.
	awaitNotified := func(version int64) {
		t.Helper()
		t.Logf("version %d: on the other replica when the write returned: %v", version, bookVersion(bb, village) >= version)
		awaitBook(t, b, fmt.Sprintf("version %d notified", version), func(b *versionBook) bool {
			e, ok := b.villages[village]
			return ok && e.v.Version >= version
		})
	}
	// getB GETs the page from b, checks it shows want at version, and
	// returns it with the number of versions b read from the database.
	getB := func(want string, version int64, header ...string) (page, int64) {
		t.Helper()
		before := bb.dbReads.Load()
		p := get(t, tsB, path, header...)
		reads := bb.dbReads.Load() - before
		if p.status != http.StatusOK || !strings.Contains(p.body, want) || !strings.HasPrefix(p.header.Get("ETag"), fmt.Sprintf(`"%d-`, version)) {
			t.Fatalf("GET from the other replica: %d, ETag %s, want %q at version %d", p.status, p.header.Get("ETag"), want, version)
		}
		return p, reads
	}

	v1 := write("第一笔")
	awaitNotified(v1)
	first, reads := getB("第一笔", v1)
	if reads != 0 {
		t.Errorf("a notified village: %d database reads, want 0", reads)
	}
	if _, reads := getB("第一笔", v1); reads != 0 {
		t.Errorf("a warm GET: %d database reads, want 0", reads)
	}
	if p := get(t, tsA, path); !strings.Contains(p.body, "第一笔") || p.header.Get("ETag") != first.header.Get("ETag") {
		t.Fatalf("the writing replica: %d, ETag %s (other %s)", p.status, p.header.Get("ETag"), first.header.Get("ETag"))
	}

	t.Run("a write invalidates the other replica's page", func(t *testing.T) {
		v2 := write("第二笔")
		awaitNotified(v2)
		p, reads := getB("第二笔", v2, "If-None-Match", first.header.Get("ETag"))
		if reads != 0 || p.header.Get("Last-Modified") == first.header.Get("Last-Modified") {
			t.Fatalf("%d database reads, Last-Modified %s (was %s)", reads, p.header.Get("Last-Modified"), first.header.Get("Last-Modified"))
		}
		if p := get(t, tsB, path, "If-None-Match", p.header.Get("ETag")); p.status != http.StatusNotModified {
			t.Fatalf("revalidation: %d, want 304", p.status)
		}
	})

	t.Run("notifications of another schema or malformed are ignored", func(t *testing.T) {
		for _, payload := range []string{
			foreignVillage + "|99|0|other_schema|外村",
			village + "|9999|0|other_schema|",
			village + "|9999",
			village + "|x|0|disclosure|",
			"33021310|9999|0|disclosure|",
		} {
			if _, err := a.Pool.Exec(ctx, `SELECT pg_notify($1, $2)`, portalChannel, payload); err != nil {
				t.Fatal(err)
			}
		}
		v := write("第二笔之后") // notifications arrive in commit order: the others came first
		awaitNotified(v)
		if got := bookVersion(bb, village); got != v {
			t.Fatalf("version %d, want %d", got, v)
		}
		if got := bookVersion(bb, foreignVillage); got != -1 {
			t.Fatalf("another schema's village is in the map at version %d", got)
		}
		if p := get(t, tsB, "/v/"+foreignVillage); p.status != http.StatusNotFound {
			t.Fatalf("another town's village: %d, want 404", p.status)
		}
	})

	var deafVersion int64
	t.Run("killed listener: pages read the database", func(t *testing.T) {
		bb.mu.RLock()
		pid := bb.pid
		bb.mu.RUnlock()
		var killed bool
		if err := a.Pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int64(pid)).Scan(&killed); err != nil || !killed {
			t.Fatalf("terminating the listener's backend %d: %v %v", pid, killed, err)
		}
		awaitBook(t, b, "listener down", func(b *versionBook) bool { return !b.listening })
		deafVersion = write("第三笔")
		// No wait: the request reads the version from the database.
		for range 2 {
			if _, reads := getB("第三笔", deafVersion); reads != 1 {
				t.Fatalf("%d database reads while not listening, want 1", reads)
			}
		}
	})

	t.Run("reconnected listener starts empty", func(t *testing.T) {
		close(reconnect)
		awaitBook(t, b, "listening again", func(b *versionBook) bool { return b.listening })
		if n := func() int { bb.mu.RLock(); defer bb.mu.RUnlock(); return len(bb.villages) }(); n != 0 {
			t.Fatalf("%d villages in the map after reconnecting, want 0", n)
		}
		if _, reads := getB("第三笔", deafVersion); reads != 1 {
			t.Fatalf("first GET after reconnecting: %d database reads, want 1", reads)
		}
		if _, reads := getB("第三笔", deafVersion); reads != 0 {
			t.Fatalf("second GET after reconnecting: %d database reads, want 0", reads)
		}
		v := write("第四笔")
		awaitNotified(v)
		if _, reads := getB("第四笔", v); reads != 0 {
			t.Fatalf("after a notified write: %d database reads, want 0", reads)
		}
	})
}

// TestPortalListenLifecycle: one listener per Service; when it stops,
// requests read the database again.
func TestPortalListenLifecycle(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	book := s.cache().versions
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenPortal(ctx) }()
	awaitBook(t, s, "listening", func(b *versionBook) bool { return b.listening })
	if err := s.ListenPortal(context.Background()); err == nil {
		t.Fatal("a second listener started")
	}
	// A quiet session is kept trusted by heartbeats on the same session.
	book.mu.RLock()
	pid, until := book.pid, book.aliveUntil
	book.mu.RUnlock()
	awaitBook(t, s, "a heartbeat", func(b *versionBook) bool { return b.aliveUntil.After(until) })
	awaitBook(t, s, "a second heartbeat", func(b *versionBook) bool { return b.aliveUntil.After(until.Add(listenHeartbeat)) })
	book.mu.RLock()
	listening, pidNow := book.listening, book.pid
	book.mu.RUnlock()
	if !listening || pidNow != pid {
		t.Fatalf("after heartbeats: listening %v, backend %d (was %d)", listening, pidNow, pid)
	}
	for i, want := range []int64{1, 0} {
		before := book.dbReads.Load()
		if p := get(t, ts, "/v/"+emptyVillage); p.status != http.StatusOK {
			t.Fatalf("GET: %d", p.status)
		}
		if got := book.dbReads.Load() - before; got != want {
			t.Fatalf("GET %d while listening: %d database reads, want %d", i+1, got, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stopped listener: %v", err)
	}
	before := book.dbReads.Load()
	if p := get(t, ts, "/v/"+emptyVillage); p.status != http.StatusOK || book.dbReads.Load()-before != 1 {
		t.Fatalf("after stopping: %d, %d database reads, want 1", p.status, book.dbReads.Load()-before)
	}
	if book.running.Load() {
		t.Fatal("the listener still counts as running")
	}
}

// TestVersionBook: the map keeps the higher version whatever the order of
// a database read and a notification, keeps nothing read across a change
// of session, and is trusted only while the session proves alive.
func TestVersionBook(t *testing.T) {
	t0 := time.Date(2026, 3, 15, 2, 0, 0, 123456000, time.UTC)
	notice := func(version int64, schema string) string {
		return fmt.Sprintf("%s|%d|%d|%s|%s", village, version, t0.UnixMicro(), schema, "溪口|村")
	}
	read := func(version int64) villageVersion {
		return villageVersion{Known: true, Version: version, ChangedAt: t0}
	}
	// Each case leaves the book; want is the version a lookup at the
	// returned time gives, -1 for none (read the database).
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, b *versionBook) time.Time
		want int64
	}{
		{"notification during the read wins", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			e, _ := b.begin()
			b.notified(notice(6, "disclosure"), t0)
			if got := b.remember(village, read(5), e, t0); got.Version != 6 {
				t.Fatalf("remember gave %d, want 6", got.Version)
			}
			return t0
		}, 6},
		{"older notification after a newer read", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			e, _ := b.begin()
			b.remember(village, read(6), e, t0)
			b.notified(notice(5, "disclosure"), t0)
			return t0
		}, 6},
		{"read, then a newer notification", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			e, _ := b.begin()
			b.remember(village, read(5), e, t0)
			b.notified(notice(7, "disclosure"), t0)
			return t0
		}, 7},
		{"read across a reconnect is not kept", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			e, _ := b.begin()
			b.deaf()
			b.connected("disclosure", 2, t0)
			b.remember(village, read(5), e, t0)
			return t0
		}, -1},
		{"read begun while deaf is not kept", func(t *testing.T, b *versionBook) time.Time {
			e, _ := b.begin()
			b.connected("disclosure", 1, t0)
			b.remember(village, read(5), e, t0)
			return t0
		}, -1},
		{"reconnect clears the map", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			b.notified(notice(5, "disclosure"), t0)
			b.deaf()
			b.connected("disclosure", 2, t0)
			return t0
		}, -1},
		{"deaf: nothing is trusted", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			b.notified(notice(5, "disclosure"), t0)
			b.deaf()
			b.notified(notice(6, "disclosure"), t0)
			return t0
		}, -1},
		{"another schema's notification", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			b.notified(notice(5, "other"), t0)
			return t0
		}, -1},
		{"unknown village is not kept", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			e, _ := b.begin()
			b.remember(village, villageVersion{}, e, t0)
			return t0
		}, -1},
		{"trust lapses without a proof of life", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			b.notified(notice(5, "disclosure"), t0)
			return t0.Add(listenTrust)
		}, -1},
		{"a heartbeat extends trust", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			b.notified(notice(5, "disclosure"), t0)
			b.alive(t0.Add(2 * time.Second))
			return t0.Add(listenTrust + time.Second)
		}, 5},
		{"rechecked after versionRecheck", func(t *testing.T, b *versionBook) time.Time {
			b.connected("disclosure", 1, t0)
			e, _ := b.begin()
			b.remember(village, read(5), e, t0)
			b.alive(t0.Add(versionRecheck))
			return t0.Add(versionRecheck)
		}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newVersionBook()
			at := tc.run(t, b)
			v, ok := b.lookup(village, at)
			got := int64(-1)
			if ok {
				got = v.Version
			}
			if got != tc.want {
				t.Fatalf("lookup: %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseVersionNotice(t *testing.T) {
	at := time.Date(2026, 3, 15, 2, 0, 1, 0, time.UTC)
	for _, tc := range []struct {
		payload string
		ok      bool
		name    string
	}{
		{fmt.Sprintf("%s|3|%d|disclosure|溪口村", village, at.UnixMicro()), true, "溪口村"},
		{fmt.Sprintf("%s|3|%d|disclosure|", village, at.UnixMicro()), true, ""},
		{fmt.Sprintf("%s|3|%d|disclosure|a|b", village, at.UnixMicro()), true, "a|b"},
		{village + "|3", false, ""},
		{village + "|0|0|disclosure|", false, ""},
		{village + "|-1|0|disclosure|", false, ""},
		{village + "|3|x|disclosure|", false, ""},
		{village + "|3|0||", false, ""},
		{"3302131|3|0|disclosure|", false, ""},
		{"", false, ""},
	} {
		t.Run(tc.payload, func(t *testing.T) {
			v, got, schema, ok := parseVersionNotice(tc.payload)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if ok && (v != village || schema != "disclosure" || got.Version != 3 || !got.Known || got.Name != tc.name || !got.ChangedAt.Equal(at)) {
				t.Fatalf("%s %s %+v", v, schema, got)
			}
		})
	}
}

// BenchmarkPortalNotify measures how long after a write through one replica
// returns the other replica's listener still lacks its version: the window
// in which the other replica's next request could show the previous
// version. It reports the share of writes already heard when the write
// returned, and the wait beyond it (p50, p99, max).
func BenchmarkPortalNotify(b *testing.B) {
	ctx := context.Background()
	a := portalService(b, newService(b, testTown))
	r := replica(b, a)
	listen(b, r, nil)
	book := r.cache().versions
	waits := make([]time.Duration, 0, b.N)
	heard := 0
	b.ResetTimer()
	for i := range b.N {
		if _, err := a.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindIncome, Category: CategoryOtherIncome,
			AmountFen: 100, Date: "2026-03-01", Description: fmt.Sprintf("第%d笔", i+1)}); err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		want := int64(i + 1) // each entry bumps the village's version once
		if bookVersion(book, village) >= want {
			heard++
		}
		awaitBook(b, r, fmt.Sprintf("version %d", want), func(v *versionBook) bool {
			e, ok := v.villages[village]
			return ok && e.v.Version >= want
		})
		waits = append(waits, time.Since(returned))
	}
	b.StopTimer()
	slices.Sort(waits)
	b.ReportMetric(100*float64(heard)/float64(b.N), "%heard-at-return")
	b.ReportMetric(float64(waits[len(waits)/2].Microseconds()), "p50-wait-µs")
	b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds()), "p99-wait-µs")
	b.ReportMetric(float64(waits[len(waits)-1].Microseconds()), "max-wait-µs")
}

// TestPortalListenerAtRest: with no page asked for, the listener gives its
// session back (issue 18: no standing session at rest); the next request
// reads its version from the database and starts it again, and the one
// after is served from the map.
func TestPortalListenerAtRest(t *testing.T) {
	s := portalService(t, newService(t, testTown))
	ts := serve(t, s)
	book := s.cache().versions
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.listenPortal(ctx, listenOptions{idle: time.Second}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listener: %v", err)
		}
	}()
	awaitBook(t, s, "listening", func(b *versionBook) bool { return b.listening })
	book.mu.RLock()
	pid := book.pid
	book.mu.RUnlock()
	awaitBook(t, s, "the session given back", func(b *versionBook) bool { return !b.listening })
	var n int
	for deadline := time.Now().Add(awaitLimit); ; time.Sleep(20 * time.Millisecond) {
		if err := s.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
	}
	if n != 0 {
		t.Fatalf("the listening session (pid %d) still exists at rest", pid)
	}
	// The first read is not kept (nobody listened during it), the second
	// is, the third comes from the map.
	for i, want := range []int64{1, 1, 0} {
		before := book.dbReads.Load()
		if p := get(t, ts, "/v/"+emptyVillage); p.status != http.StatusOK {
			t.Fatalf("GET: %d", p.status)
		}
		if got := book.dbReads.Load() - before; got != want {
			t.Fatalf("GET %d after rest: %d database reads, want %d", i+1, got, want)
		}
		if i == 0 {
			awaitBook(t, s, "listening again", func(b *versionBook) bool { return b.listening })
		}
	}
}
