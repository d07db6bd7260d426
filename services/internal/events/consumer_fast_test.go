package events

import (
	"context"
	"testing"
)

// TestQuoteLiteral: the consumer's fast path sends the event id as an SQL
// literal (consumer.go, applyFirst); whatever a producer put in the id,
// PostgreSQL must read back exactly that string, or the literal is refused
// and the general path (parameters) is taken.
func TestQuoteLiteral(t *testing.T) {
	pool := openDB(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"uuid", "0b6f3c1e-8f7a-4d2b-9c61-2f0d8f3a9e11", true},
		{"quotes", `it's '' a "test"`, true},
		{"backslashes", `\' OR 1=1; --\\`, true},
		{"statement after", `x'); DROP TABLE inbox; --`, true},
		{"dollar quote", `$$ $1 $tag$`, true},
		{"unicode", "事件-编号-①", true},
		{"empty", "", true},
		{"NUL", "a\x00b", false},
		{"invalid UTF-8", "a\xffb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lit, ok := quoteLiteral(conn.Conn(), tt.in)
			if ok != tt.ok {
				t.Fatalf("quoteLiteral(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if !ok {
				return
			}
			var got string
			if err := conn.QueryRow(ctx, "SELECT "+lit).Scan(&got); err != nil {
				t.Fatalf("SELECT %s: %v", lit, err)
			}
			if got != tt.in {
				t.Errorf("SELECT %s = %q, want %q", lit, got, tt.in)
			}
		})
	}
}
