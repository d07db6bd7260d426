-- +goose Up
-- Villagers' applications (一跑): the process they opened is the instance;
-- this row holds what only the applicant and the village's cadres may
-- see. The ID number is kept only as a keyed hash, the private access code
-- (needed to supplement materials) only as a keyed hash too. The files
-- the applicant provided are evidence files of the instance's first step.
CREATE TABLE applications (
    instance_id       uuid PRIMARY KEY REFERENCES instances (id),
    village           text NOT NULL,
    item_id           text NOT NULL,
    applicant_id_hash text NOT NULL,
    access_code_hash  text NOT NULL,
    on_behalf         boolean NOT NULL,
    filed_by          text NOT NULL,
    filed_at          timestamptz NOT NULL,
    -- Set once: "run at most once" means the cadre asks for everything
    -- missing in one request.
    materials_requested_at timestamptz,
    doc               jsonb NOT NULL
);
CREATE INDEX applications_village ON applications (village, filed_at DESC);

-- Uploaded files are photos and PDFs, compressed already: PostgreSQL's
-- attempt to compress each (pglz) cost 30-40 ms per MiB for nothing.
-- EXTERNAL keeps them out of line, uncompressed (new rows only).
ALTER TABLE evidence_files ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
ALTER TABLE evidence_files ALTER COLUMN data SET STORAGE EXTENDED;
DROP TABLE applications;
