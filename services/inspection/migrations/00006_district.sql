-- +goose Up
-- The operator's village registry: a village announced on the town's tenant
-- stream (cn.wuxiao.tenant.village.registered.v1) has its generation set;
-- only a later generation replaces its name and kind. Once the operator has
-- announced any village of the town, the announced villages are the town's
-- registry (coverage universe, and the villages files, findings, orders,
-- interviews and tours may name).
ALTER TABLE villages
    ADD COLUMN kind text NOT NULL DEFAULT '',
    ADD COLUMN generation bigint CHECK (generation > 0),
    ADD COLUMN announced_at timestamptz;
CREATE INDEX villages_announced ON villages (town) WHERE generation IS NOT NULL;

-- District projection: every town's tenant and inspection streams, so each
-- instance can show the whole district. Rows are keyed by what they count
-- (village, order number, interview id, tour and village), so a redelivered
-- or republished event changes nothing.
CREATE TABLE district_villages (
    town       text   NOT NULL,
    code       text   NOT NULL CHECK (code ~ '^[0-9]{12}$'),
    name       text   NOT NULL,
    kind       text   NOT NULL DEFAULT '',
    generation bigint NOT NULL,
    PRIMARY KEY (town, code)
);

-- Latest grade per village and period (from rating.changed; points are
-- those of the last change of grade).
CREATE TABLE district_grades (
    town    text        NOT NULL,
    village text        NOT NULL,
    period  text        NOT NULL,
    grade   text        NOT NULL,
    points  int         NOT NULL,
    at      timestamptz NOT NULL,
    PRIMARY KEY (town, village, period)
);

-- Visits of tours (from visit.recorded): the latest day recorded per tour
-- and village.
CREATE TABLE district_visits (
    town       text        NOT NULL,
    tour_id    text        NOT NULL,
    village    text        NOT NULL,
    visited_on date        NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (town, tour_id, village)
);
CREATE INDEX district_visits_village ON district_visits (town, village, visited_on);

CREATE TABLE district_orders (
    town      text        NOT NULL,
    number    text        NOT NULL,
    village   text        NOT NULL,
    colour    text        NOT NULL,
    year      int         NOT NULL,
    issued_at timestamptz NOT NULL,
    PRIMARY KEY (town, number)
);

CREATE TABLE district_interviews (
    town    text        NOT NULL,
    id      text        NOT NULL,
    village text        NOT NULL,
    held_at timestamptz NOT NULL,
    PRIMARY KEY (town, id)
);

-- +goose Down
DROP TABLE district_interviews, district_orders, district_visits, district_grades, district_villages;
DROP INDEX villages_announced;
ALTER TABLE villages DROP COLUMN announced_at, DROP COLUMN generation, DROP COLUMN kind;
