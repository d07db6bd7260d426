package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestAuditKey: the audit key is required and must be 64 hex digits; a
// valid one is decoded, anything else stops the service with a message
// naming the variable.
func TestAuditKey(t *testing.T) {
	good := strings.Repeat("ab", 32)
	cases := []struct {
		name, value string
		problem     string
	}{
		{"valid", good, ""},
		{"missing", "", "--audit-key / WUXIAO_AUDIT_KEY: required"},
		{"not hex", strings.Repeat("zz", 32), "--audit-key / WUXIAO_AUDIT_KEY: must be 64 hex digits"},
		{"too short", "abcd", "--audit-key / WUXIAO_AUDIT_KEY: must be 64 hex digits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b Base
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			env := validEnv(t)
			if tc.value != "" {
				env[EnvAuditKey] = tc.value
			}
			b.BindFlags(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			key := b.BindAuditKey()
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			err := b.Validate()
			if tc.problem == "" {
				if err != nil || !bytes.Equal(*key, bytes.Repeat([]byte{0xab}, 32)) {
					t.Fatalf("Validate() = %v, key %x", err, *key)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.HasPrefix(ve.Problems[0], tc.problem) {
				t.Fatalf("Validate() = %v, want %q", err, tc.problem)
			}
			if len(*key) != 0 {
				t.Fatalf("an invalid key was kept: %x", *key)
			}
		})
	}
}
