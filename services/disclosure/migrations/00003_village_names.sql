-- +goose Up
-- Village names come from the operator's tenant stream
-- (cn.wuxiao.tenant.village.registered.v1), each at the generation of the
-- Village object it describes: events may arrive out of order or again, and
-- only a later generation may change the name.
ALTER TABLE villages ADD COLUMN name_generation bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE villages DROP COLUMN name_generation;
