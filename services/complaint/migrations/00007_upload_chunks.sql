-- +goose Up
-- Files of the report page while their request is being read: each file
-- is streamed here in chunks as it arrives, so that the service never holds
-- a whole upload in memory, and moved into attachments (concatenated by the
-- database) in the complaint's own transaction. A request that ends without
-- a complaint deletes its chunks; the escalation job sweeps what a crashed
-- process left behind.
CREATE TABLE upload_chunks (
    upload_id  uuid NOT NULL,
    n          int NOT NULL CHECK (n >= 0),
    created_at timestamptz NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (upload_id, n)
);
CREATE INDEX upload_chunks_created ON upload_chunks (created_at);
-- Compressed formats: out of line, uncompressed, as attachments.content.
ALTER TABLE upload_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE upload_chunks;
