-- +goose Up
-- Villages from the operator's tenant stream: the generation and uid of the
-- Village object last applied (later generations win; a new uid is a
-- recreated village), and the generation of its archival. archived_at
-- (00001) marks an archived village: its processes stay, no new one starts.
ALTER TABLE villages
    ADD COLUMN generation bigint NOT NULL DEFAULT 0,
    ADD COLUMN uid text NOT NULL DEFAULT '',
    ADD COLUMN archived_generation bigint;

-- +goose Down
ALTER TABLE villages DROP COLUMN generation, DROP COLUMN uid, DROP COLUMN archived_generation;
