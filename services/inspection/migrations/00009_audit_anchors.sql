-- +goose Up
-- Anchors of the workflow's audit chain (eventsv1.AuditAnchored), kept
-- here, outside the workflow's reach: the seq and hash of every entry as it
-- was written. Insert-only: a second, different hash for one entry is kept
-- beside the first as evidence of tampering, never in its place.
CREATE TABLE audit_anchors (
    instance_id     uuid NOT NULL,
    seq             bigint NOT NULL CHECK (seq > 0),
    hash            text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    alg             text NOT NULL,
    village         text NOT NULL,
    tracking_number text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL,
    event_id        text NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, seq, hash)
);
CREATE INDEX audit_anchors_village ON audit_anchors (village, instance_id);

CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION integrity_append_only();

-- +goose Down
DROP TABLE audit_anchors;
