-- +goose Up
-- From now on only keyed entries may be appended: an unkeyed one inserted
-- with the service's role (which may INSERT but, not owning the table,
-- cannot disable this trigger) is refused outright; one slipped in by the
-- table's owner is still reported by the verification (unkeyed after keyed).
-- +goose StatementBegin
CREATE FUNCTION audit_keyed_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.alg <> 'hmac-sha256' THEN
        RAISE EXCEPTION 'audit entries must be keyed (instance %, seq %, alg %)', NEW.instance_id, NEW.seq, NEW.alg
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER audit_keyed_only BEFORE INSERT ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_keyed_only();

-- +goose Down
DROP TRIGGER audit_keyed_only ON audit;
DROP FUNCTION audit_keyed_only();
