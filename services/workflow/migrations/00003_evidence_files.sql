-- +goose Up
-- Evidence uploaded as files (not only linked): the bytes live here, with
-- the SHA-256 computed while they were received and the type sniffed from
-- their content. The instance's document lists the same evidence (id,
-- step, kind, name, sha256, size), so the controls see it like any other.
CREATE TABLE evidence_files (
    id           uuid PRIMARY KEY,
    instance_id  uuid NOT NULL REFERENCES instances (id),
    step_id      text NOT NULL,
    kind         text NOT NULL,
    name         text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    data         bytea NOT NULL
);
CREATE INDEX evidence_files_instance ON evidence_files (instance_id, uploaded_at);

-- +goose Down
DROP TABLE evidence_files;
