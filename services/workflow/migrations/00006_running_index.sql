-- +goose Up
-- The running processes, for the open and overdue step gauges read at every
-- metrics scrape (metrics.go): an index-only scan of the few running rows
-- instead of a scan of every process ever run.
CREATE INDEX instances_running ON instances (item_id, current_step, id) WHERE status = 'running';

-- +goose Down
DROP INDEX instances_running;
