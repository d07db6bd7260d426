-- +goose Up
-- Fingerprints of the service's secret keys (HMAC(key, "wuxiao key
-- fingerprint")), stored the first time the service starts with a key, so
-- that a lost Secret regenerated with a new key is refused at start-up
-- instead of silently making every stored hash unmatchable. Insert-only.
CREATE TABLE key_fingerprints (
    name        text PRIMARY KEY,
    fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE key_fingerprints;
