-- +goose Up
-- The bytes of uploaded files (applications' materials, evidence files),
-- in chunks of fileChunkSize (8000) bytes: one row fills one page, kept
-- in line and never compressed (STORAGE PLAIN; uploads are photos and
-- PDFs, compressed already). Written with COPY, a 1 MiB photo is 132 rows
-- logged a page at a time; as one bytea value it was 525 TOAST rows and
-- as many TOAST index entries, each inserted and logged on its own, which
-- cost PostgreSQL about 40% more CPU per application (file_chunks.go).
-- Written in the same transaction as the evidence_files row that names
-- the file (no foreign key: checking it for every chunk would cost what
-- the chunks save).
CREATE TABLE file_chunks (
    file_id uuid NOT NULL,
    n       integer NOT NULL CHECK (n >= 0),
    data    bytea NOT NULL,
    PRIMARY KEY (file_id, n)
);
ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE PLAIN;

-- Files stored before keep their bytes in evidence_files.data; a file
-- stored since has data NULL and its bytes in file_chunks.
ALTER TABLE evidence_files ALTER COLUMN data DROP NOT NULL;

-- +goose Down
UPDATE evidence_files e SET data = coalesce((SELECT string_agg(c.data, ''::bytea ORDER BY c.n) FROM file_chunks c WHERE c.file_id = e.id), ''::bytea)
    WHERE data IS NULL;
ALTER TABLE evidence_files ALTER COLUMN data SET NOT NULL;
DROP TABLE file_chunks;
