-- +goose Up
-- Cadre integrity files (廉情档案). Readable and writable by discipline
-- staff only (see integrity.go); nothing here is ever updated in place
-- except a relative's removal stamp: sections are appended as new versions,
-- and every read and write leaves a row in integrity_audit.
CREATE TABLE integrity_files (
    id              uuid PRIMARY KEY,
    town            text NOT NULL,
    village         text NOT NULL,
    cadre_name      text NOT NULL,
    -- The cadre's post, e.g. 村党组织书记, 村委会主任.
    cadre_post      text NOT NULL DEFAULT '',
    -- The cadre's resident ID number, as keyed hash and masked form only.
    cadre_id_hash   text NOT NULL DEFAULT '',
    cadre_id_masked text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    created_by      text NOT NULL
);
CREATE INDEX integrity_files_village ON integrity_files (town, village);

-- Sections of a file (履历, 婚姻状况, 宅基地 …), one row per version:
-- writing a section appends version n+1, the history stays.
CREATE TABLE integrity_sections (
    file_id     uuid NOT NULL REFERENCES integrity_files (id),
    section     text NOT NULL,
    version     int  NOT NULL CHECK (version > 0),
    content     jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    recorded_by text NOT NULL,
    recorded_role text NOT NULL,
    PRIMARY KEY (file_id, section, version)
);

-- A cadre's relatives, for the cross-checks: the ID number is kept only as
-- keyed hash (comparable with payees' hashes) and masked form.
CREATE TABLE integrity_relatives (
    id          uuid PRIMARY KEY,
    file_id     uuid NOT NULL REFERENCES integrity_files (id),
    name        text NOT NULL,
    relation    text NOT NULL,
    id_hash     text NOT NULL,
    id_masked   text NOT NULL,
    recorded_at timestamptz NOT NULL,
    recorded_by text NOT NULL,
    removed_at  timestamptz,
    removed_by  text
);
CREATE INDEX integrity_relatives_hash ON integrity_relatives (id_hash) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX integrity_relatives_once ON integrity_relatives (file_id, id_hash) WHERE removed_at IS NULL;

-- Selection checks (负面清零) made against the negative list.
CREATE TABLE selection_checks (
    id          uuid PRIMARY KEY,
    file_id     uuid NOT NULL REFERENCES integrity_files (id),
    list_version text NOT NULL,
    eligible    boolean NOT NULL,
    result      jsonb NOT NULL,
    checked_at  timestamptz NOT NULL,
    checked_by  text NOT NULL
);
CREATE INDEX selection_checks_file ON selection_checks (file_id, checked_at);

-- Who read or wrote what, when. Append-only: the trigger below refuses
-- updates and deletes, so that not even the service can rewrite it.
CREATE TABLE integrity_audit (
    seq       bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor_id  text NOT NULL,
    actor_email text NOT NULL DEFAULT '',
    role      text NOT NULL,
    actor_town text NOT NULL DEFAULT '',
    action    text NOT NULL,
    file_id   uuid,
    village   text NOT NULL DEFAULT '',
    sections  text[] NOT NULL DEFAULT '{}',
    allowed   boolean NOT NULL,
    detail    text NOT NULL DEFAULT ''
);
CREATE INDEX integrity_audit_file ON integrity_audit (file_id, seq);

-- +goose StatementBegin
CREATE FUNCTION integrity_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER integrity_audit_append_only BEFORE UPDATE OR DELETE ON integrity_audit
    FOR EACH ROW EXECUTE FUNCTION integrity_append_only();
CREATE TRIGGER integrity_sections_append_only BEFORE UPDATE OR DELETE ON integrity_sections
    FOR EACH ROW EXECUTE FUNCTION integrity_append_only();
CREATE TRIGGER selection_checks_append_only BEFORE UPDATE OR DELETE ON selection_checks
    FOR EACH ROW EXECUTE FUNCTION integrity_append_only();

-- +goose Down
DROP TABLE integrity_audit, selection_checks, integrity_relatives, integrity_sections, integrity_files;
DROP FUNCTION integrity_append_only();
