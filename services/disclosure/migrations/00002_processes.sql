-- +goose Up
-- Every write that changes what a village's portal pages show (an entry, a
-- payment, a process event) bumps its village's version in the same
-- transaction. Replicas key their rendered-page caches and ETags by it, so a
-- change made through any replica invalidates every replica's cache at once.
-- changed_at only ever moves forward by whole seconds, so Last-Modified (one
-- second resolution) differs between versions too.
ALTER TABLE villages
    ADD COLUMN version    bigint      NOT NULL DEFAULT 0,
    ADD COLUMN changed_at timestamptz NOT NULL DEFAULT date_trunc('second', now());

-- "Where is my process" (流程到哪了): a projection of the town's workflow
-- events. Every row is keyed by what the event carries (instance id, step
-- and completion time, warning id), so a redelivered event changes nothing.
CREATE TABLE processes (
    instance_id     text PRIMARY KEY,
    tracking_number text NOT NULL,
    village         text NOT NULL REFERENCES villages (code),
    item_id         text NOT NULL,
    item_name       text NOT NULL DEFAULT '',
    category        text NOT NULL DEFAULT '',
    catalog_version text NOT NULL DEFAULT '',
    title           text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'withdrawn')),
    -- current_step is the step the process waits on ('' before the first
    -- step.completed: the item's first step); last_step_at orders
    -- step.completed events that arrive out of order.
    current_step    text NOT NULL DEFAULT '',
    last_step_at    timestamptz,
    started_at      timestamptz,
    completed_at    timestamptz,
    withdrawn_at    timestamptz,
    withdraw_reason text NOT NULL DEFAULT ''
);
-- Tracking numbers are unique as the workflow issues them; the portal
-- looks one up within its village only.
CREATE INDEX processes_village_tracking ON processes (village, tracking_number);

-- A step may be done more than once (a rework loop sends the process back).
CREATE TABLE process_steps (
    instance_id  text NOT NULL REFERENCES processes (instance_id),
    step_id      text NOT NULL,
    step_name    text NOT NULL DEFAULT '',
    completed_at timestamptz NOT NULL,
    PRIMARY KEY (instance_id, step_id, completed_at)
);

-- Only warnings the control marks public are kept.
CREATE TABLE process_warnings (
    warning_id  text PRIMARY KEY,
    instance_id text NOT NULL REFERENCES processes (instance_id),
    step_id     text NOT NULL DEFAULT '',
    rule        text NOT NULL DEFAULT '',
    message     text NOT NULL,
    norm        text NOT NULL DEFAULT '',
    basis       text NOT NULL DEFAULT '',
    raised_at   timestamptz NOT NULL
);
CREATE INDEX process_warnings_instance ON process_warnings (instance_id);

-- +goose Down
DROP TABLE process_warnings, process_steps, processes;
ALTER TABLE villages DROP COLUMN changed_at, DROP COLUMN version;
