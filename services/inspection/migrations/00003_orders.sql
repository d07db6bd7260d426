-- +goose Up
-- Three-colour supervision orders (三色督查令) as issued, numbered from
-- notice_numbers (series '<town>/order'). Each counts in its village's
-- rating as the fact 'order:<town>:<number>'.
CREATE TABLE orders (
    number         text PRIMARY KEY,
    town           text NOT NULL,
    year           int  NOT NULL,
    seq            int  NOT NULL,
    colour         text NOT NULL CHECK (colour IN ('blue', 'yellow', 'red')),
    village        text NOT NULL,
    cadre_id       text NOT NULL DEFAULT '',
    status         text NOT NULL CHECK (status IN ('issued', 'responded', 'closed', 'overdue')),
    issued_at      timestamptz NOT NULL,
    deadline       timestamptz NOT NULL,
    escalated_to   text NOT NULL DEFAULT '',
    referred_at    timestamptz,
    issued_by      text NOT NULL,
    response       text NOT NULL DEFAULT '',
    doc            jsonb NOT NULL
);
CREATE INDEX orders_village ON orders (village, issued_at);
CREATE INDEX orders_due ON orders (deadline) WHERE status = 'issued' OR (status = 'overdue' AND escalated_to = '' AND referred_at IS NULL);

-- Interviews (约谈) of village cadres by the discipline office.
CREATE TABLE interviews (
    id           uuid PRIMARY KEY,
    town         text NOT NULL,
    village      text NOT NULL,
    cadre_id     text NOT NULL DEFAULT '',
    cadre_name   text NOT NULL,
    cadre_post   text NOT NULL DEFAULT '',
    held_at      timestamptz NOT NULL,
    interviewers jsonb NOT NULL,
    reason       text NOT NULL,
    outcome      text NOT NULL,
    order_number text NOT NULL DEFAULT '',
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX interviews_village ON interviews (village, held_at);

-- +goose Down
DROP TABLE interviews, orders;
