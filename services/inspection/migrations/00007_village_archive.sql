-- +goose Up
-- A village's lifecycle from the operator's tenant stream: the Village
-- object's uid (a recreated village with the same code is a new one), and
-- when it was archived (cn.wuxiao.tenant.village.archived.v1). An archived
-- village keeps every record but leaves the coverage universe, in the town
-- and in the district projection.
ALTER TABLE villages
    ADD COLUMN uid text NOT NULL DEFAULT '',
    ADD COLUMN archived_at timestamptz,
    ADD COLUMN archived_generation bigint;
ALTER TABLE district_villages ADD COLUMN archived_at timestamptz;

-- +goose Down
ALTER TABLE district_villages DROP COLUMN archived_at;
ALTER TABLE villages DROP COLUMN uid, DROP COLUMN archived_at, DROP COLUMN archived_generation;
