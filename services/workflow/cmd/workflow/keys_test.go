package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// TestRestartWithAnotherKeyRefused: the workflow records its keys'
// fingerprints on the first start; a restart with a regenerated audit or
// ID-hash key (a lost Secret) is refused naming the Secret to restore,
// and the original keys still start. Before, any new key was taken as is.
func TestRestartWithAnotherKeyRefused(t *testing.T) {
	base := testinfra.ServiceBase(t, "workflow", testinfra.UniqueName("t"))
	idKey, auditKey := strings.Repeat("k", 32), []byte(strings.Repeat("a", 32))
	start := func(idKey string, auditKey []byte) error {
		b := base
		b.HTTPAddr, b.MetricsAddr = testinfra.FreeAddr(t), testinfra.FreeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- run(ctx, &b, idKey, auditKey, "", time.Second, time.Second, nil) }()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			select {
			case err := <-done: // refused before serving
				return err
			default:
			}
			if res, err := http.Get("http://" + b.HTTPAddr + "/readyz"); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					cancel()
					return <-done
				}
			}
		}
		t.Fatal("neither ready nor refused within a minute")
		return nil
	}
	steps := []struct {
		name     string
		idKey    string
		auditKey []byte
		want     []string // substrings of the refusal; none: starts
	}{
		{"first start", idKey, auditKey, nil},
		{"audit key regenerated", idKey, []byte(strings.Repeat("b", 32)),
			[]string{"WUXIAO_AUDIT_KEY is not the key", "Secret wuxiao-audit-key"}},
		{"ID-hash key regenerated", strings.Repeat("j", 32), auditKey,
			[]string{"WUXIAO_ID_HASH_KEY is not the key", "Secret wuxiao-id-hash-key"}},
		{"original keys", idKey, auditKey, nil},
	}
	for _, st := range steps {
		err := start(st.idKey, st.auditKey)
		if len(st.want) == 0 {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			continue
		}
		if err == nil {
			t.Fatalf("%s: started", st.name)
		}
		for _, w := range st.want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: %q does not say %q", st.name, err, w)
			}
		}
	}
}
