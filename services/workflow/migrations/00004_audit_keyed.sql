-- +goose Up
-- The audit chain is keyed from now on (HMAC-SHA256 under WUXIAO_AUDIT_KEY):
-- each entry records how its hash was made, so that the entries written
-- before (plain SHA-256) still verify, and an unkeyed entry after a keyed
-- one is seen as the downgrade it is. New rows must say which (no default).
ALTER TABLE audit ADD COLUMN alg text NOT NULL DEFAULT 'sha256'
    CHECK (alg IN ('sha256', 'hmac-sha256'));
ALTER TABLE audit ALTER COLUMN alg DROP DEFAULT;

-- +goose Down
ALTER TABLE audit DROP COLUMN alg;
