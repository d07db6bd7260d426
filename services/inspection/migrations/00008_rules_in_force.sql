-- +goose Up
-- The hash of the rating rules the stored ratings were computed with: a
-- service starting with other rules re-grades the period's villages.
CREATE TABLE rules_in_force (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    hash       text NOT NULL,
    applied_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE rules_in_force;
