-- +goose Up
-- 流程到哪了 for villagers' applications (一跑): the workflow's application
-- events (cn.wuxiao.workflow.application.*), nothing personal. One row per
-- process; every event sets only its own columns, and the later of two
-- events of the same kind wins by the time the event carries, so
-- redeliveries and reordering converge to the same row.
CREATE TABLE applications (
    instance_id     text PRIMARY KEY REFERENCES processes (instance_id),
    village         text NOT NULL REFERENCES villages (code),
    -- channel: 'portal' (the villager) or 'on-behalf' (代办); '' until
    -- the filed event arrives.
    channel         text NOT NULL DEFAULT '',
    filed_at        timestamptz,
    -- The materials the cadre asked for, once: names only.
    missing         text[] NOT NULL DEFAULT '{}',
    requested_at    timestamptz,
    supplemented_at timestamptz,
    -- The latest appointment: a visit at appointment_at in
    -- appointment_place, or no visit needed.
    visit_needed    boolean NOT NULL DEFAULT false,
    appointment_at  timestamptz,
    appointment_place text NOT NULL DEFAULT '',
    appointment_recorded_at timestamptz
);
CREATE INDEX applications_village ON applications (village);

-- +goose Down
DROP TABLE applications;
