-- +goose Up
-- Village names from the operator's tenant stream
-- (cn.wuxiao.tenant.village.registered.v1), for the report page: a reporter
-- sees which village the QR code they scanned is for. Only a later
-- generation of the Village object replaces a row, so replays and
-- reordering change nothing.
CREATE TABLE villages (
    code       text PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
    name       text NOT NULL CHECK (name <> ''),
    generation bigint NOT NULL CHECK (generation > 0)
);

-- +goose Down
DROP TABLE villages;
