-- +goose Up
-- One row per complaint. doc is the domain document WITHOUT the reporter;
-- the reporter's identity lives in its own columns, read only to build a
-- discipline view. Only a SHA-256 hash of the follow-up secret is kept.
CREATE TABLE complaints (
    id             uuid PRIMARY KEY,
    tracking_code  text NOT NULL UNIQUE CHECK (tracking_code ~ '^TS-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$'),
    town           text NOT NULL,
    village        text NOT NULL CHECK (village ~ '^[0-9]{12}$'),
    category       text NOT NULL CHECK (category IN ('funds', 'project', 'subsidy', 'cadre-conduct', 'service')),
    status         text NOT NULL CHECK (status IN ('received', 'accepted', 'rejected', 'investigating', 'resolved', 'closed')),
    filed_at       timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    due_at         timestamptz,
    version        bigint NOT NULL,
    secret_hash    text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
    reporter_id    text,
    reporter_name  text,
    reporter_phone text,
    doc            jsonb NOT NULL CHECK (NOT doc ? 'reporter')
);
CREATE INDEX complaints_village ON complaints (village, filed_at DESC);
CREATE INDEX complaints_due ON complaints (due_at) WHERE status IN ('received', 'accepted', 'investigating');

CREATE TABLE status_notes (
    complaint_id uuid NOT NULL REFERENCES complaints (id),
    seq          int NOT NULL,
    at           timestamptz NOT NULL,
    author_id    text NOT NULL,
    author_role  text NOT NULL,
    body         text NOT NULL,
    public       boolean NOT NULL,
    PRIMARY KEY (complaint_id, seq)
);

-- Audit of every action applied to a complaint (the reporter's feedback is
-- recorded under the actor id "reporter").
CREATE TABLE transitions (
    complaint_id uuid NOT NULL REFERENCES complaints (id),
    seq          int NOT NULL,
    at           timestamptz NOT NULL,
    actor_id     text NOT NULL,
    actor_role   text NOT NULL,
    action       text NOT NULL,
    from_status  text NOT NULL,
    to_status    text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    PRIMARY KEY (complaint_id, seq)
);

-- +goose Down
DROP TABLE transitions, status_notes, complaints;
