-- +goose Up
-- Register of deceased persons, maintained or imported (CSV) by discipline
-- staff: the ID number as keyed hash and masked form only.
CREATE TABLE deceased_persons (
    id_hash     text PRIMARY KEY,
    id_masked   text NOT NULL,
    name_masked text NOT NULL,
    died_on     date NOT NULL,
    source      text NOT NULL,
    recorded_at timestamptz NOT NULL,
    recorded_by text NOT NULL
);

-- Subsidy payments learnt from the disclosure stream (one row per payment,
-- whichever event announced it first).
CREATE TABLE subsidy_payments (
    payment_id  text PRIMARY KEY,
    event_id    text NOT NULL,
    village     text NOT NULL,
    programme   text NOT NULL,
    name_masked text NOT NULL,
    id_hash     text NOT NULL,
    amount_fen  bigint NOT NULL,
    paid_on     date NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX subsidy_payments_hash ON subsidy_payments (id_hash);

-- What the cross-checks found: at most one flag per payment and kind.
CREATE TABLE crosscheck_flags (
    id          uuid PRIMARY KEY,
    payment_id  text NOT NULL REFERENCES subsidy_payments (payment_id),
    kind        text NOT NULL CHECK (kind IN ('payee-relative', 'payee-deceased')),
    village     text NOT NULL,
    fact_id     text NOT NULL,
    detail      jsonb NOT NULL,
    flagged_at  timestamptz NOT NULL,
    UNIQUE (payment_id, kind)
);
CREATE INDEX crosscheck_flags_village ON crosscheck_flags (village, flagged_at);

-- +goose Down
DROP TABLE crosscheck_flags, subsidy_payments, deceased_persons;
