-- +goose Up
-- The notice board (公示栏): the workflow's postings
-- (cn.wuxiao.workflow.posting.published.v1 / .ended.v1), kept after they
-- end (the portal lists past postings apart). Keyed by the posting id the
-- event carries, so a redelivery changes nothing; an ended event arriving
-- before its published one leaves a row without start_at, which the
-- portal does not list until the published event fills it in. A result
-- posting (kind result: posted when a process completed) has no ended
-- event: it is current until planned_end_at, or for good when that is NULL.
CREATE TABLE postings (
    posting_id      text PRIMARY KEY,
    village         text NOT NULL REFERENCES villages (code),
    instance_id     text NOT NULL,
    kind            text NOT NULL DEFAULT 'step',
    tracking_number text NOT NULL DEFAULT '',
    item_id         text NOT NULL DEFAULT '',
    item_name       text NOT NULL DEFAULT '',
    category        text NOT NULL DEFAULT '',
    step_id         text NOT NULL DEFAULT '',
    step_name       text NOT NULL DEFAULT '',
    what            text NOT NULL DEFAULT '',
    title           text NOT NULL DEFAULT '',
    body            text NOT NULL DEFAULT '',
    min_days        int NOT NULL DEFAULT 0,
    start_at        timestamptz,
    planned_end_at  timestamptz,
    ended_at        timestamptz,
    end_reason      text NOT NULL DEFAULT '',
    days            int NOT NULL DEFAULT 0,
    short           boolean NOT NULL DEFAULT false
);
CREATE INDEX postings_village ON postings (village, start_at DESC);

-- +goose Down
DROP TABLE postings;
