-- +goose Up
-- Villages this town's disclosure knows. Each row is also the lock that
-- serialises the numbering of the village's entries: a writer locks it
-- (SELECT ... FOR UPDATE) before reading the last seq.
CREATE TABLE villages (
    code text PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
    town text NOT NULL,
    name text NOT NULL DEFAULT ''
);

-- "Our Wallet": immutable, numbered per village without gaps. A mistake is
-- corrected by a reversing entry, never by UPDATE or DELETE.
CREATE TABLE ledger_entries (
    id              uuid PRIMARY KEY,
    village         text NOT NULL REFERENCES villages (code),
    seq             bigint NOT NULL CHECK (seq > 0),
    kind            text NOT NULL CHECK (kind IN ('income', 'spending')),
    category        text NOT NULL,
    amount_fen      bigint NOT NULL CHECK (amount_fen > 0),
    entry_date      date NOT NULL,
    description     text NOT NULL,
    counterparty    text NOT NULL DEFAULT '',
    instance_id     text NOT NULL DEFAULT '',
    tracking_number text NOT NULL DEFAULT '',
    reverses        uuid REFERENCES ledger_entries (id),
    reason          text NOT NULL DEFAULT '',
    recorded_by     text NOT NULL,
    recorded_at     timestamptz NOT NULL,
    UNIQUE (village, seq)
);
CREATE INDEX ledger_entries_village_date ON ledger_entries (village, entry_date);
CREATE INDEX ledger_entries_tracking ON ledger_entries (tracking_number) WHERE tracking_number <> '';
-- An entry is reversed at most once.
CREATE UNIQUE INDEX ledger_entries_reverses ON ledger_entries (reverses) WHERE reverses IS NOT NULL;

-- "Where did the subsidies go": payments to households. The ID number
-- itself is never stored: only its keyed hash and the masked parts.
CREATE TABLE subsidy_payments (
    id             uuid PRIMARY KEY,
    village        text NOT NULL REFERENCES villages (code),
    programme      text NOT NULL,
    household_name text NOT NULL,
    id_hash        text NOT NULL CHECK (id_hash ~ '^[0-9a-f]{64}$'),
    id_prefix      text NOT NULL CHECK (id_prefix ~ '^[1-9][0-9]{5}$'),
    id_last4       text NOT NULL CHECK (id_last4 ~ '^[0-9]{3}[0-9X]$'),
    amount_fen     bigint NOT NULL CHECK (amount_fen > 0),
    paid_on        date NOT NULL,
    reverses       uuid REFERENCES subsidy_payments (id),
    reason         text NOT NULL DEFAULT '',
    recorded_by    text NOT NULL,
    recorded_at    timestamptz NOT NULL
);
CREATE INDEX subsidy_payments_village_paid ON subsidy_payments (village, paid_on);
CREATE UNIQUE INDEX subsidy_payments_reverses ON subsidy_payments (reverses) WHERE reverses IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION disclosure_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable (% of %): correct them with a reversing record', TG_TABLE_NAME, TG_OP, OLD.id;
END $$;
-- +goose StatementEnd
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION disclosure_immutable();
CREATE TRIGGER subsidy_payments_immutable BEFORE UPDATE OR DELETE ON subsidy_payments
    FOR EACH ROW EXECUTE FUNCTION disclosure_immutable();

-- +goose Down
DROP TABLE subsidy_payments, ledger_entries, villages;
DROP FUNCTION disclosure_immutable();
