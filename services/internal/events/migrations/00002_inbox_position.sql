-- +goose Up
-- Where a dead-lettered event was read (topic/partition/offset): the same
-- message delivered again after a crash is skipped, while the event
-- replayed from the dead-letter topic (a new offset) is applied.
ALTER TABLE inbox ADD COLUMN position text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE inbox DROP COLUMN position;
