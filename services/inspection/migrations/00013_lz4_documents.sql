-- +goose Up
-- The consumer rewrites a village's rating document (~15 KB of jsonb by
-- the end of a year) with every batch that brings it a fact, and drafts
-- notices with their HTML: compressing them with lz4 instead of pglz
-- halved the cost of those writes (issue 18: the consumer's warnings/s).
-- Values written before keep pglz until rewritten. A server built without
-- lz4 keeps pglz.
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE ratings ALTER COLUMN doc SET COMPRESSION lz4;
    ALTER TABLE notices ALTER COLUMN doc SET COMPRESSION lz4, ALTER COLUMN html SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not supported by this server: documents stay compressed with pglz';
END $$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE ratings ALTER COLUMN doc SET COMPRESSION default;
ALTER TABLE notices ALTER COLUMN doc SET COMPRESSION default, ALTER COLUMN html SET COMPRESSION default;
