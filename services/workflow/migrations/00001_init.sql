-- +goose Up
-- Villages this town's workflow knows, with the thresholds of their controls.
CREATE TABLE villages (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
    town        text NOT NULL,
    name        text NOT NULL DEFAULT '',
    representatives_resolution_above_yuan bigint NOT NULL DEFAULT 50000,
    town_approval_above_yuan              bigint NOT NULL DEFAULT 200000,
    archived_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per process instance. doc is the engine's document (steps,
-- evidence); the columns beside it are what queries filter on.
CREATE TABLE instances (
    id              uuid PRIMARY KEY,
    tracking_number text NOT NULL UNIQUE,
    town            text NOT NULL,
    village         text NOT NULL,
    item_id         text NOT NULL,
    status          text NOT NULL CHECK (status IN ('running', 'completed', 'withdrawn')),
    current_step    text,
    version         bigint NOT NULL,
    started_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    doc             jsonb NOT NULL
);
CREATE INDEX instances_village ON instances (village, status, started_at DESC);

CREATE TABLE warnings (
    id          uuid PRIMARY KEY,
    instance_id uuid NOT NULL REFERENCES instances (id),
    town        text NOT NULL,
    village     text NOT NULL,
    item_id     text NOT NULL,
    step_id     text NOT NULL,
    control_id  text NOT NULL DEFAULT '',
    rule        text NOT NULL,
    message     text NOT NULL,
    norm        text NOT NULL DEFAULT '',
    basis       text NOT NULL DEFAULT '',
    actor_id    text NOT NULL DEFAULT '',
    public      boolean NOT NULL,
    raised_at   timestamptz NOT NULL,
    -- A control warns once per visit of a step: a timer and a late
    -- completion do not both raise "overdue".
    visit       int NOT NULL DEFAULT 1,
    UNIQUE (instance_id, step_id, rule, control_id, visit)
);
CREATE INDEX warnings_village ON warnings (village, raised_at DESC);

-- Durable timers: due rows are claimed with FOR UPDATE SKIP LOCKED, so each
-- fires once however many replicas poll, and restarts lose none.
CREATE TABLE timers (
    id          bigserial PRIMARY KEY,
    instance_id uuid NOT NULL REFERENCES instances (id),
    step_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('reminder', 'escalation')),
    fire_at     timestamptz NOT NULL,
    fired_at    timestamptz,
    cancelled   boolean NOT NULL DEFAULT false,
    UNIQUE (instance_id, step_id, kind, fire_at)
);
CREATE INDEX timers_due ON timers (fire_at) WHERE fired_at IS NULL AND NOT cancelled;

-- The audit trail: append-only and hash-chained per instance.
CREATE TABLE audit (
    instance_id uuid NOT NULL REFERENCES instances (id),
    seq         bigint NOT NULL,
    at          timestamptz NOT NULL,
    actor_id    text NOT NULL,
    actor_role  text NOT NULL,
    action      text NOT NULL,
    data        text NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    PRIMARY KEY (instance_id, seq)
);

-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (% on instance %)', TG_OP, OLD.instance_id;
END $$;
-- +goose StatementEnd
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();

CREATE TABLE comments (
    id          uuid PRIMARY KEY,
    instance_id uuid NOT NULL REFERENCES instances (id),
    author_id   text NOT NULL,
    author_role text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX comments_instance ON comments (instance_id, created_at);

-- Recorded relatives of cadres (keyed hashes of ID numbers), for the
-- conflict-of-interest control. Fed by the discipline side.
CREATE TABLE relatives (
    village          text NOT NULL,
    cadre_id         text NOT NULL,
    relative_id_hash text NOT NULL,
    relation         text NOT NULL,
    recorded_by      text NOT NULL,
    recorded_at      timestamptz NOT NULL,
    PRIMARY KEY (village, cadre_id, relative_id_hash)
);

-- +goose Down
DROP TABLE relatives, comments, audit, timers, warnings, instances, villages;
DROP FUNCTION audit_append_only();
