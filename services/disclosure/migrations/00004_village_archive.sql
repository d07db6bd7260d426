-- +goose Up
-- A village's lifecycle from the operator's tenant stream: the Village
-- object's uid (a recreated village with the same code is a new one), and
-- when it was archived (cn.wuxiao.tenant.village.archived.v1). An archived
-- village's public records stay visible; its portal says it is archived.
ALTER TABLE villages
    ADD COLUMN uid text NOT NULL DEFAULT '',
    ADD COLUMN archived_at timestamptz,
    ADD COLUMN archived_generation bigint;

-- +goose Down
ALTER TABLE villages DROP COLUMN uid, DROP COLUMN archived_at, DROP COLUMN archived_generation;
