package workflow

import (
	"strings"
	"testing"
	"time"
)

// testAuditKey is the audit key of the tests' services (32 bytes).
var testAuditKey = []byte("0123456789abcdef0123456789abcdef")

func chain(t *testing.T, n int) []AuditEntry {
	t.Helper()
	var out []AuditEntry
	var prev *AuditEntry
	for i := 0; i < n; i++ {
		e, err := NewAuditEntry(prev, testAuditKey, "inst-1", time.Date(2026, 3, 2, 9, i, 0, 123456789, time.UTC), cadre("secretary"), "step.completed", map[string]any{"step": i, "note": "第" + string(rune('一'+i)) + "步"})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
		prev = &out[len(out)-1]
	}
	return out
}

func TestVerifyChain(t *testing.T) {
	cases := []struct {
		name   string
		tamper func([]AuditEntry) []AuditEntry
		broken int64
		reason string
	}{
		{"intact", func(e []AuditEntry) []AuditEntry { return e }, 0, ""},
		{"data changed", func(e []AuditEntry) []AuditEntry {
			e[2].Data = strings.Replace(e[2].Data, `"step":2`, `"step":9`, 1)
			return e
		}, 3, "altered"},
		{"actor changed", func(e []AuditEntry) []AuditEntry { e[1].ActorID = "someone-else"; return e }, 2, "altered"},
		{"time changed", func(e []AuditEntry) []AuditEntry { e[3].At = e[3].At.Add(-time.Hour); return e }, 4, "altered"},
		{"entry removed", func(e []AuditEntry) []AuditEntry { return append(e[:1], e[2:]...) }, 2, "missing"},
		{"rehashed after a change", func(e []AuditEntry) []AuditEntry {
			// Someone who recomputes the changed row's hash still breaks the next link.
			e[1].Action = "step.withdrawn"
			e[1].Hash = e[1].ComputeHash(testAuditKey)
			return e
		}, 3, "does not follow"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := VerifyChain(tc.tamper(chain(t, 5)), testAuditKey)
			if got.Valid != (tc.broken == 0) || got.BrokenAt != tc.broken || !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("got %+v, want broken at %d (%s)", got, tc.broken, tc.reason)
			}
		})
	}
}

func TestAuditTimesAreStoredPrecision(t *testing.T) {
	e := chain(t, 1)[0]
	if e.At.Nanosecond()%1000 != 0 {
		t.Fatalf("entry time %v keeps nanoseconds PostgreSQL would drop", e.At)
	}
}
