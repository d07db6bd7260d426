-- +goose Up
-- Files uploaded with a complaint through the report page (码上举报), kept
-- in the database so that they are stored in the same transaction as the
-- complaint: a complaint is never saved without its files, and no file
-- without its complaint. The complaint's document lists them (name, type,
-- size, sha256) without the bytes; only staff who may see the complaint read
-- them back (GET /v1/complaints/{id}/attachments/{seq}).
CREATE TABLE attachments (
    complaint_id uuid NOT NULL REFERENCES complaints (id),
    seq          int NOT NULL CHECK (seq BETWEEN 1 AND 3),
    name         text NOT NULL CHECK (name <> ''),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    size         bigint NOT NULL CHECK (size BETWEEN 1 AND 5242880),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content      bytea NOT NULL,
    CHECK (octet_length(content) = size),
    PRIMARY KEY (complaint_id, seq)
);
-- JPEG, PNG and PDF are compressed already: store out of line, uncompressed.
ALTER TABLE attachments ALTER COLUMN content SET STORAGE EXTERNAL;

-- Audit of every staff read of an attachment.
CREATE TABLE attachment_reads (
    complaint_id uuid NOT NULL,
    seq          int NOT NULL,
    at           timestamptz NOT NULL,
    actor_id     text NOT NULL,
    actor_role   text NOT NULL,
    FOREIGN KEY (complaint_id, seq) REFERENCES attachments (complaint_id, seq)
);
CREATE INDEX attachment_reads_complaint ON attachment_reads (complaint_id, at);

-- +goose Down
DROP TABLE attachment_reads, attachments;
