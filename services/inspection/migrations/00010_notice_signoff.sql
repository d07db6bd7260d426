-- +goose Up
-- Notices with a sign-off and a reply. A change of grade now drafts a
-- notice (no number, no date of issue, no deadline); the town's discipline
-- office signs it, which numbers, dates and issues it, or dismisses it with
-- a reason. The village answers an issued notice with a rectification
-- report and evidence; the office accepts the answer or returns it (the
-- village answers again). A notice unanswered past its deadline is
-- escalated once. Notices issued before this migration stay issued.
ALTER TABLE notices DROP CONSTRAINT notices_pkey;
ALTER TABLE notices ADD COLUMN id uuid;
UPDATE notices SET id = gen_random_uuid();
ALTER TABLE notices ALTER COLUMN id SET NOT NULL;
ALTER TABLE notices ADD PRIMARY KEY (id);
ALTER TABLE notices ALTER COLUMN number DROP NOT NULL;
ALTER TABLE notices ADD CONSTRAINT notices_number_key UNIQUE (number);
ALTER TABLE notices ALTER COLUMN issued_at DROP NOT NULL;
ALTER TABLE notices ALTER COLUMN deadline DROP NOT NULL;
ALTER TABLE notices ADD COLUMN status text NOT NULL DEFAULT 'issued'
    CHECK (status IN ('draft', 'issued', 'dismissed', 'answered', 'returned', 'accepted'));
ALTER TABLE notices ALTER COLUMN status DROP DEFAULT;
ALTER TABLE notices ADD COLUMN drafted_at timestamptz;
UPDATE notices SET drafted_at = issued_at;
ALTER TABLE notices ALTER COLUMN drafted_at SET NOT NULL;
ALTER TABLE notices ADD COLUMN escalated_at timestamptz;
-- An issued notice has its number, date and deadline; a draft or a
-- dismissed one has no number (numbers are given at signing, so that a
-- dismissed draft leaves no gap in the series).
ALTER TABLE notices ADD CONSTRAINT notices_numbered CHECK (
    (status IN ('draft', 'dismissed') AND number IS NULL)
    OR (status NOT IN ('draft', 'dismissed') AND number IS NOT NULL AND issued_at IS NOT NULL AND deadline IS NOT NULL));
CREATE INDEX notices_status ON notices (town, status, drafted_at);
CREATE INDEX notices_due ON notices (deadline) WHERE status IN ('issued', 'returned') AND escalated_at IS NULL;

-- Every step of a notice or a supervision order, append-only (the
-- integrity audit's trigger): who drafted, signed, dismissed (why),
-- answered (the report and its evidence), accepted, returned (why),
-- escalated, and when. doc_kind says which table doc_ref points into:
-- a notice's id or an order's number.
CREATE TABLE supervision_steps (
    seq         bigserial PRIMARY KEY,
    doc_kind    text NOT NULL CHECK (doc_kind IN ('notice', 'order')),
    doc_ref     text NOT NULL,
    town        text NOT NULL,
    village     text NOT NULL,
    at          timestamptz NOT NULL,
    action      text NOT NULL CHECK (action IN ('drafted', 'signed', 'dismissed', 'answered', 'accepted', 'returned', 'escalated')),
    actor_id    text NOT NULL DEFAULT '',
    actor_email text NOT NULL DEFAULT '',
    role        text NOT NULL DEFAULT '',
    note        text NOT NULL DEFAULT '',
    evidence    jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX supervision_steps_doc ON supervision_steps (doc_kind, doc_ref, seq);
CREATE TRIGGER supervision_steps_append_only BEFORE UPDATE OR DELETE ON supervision_steps
    FOR EACH ROW EXECUTE FUNCTION integrity_append_only();

-- Evidence files of an answer (photos, scanned documents), their metadata
-- removed before they are stored (services/internal/media). Append-only.
CREATE TABLE supervision_files (
    id           uuid PRIMARY KEY,
    doc_kind     text NOT NULL CHECK (doc_kind IN ('notice', 'order')),
    doc_ref      text NOT NULL,
    town         text NOT NULL,
    village      text NOT NULL,
    name         text NOT NULL,
    content_type text NOT NULL,
    size         int  NOT NULL CHECK (size > 0),
    sha256       text NOT NULL,
    data         bytea NOT NULL,
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL
);
CREATE INDEX supervision_files_doc ON supervision_files (doc_kind, doc_ref);
CREATE TRIGGER supervision_files_append_only BEFORE UPDATE OR DELETE ON supervision_files
    FOR EACH ROW EXECUTE FUNCTION integrity_append_only();

-- +goose Down
DROP TABLE supervision_files, supervision_steps;
DELETE FROM notices WHERE number IS NULL;
DROP INDEX notices_due;
DROP INDEX notices_status;
ALTER TABLE notices DROP CONSTRAINT notices_numbered;
ALTER TABLE notices DROP COLUMN escalated_at, DROP COLUMN drafted_at, DROP COLUMN status;
ALTER TABLE notices ALTER COLUMN deadline SET NOT NULL;
ALTER TABLE notices ALTER COLUMN issued_at SET NOT NULL;
ALTER TABLE notices DROP CONSTRAINT notices_number_key;
ALTER TABLE notices DROP CONSTRAINT notices_pkey;
ALTER TABLE notices DROP COLUMN id;
ALTER TABLE notices ADD PRIMARY KEY (number);
