-- +goose Up
-- Postings on a village's notice board (公示栏, postings.go): one row per
-- visit of a process to a step with a posting-duration control, opened the
-- moment the process enters the step and ended when the step is recorded
-- or the process withdrawn (kind step). The posting-duration control
-- measures the real posting: from start_at to the step's completion. A
-- completed process also posts its item's notice-board disclosure rules
-- that no posting step carries (kind result): they come down by themselves
-- at planned_end_at, or never (NULL: the rule's forDays is 0).
CREATE TABLE postings (
    id             uuid PRIMARY KEY,
    instance_id    uuid NOT NULL REFERENCES instances (id),
    village        text NOT NULL,
    item_id        text NOT NULL,
    step_id        text NOT NULL,
    kind           text NOT NULL DEFAULT 'step' CHECK (kind IN ('step', 'result')),
    visit          int NOT NULL CHECK (visit >= 1),
    what           text NOT NULL,
    section        text NOT NULL,
    title          text NOT NULL,
    body           text NOT NULL,
    min_days       int NOT NULL CHECK (min_days >= 0),
    calendar       text NOT NULL CHECK (calendar IN ('calendar', 'working')),
    start_at       timestamptz NOT NULL,
    planned_end_at timestamptz,
    ended_at       timestamptz,
    end_reason     text CHECK (end_reason IN ('step-completed', 'withdrawn')),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
    CHECK (kind = 'result' OR (min_days >= 1 AND planned_end_at IS NOT NULL)),
    CHECK (kind = 'step' OR ended_at IS NULL),
    UNIQUE (instance_id, kind, step_id, visit, what)
);
CREATE INDEX postings_village ON postings (village, start_at DESC);
CREATE INDEX postings_open ON postings (instance_id) WHERE ended_at IS NULL AND kind = 'step';

-- +goose Down
DROP TABLE postings;
