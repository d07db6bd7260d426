-- +goose Up
-- Postings on a village's notice board (公示栏, postings.go): one row per
-- visit of a process to a step with a posting-duration control, opened the
-- moment the process enters the step and ended when the step is recorded
-- or the process withdrawn. The posting-duration control measures the real
-- posting: from start_at to the step's completion.
CREATE TABLE postings (
    id             uuid PRIMARY KEY,
    instance_id    uuid NOT NULL REFERENCES instances (id),
    village        text NOT NULL,
    item_id        text NOT NULL,
    step_id        text NOT NULL,
    visit          int NOT NULL CHECK (visit >= 1),
    what           text NOT NULL,
    section        text NOT NULL,
    title          text NOT NULL,
    body           text NOT NULL,
    min_days       int NOT NULL CHECK (min_days >= 1),
    calendar       text NOT NULL CHECK (calendar IN ('calendar', 'working')),
    start_at       timestamptz NOT NULL,
    planned_end_at timestamptz NOT NULL,
    ended_at       timestamptz,
    end_reason     text CHECK (end_reason IN ('step-completed', 'withdrawn')),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
    UNIQUE (instance_id, step_id, visit)
);
CREATE INDEX postings_village ON postings (village, start_at DESC);
CREATE INDEX postings_open ON postings (instance_id) WHERE ended_at IS NULL;

-- +goose Down
DROP TABLE postings;
