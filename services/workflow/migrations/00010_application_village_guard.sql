-- +goose Up
-- The guard of an application's transaction (application_villages.go):
-- the service remembers for a while whether a village is open and its
-- amount thresholds (the village's own when it is registered, else the
-- defaults), and builds the application's statements from that
-- before it takes a connection; the transaction, sent in one round trip,
-- begins with this check, which reads the registry as the transaction
-- sees it and fails it (SQLSTATE WXV01, nothing written) when it says
-- anything else. The service then reads the registry afresh and files the
-- application again.
-- +goose StatementBegin
CREATE FUNCTION application_village_unchanged(p_code text, p_known boolean, p_archived boolean, p_closed boolean,
    p_representatives bigint, p_town bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    k boolean;
    a boolean;
    c boolean;
    r bigint;
    t bigint;
BEGIN
    SELECT EXISTS (SELECT FROM villages WHERE code = p_code),
           EXISTS (SELECT FROM villages WHERE code = p_code AND archived_at IS NOT NULL),
           EXISTS (SELECT FROM villages WHERE generation > 0)
        INTO k, a, c;
    SELECT representatives_resolution_above_yuan, town_approval_above_yuan INTO r, t FROM villages WHERE code = p_code;
    IF k IS DISTINCT FROM p_known OR a IS DISTINCT FROM p_archived OR c IS DISTINCT FROM p_closed
        OR (k AND (r IS DISTINCT FROM p_representatives OR t IS DISTINCT FROM p_town)) THEN
        RAISE EXCEPTION 'village % changed since the service read it', p_code USING ERRCODE = 'WXV01';
    END IF;
    RETURN true;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION application_village_unchanged(text, boolean, boolean, boolean, bigint, bigint);
