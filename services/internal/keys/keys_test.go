package keys

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestCheckRefusesAnotherKey: the first start records the keys'
// fingerprints; restarts with the same keys pass; a restart with a
// regenerated key is refused naming the variable and the Secret to
// restore, and the recorded fingerprint is not replaced.
func TestCheckRefusesAnotherKey(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testinfra.Postgres(t), "inspection")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	audit, idHash := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("i", 32))
	steps := []struct {
		name string
		keys []Key
		want []string // substrings of the error; none: accepted
	}{
		{"first start", []Key{Audit.With(audit), IDHash.With(idHash)}, nil},
		{"restart", []Key{Audit.With(audit), IDHash.With(idHash)}, nil},
		{"no ID-hash key configured", []Key{Audit.With(audit), IDHash}, nil},
		{"audit key regenerated", []Key{Audit.With([]byte(strings.Repeat("b", 32))), IDHash.With(idHash)},
			[]string{"WUXIAO_AUDIT_KEY is not the key", "restore the original key into the Secret wuxiao-audit-key"}},
		{"both regenerated", []Key{Audit.With([]byte(strings.Repeat("b", 32))), IDHash.With([]byte(strings.Repeat("j", 32)))},
			[]string{"Secret wuxiao-audit-key", "Secret wuxiao-id-hash-key"}},
		{"the original keys still start", []Key{Audit.With(audit), IDHash.With(idHash)}, nil},
		{"a key seen for the first time", []Key{Challenge.With([]byte(strings.Repeat("c", 32)))}, nil},
	}
	for _, st := range steps {
		err := Check(ctx, pool, st.keys...)
		if len(st.want) == 0 {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			continue
		}
		var me *MismatchError
		if !errors.As(err, &me) {
			t.Fatalf("%s: %v, want a MismatchError", st.name, err)
		}
		for _, w := range st.want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: %q does not say %q", st.name, err, w)
			}
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM key_fingerprints WHERE fingerprint = $1`, Fingerprint(audit)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the audit key's fingerprint: %d rows (%v)", n, err)
	}
}
