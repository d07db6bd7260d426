-- +goose Up
-- Objections (异议) to a posting on the village's notice board (公示栏,
-- objection.go): the workflow's posting id, NULL for other complaints.
ALTER TABLE complaints ADD COLUMN posting_id uuid;
CREATE INDEX complaints_posting ON complaints (posting_id) WHERE posting_id IS NOT NULL;

-- The postings as the workflow announced them (its stream,
-- cn.wuxiao.workflow.posting.published.v1 / .ended.v1): what the report
-- page names when a villager objects, and the village an objection must be
-- about. Public data only (the workflow masks it).
CREATE TABLE postings (
    posting_id     uuid PRIMARY KEY,
    village        text NOT NULL CHECK (village ~ '^[0-9]{12}$'),
    what           text NOT NULL DEFAULT '',
    title          text NOT NULL DEFAULT '',
    item_name      text NOT NULL DEFAULT '',
    start_at       timestamptz,
    planned_end_at timestamptz,
    ended_at       timestamptz
);

-- +goose Down
DROP TABLE postings;
DROP INDEX complaints_posting;
ALTER TABLE complaints DROP COLUMN posting_id;
