-- +goose Up
-- Objections (异议) to a posting on the village's notice board (公示栏,
-- objection.go): the workflow's posting id, NULL for other complaints.
ALTER TABLE complaints ADD COLUMN posting_id uuid;
CREATE INDEX complaints_posting ON complaints (posting_id) WHERE posting_id IS NOT NULL;

-- +goose Down
DROP INDEX complaints_posting;
ALTER TABLE complaints DROP COLUMN posting_id;
