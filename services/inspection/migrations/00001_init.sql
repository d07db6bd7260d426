-- +goose Up
-- Facts that count in villages' ratings: one row per event (its id is the
-- event's), so that a redelivered event is a no-op. Points are not stored:
-- a rating is always recomputed from the facts under the current rules.
CREATE TABLE facts (
    id       text PRIMARY KEY,
    village  text NOT NULL,
    town     text NOT NULL,
    kind     text NOT NULL,
    subkind  text NOT NULL DEFAULT '',
    at       timestamptz NOT NULL,
    ref      text NOT NULL DEFAULT '',
    note     text NOT NULL DEFAULT '',
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX facts_village_at ON facts (village, at);

-- The latest rating of each village and period. doc is the engine's Rating
-- (with its contributions), which the next change is compared with.
CREATE TABLE ratings (
    village     text NOT NULL,
    period      text NOT NULL,
    points      int  NOT NULL,
    grade       text NOT NULL CHECK (grade IN ('A', 'B', 'C', 'D')),
    computed_at timestamptz NOT NULL,
    doc         jsonb NOT NULL,
    PRIMARY KEY (village, period)
);

-- Every change of grade, with the facts that explain it.
CREATE TABLE grade_changes (
    id          uuid PRIMARY KEY,
    village     text NOT NULL,
    period      text NOT NULL,
    from_grade  text NOT NULL,
    to_grade    text NOT NULL,
    from_points int  NOT NULL,
    to_points   int  NOT NULL,
    at          timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    because     jsonb NOT NULL
);
CREATE INDEX grade_changes_village ON grade_changes (village, period, recorded_at);

-- Warning (预警) and rectification (整改) notices, as issued.
CREATE TABLE notices (
    number    text PRIMARY KEY,
    kind      text NOT NULL CHECK (kind IN ('warning', 'rectification')),
    village   text NOT NULL,
    town      text NOT NULL,
    period    text NOT NULL,
    issued_at timestamptz NOT NULL,
    grade     text NOT NULL,
    points    int  NOT NULL,
    deadline  timestamptz NOT NULL,
    change_id uuid NOT NULL REFERENCES grade_changes (id),
    doc       jsonb NOT NULL,
    html      text NOT NULL
);
CREATE INDEX notices_village ON notices (village, issued_at);

-- Document numbers: the next number of each series and year, locked by the
-- transaction that issues a document, so numbers have no gaps or repeats.
CREATE TABLE notice_numbers (
    series text NOT NULL,
    year   int  NOT NULL,
    next   int  NOT NULL CHECK (next > 0),
    PRIMARY KEY (series, year)
);

-- +goose Down
DROP TABLE notice_numbers, notices, grade_changes, ratings, facts;
