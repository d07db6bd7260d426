// Package keys detects a lost secret key. A service's keys (the ID-hash
// key, the challenge key, the audit key) are generated once per town and
// never rotated: a new one would make every stored hash unmatchable, every
// audit entry unverifiable. If the Secret holding one is lost and
// regenerated, the service must not carry on with the new key as if
// nothing happened. Check stores each key's fingerprint in the service's
// schema the first time and refuses to start when a different key arrives.
package keys

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/api/settings"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations create the key_fingerprints table in a service's schema; the
// service applies them before its own (store.MigrateEmbedded).
var Migrations = store.Embedded{Set: "keys", FS: migrationFiles}

// Migrate applies Migrations to the pool's schema.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return store.MigrateEmbedded(ctx, pool, Migrations)
}

// Key is one secret key of a service.
type Key struct {
	// Env is the variable the key comes from (WUXIAO_AUDIT_KEY); it names
	// the key in the table and in errors.
	Env string
	// Secret is the Kubernetes Secret the operator keeps it in
	// (wuxiao-audit-key), named in the error so that it can be restored.
	Secret string
	Value  []byte
}

// Well-known keys (Value still to be set).
var (
	IDHash    = Key{Env: settings.EnvIDHashKey, Secret: settings.IDHashKeySecretName}
	Challenge = Key{Env: settings.EnvChallengeKey, Secret: settings.ChallengeKeySecretName}
	Audit     = Key{Env: settings.EnvAuditKey, Secret: settings.AuditKeySecretName}
)

// With returns k holding value.
func (k Key) With(value []byte) Key { k.Value = value; return k }

// Fingerprint is HMAC-SHA256(key, "wuxiao key fingerprint"): it identifies
// the key without revealing it.
func Fingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("wuxiao key fingerprint"))
	return hex.EncodeToString(m.Sum(nil))
}

// MismatchError says that a key differs from the one the service's data
// was first written with.
type MismatchError struct {
	Key   Key
	Since time.Time
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s is not the key this service's data has been written with since %s (its fingerprint differs): "+
		"restore the original key into the Secret %s (key %q) from your backup; do not generate a new one, "+
		"which would make every stored hash unmatchable (refusing to start)",
		e.Key.Env, e.Since.UTC().Format(time.DateOnly), e.Key.Secret, settings.SecretKeyKey)
}

// Check records each non-empty key's fingerprint the first time and
// returns a *MismatchError for a key whose fingerprint differs from the
// recorded one. Empty keys (a setting the service runs without) are skipped.
func Check(ctx context.Context, pool *pgxpool.Pool, ks ...Key) error {
	var errs []error
	for _, k := range ks {
		if len(k.Value) == 0 {
			continue
		}
		fp := Fingerprint(k.Value)
		// Replicas starting together: the first insert wins, the others
		// compare with it.
		if _, err := pool.Exec(ctx, `INSERT INTO key_fingerprints (name, fingerprint) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			k.Env, fp); err != nil {
			return fmt.Errorf("recording the fingerprint of %s: %w", k.Env, err)
		}
		var stored string
		var since time.Time
		if err := pool.QueryRow(ctx, `SELECT fingerprint, created_at FROM key_fingerprints WHERE name = $1`, k.Env).Scan(&stored, &since); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("the fingerprint of %s was not recorded", k.Env)
			}
			return fmt.Errorf("reading the fingerprint of %s: %w", k.Env, err)
		}
		if !hmac.Equal([]byte(stored), []byte(fp)) {
			errs = append(errs, &MismatchError{Key: k, Since: since})
		}
	}
	return errors.Join(errs...)
}
