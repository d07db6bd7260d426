package auditchain

import (
	"strings"
	"testing"
	"time"
)

var key = []byte("0123456789abcdef0123456789abcdef")

// TestLegacyHashUnchanged: entries written before keying (plain SHA-256)
// hash exactly as the unkeyed chain computed them, so they still verify.
func TestLegacyHashUnchanged(t *testing.T) {
	e := Entry{InstanceID: "7f1c1a36-7d0e-4d2e-9d43-3c8f0e5b1a01", Seq: 2, At: time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC),
		ActorID: "id-secretary", ActorRole: "secretary", Action: "comment.added", Data: `{"body":"第一行\n第二行"}`,
		PrevHash: "ab" + strings.Repeat("0", 62), Alg: AlgSHA256}
	// Computed by the unkeyed chain's ComputeHash (services/workflow/audit.go before keying).
	if got, want := e.ComputeHash(nil), "b7a90935494018c9d95b524a186e5f12828c8d5c7f47a830b608b66cc7e4a66e"; got != want {
		t.Fatalf("legacy hash %s, want %s", got, want)
	}
}

// TestKeyedEncodingIsUnambiguous: a line feed and the two characters \n
// hashed alike in the unkeyed encoding; keyed entries length-prefix every
// field, so moving text across fields or swapping the two changes the MAC.
func TestKeyedEncodingIsUnambiguous(t *testing.T) {
	base := Entry{InstanceID: "i", Seq: 1, At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), ActorID: "a", ActorRole: "r",
		Action: "x", Data: "a\nb", PrevHash: GenesisHash, Alg: AlgHMAC}
	variants := map[string]func(*Entry){
		`\n for line feed`: func(e *Entry) { e.Data = `a\nb` },
		"text moved across fields": func(e *Entry) {
			e.ActorID, e.ActorRole = "a\nr", ""
		},
	}
	for name, change := range variants {
		e := base
		change(&e)
		if e.ComputeHash(key) == base.ComputeHash(key) {
			t.Errorf("%s: same MAC", name)
		}
	}
}

func chain(t *testing.T, n int) []Entry {
	t.Helper()
	var out []Entry
	for i := 0; i < n; i++ {
		var prev *Entry
		if i > 0 {
			prev = &out[i-1]
		}
		e, err := Next(prev, Entry{InstanceID: "i", At: time.Date(2026, 3, 2, 9, i, 0, 0, time.UTC), ActorID: "a", ActorRole: "r",
			Action: "comment.added", Data: `{"n":` + string(rune('0'+i)) + `}`}, key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func anchorsOf(es []Entry) []Anchor {
	var as []Anchor
	for _, e := range es {
		as = append(as, Anchor{Seq: e.Seq, Hash: e.Hash})
	}
	return as
}

// rehash re-hashes es from index i on with plain SHA-256, relinked: what
// someone without the key can do.
func rehash(es []Entry, i int) []Entry {
	for j := i; j < len(es); j++ {
		if j > 0 {
			es[j].PrevHash = es[j-1].Hash
		}
		es[j].Alg = AlgSHA256
		es[j].Hash = es[j].ComputeHash(nil)
	}
	return es
}

func TestVerifyAnchored(t *testing.T) {
	cases := []struct {
		name    string
		entries func([]Entry) []Entry
		anchors func([]Entry) []Anchor // of the untouched chain
		key     []byte
		status  Status
		at      int64
	}{
		{"valid", func(e []Entry) []Entry { return e }, anchorsOf, key, Valid, 0},
		{"valid, anchors not yet arrived", func(e []Entry) []Entry { return e }, func(e []Entry) []Anchor { return anchorsOf(e[:2]) }, key, Valid, 0},
		{"legacy chain continued keyed", func(e []Entry) []Entry {
			legacy := rehash(e[:2], 0)
			next, _ := Next(&legacy[1], Entry{InstanceID: "i", At: e[2].At, ActorID: "a", ActorRole: "r", Action: "x", Data: "{}"}, key)
			return append(legacy, next)
		}, func([]Entry) []Anchor { return nil }, key, Valid, 0},
		{"tail deleted", func(e []Entry) []Entry { return e[:3] }, anchorsOf, key, MissingTail, 4},
		{"tail deleted, no anchors", func(e []Entry) []Entry { return e[:3] }, func([]Entry) []Anchor { return nil }, key, Valid, 0},
		{"suffix re-hashed", func(e []Entry) []Entry { e[2].Data = "{}"; return rehash(e, 2) }, anchorsOf, key, Rehashed, 3},
		{"suffix re-hashed, no anchors", func(e []Entry) []Entry { e[2].Data = "{}"; return rehash(e, 2) },
			func([]Entry) []Anchor { return nil }, key, Unkeyed, 3},
		{"data altered", func(e []Entry) []Entry { e[1].Data = "{}"; return e }, anchorsOf, key, Altered, 2},
		{"entry removed", func(e []Entry) []Entry { return append(e[:1], e[2:]...) }, anchorsOf, key, Altered, 2},
		{"conflicting anchors", func(e []Entry) []Entry { return e },
			func(e []Entry) []Anchor { return append(anchorsOf(e), Anchor{Seq: 2, Hash: strings.Repeat("f", 64)}) }, key, AnchorConflict, 2},
		{"another key", func(e []Entry) []Entry { return e }, anchorsOf, []byte(strings.Repeat("k", 32)), Altered, 1},
		{"no key", func(e []Entry) []Entry { return e }, anchorsOf, nil, NoKey, 1},
		{"unknown alg", func(e []Entry) []Entry { e[0].Alg = "md5"; return e }, anchorsOf, key, Altered, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := chain(t, 4)
			anchors := tc.anchors(append([]Entry(nil), c...))
			got := VerifyAnchored(tc.entries(c), tc.key, anchors)
			if got.Status != tc.status || got.BrokenAt != tc.at || got.Valid != (tc.status == Valid) {
				t.Fatalf("got %+v, want %s at %d", got, tc.status, tc.at)
			}
		})
	}
}
