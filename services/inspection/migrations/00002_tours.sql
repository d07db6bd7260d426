-- +goose Up
-- The town's villages, the universe of inspection coverage (巡察全覆盖):
-- registered by the discipline office, or by planning a tour that visits
-- them. A village's name addresses it on pages.
CREATE TABLE villages (
    code text PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
    town text NOT NULL,
    name text NOT NULL DEFAULT '',
    registered_at timestamptz NOT NULL DEFAULT now()
);

-- Inspection tours (巡察): rounds planned per period by the town's
-- discipline office, with their team.
CREATE TABLE tours (
    id         uuid PRIMARY KEY,
    town       text NOT NULL,
    name       text NOT NULL,
    period     text NOT NULL,
    team       jsonb NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX tours_town ON tours (town, created_at);

-- The villages a round covers, and when each was visited.
CREATE TABLE tour_villages (
    tour_id    uuid NOT NULL REFERENCES tours (id),
    village    text NOT NULL REFERENCES villages (code),
    visited_on date,
    visited_by text NOT NULL DEFAULT '',
    PRIMARY KEY (tour_id, village)
);
CREATE INDEX tour_villages_village ON tour_villages (village) WHERE visited_on IS NOT NULL;

-- Findings (问题) a tour raised on a village. Each counts in the village's
-- rating as a fact with id 'finding:<id>'.
CREATE TABLE findings (
    id          uuid PRIMARY KEY,
    tour_id     uuid NOT NULL REFERENCES tours (id),
    town        text NOT NULL,
    village     text NOT NULL,
    category    text NOT NULL,
    description text NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('minor', 'major', 'serious')),
    raised_by   text NOT NULL,
    raised_at   timestamptz NOT NULL
);
CREATE INDEX findings_village ON findings (village, raised_at);

-- Rectification tasks (整改任务) of findings: open → submitted →
-- accepted, or returned (→ submitted again). overdue_at is set once, by the
-- escalation loop, when the deadline passed without an accepted or pending
-- submission.
CREATE TABLE rectification_tasks (
    id           uuid PRIMARY KEY,
    finding_id   uuid NOT NULL REFERENCES findings (id),
    town         text NOT NULL,
    village      text NOT NULL,
    seq          int  NOT NULL,
    owner        text NOT NULL,
    action       text NOT NULL,
    deadline     timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('open', 'submitted', 'accepted', 'returned')),
    evidence     jsonb NOT NULL DEFAULT '[]',
    history      jsonb NOT NULL DEFAULT '[]',
    submitted_at timestamptz,
    accepted_at  timestamptz,
    overdue_at   timestamptz,
    version      int  NOT NULL DEFAULT 1,
    UNIQUE (finding_id, seq)
);
CREATE INDEX rectification_tasks_village ON rectification_tasks (village, deadline);
CREATE INDEX rectification_tasks_due ON rectification_tasks (deadline) WHERE status IN ('open', 'returned') AND overdue_at IS NULL;

-- +goose Down
DROP TABLE rectification_tasks, findings, tour_villages, tours, villages;
