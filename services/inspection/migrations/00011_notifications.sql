-- +goose Up
-- Notifications (notify*.go). Each consumed event that concerns people is
-- one message (event_id unique: a redelivered event adds nothing),
-- addressed to roles of the town and, for village roles, of one village.
-- The console inbox reads them; reads are per identity. The delivery
-- worker fans each message out once (dispatched_at) to the district's
-- channels, one delivery per (message, channel, recipient), and sends
-- those with retries until sent or dead-lettered.
CREATE TABLE notify_messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      text        NOT NULL UNIQUE,
    event_type    text        NOT NULL,
    kind          text        NOT NULL,
    title         text        NOT NULL,
    body          text        NOT NULL,
    link          text        NOT NULL,
    roles         text[]      NOT NULL,
    town          text        NOT NULL,
    village       text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    dispatched_at timestamptz
);
CREATE INDEX notify_messages_roles ON notify_messages USING gin (roles);
CREATE INDEX notify_messages_undispatched ON notify_messages (id) WHERE dispatched_at IS NULL;

CREATE TABLE notify_reads (
    message_id  bigint      NOT NULL REFERENCES notify_messages (id) ON DELETE CASCADE,
    identity_id text        NOT NULL,
    read_at     timestamptz NOT NULL,
    PRIMARY KEY (identity_id, message_id)
);

CREATE TABLE notify_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      bigint      NOT NULL REFERENCES notify_messages (id) ON DELETE CASCADE,
    channel         text        NOT NULL,
    channel_type    text        NOT NULL,
    recipient       text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    UNIQUE (message_id, channel, recipient)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at) WHERE state = 'pending';

-- +goose Down
DROP TABLE notify_deliveries;
DROP TABLE notify_reads;
DROP TABLE notify_messages;
