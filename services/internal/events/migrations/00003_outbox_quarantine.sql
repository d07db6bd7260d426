-- +goose Up
-- An event Kafka refuses for good (too large for the broker) is set aside
-- instead of blocking every later event of the schema: the relay stamps
-- quarantined_at (last_error says why) and parks a digest of it on the
-- dead-letter topic. Quarantined rows are kept until someone deals with them.
ALTER TABLE outbox ADD COLUMN quarantined_at timestamptz;

-- +goose Down
ALTER TABLE outbox DROP COLUMN quarantined_at;
