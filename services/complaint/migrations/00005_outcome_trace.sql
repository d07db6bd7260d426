-- +goose Up
-- The structured outcome of a resolution (属实, 部分属实, 不属实), which the
-- inspection service rates; NULL while unresolved and for complaints
-- resolved before the column existed (their summary is all there is).
ALTER TABLE complaints
    ADD COLUMN outcome text CHECK (outcome IN ('substantiated', 'partly-substantiated', 'unsubstantiated')),
    -- The W3C traceparent of the intake request: later transitions are
    -- traced as children of it, so a complaint's lifecycle is one trace.
    -- Only the trace and span ids and flags; nothing about the reporter.
    ADD COLUMN trace_parent text NOT NULL DEFAULT ''
        CHECK (trace_parent = '' OR trace_parent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');
ALTER TABLE transitions ADD COLUMN outcome text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE transitions DROP COLUMN outcome;
ALTER TABLE complaints DROP COLUMN outcome, DROP COLUMN trace_parent;
