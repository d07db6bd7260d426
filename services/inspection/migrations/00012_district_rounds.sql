-- +goose Up
-- The district's discipline staff run inspection rounds and orders in the
-- towns they cover, as the town's office does: every record says which
-- role made it (town-discipline or district-discipline). Rows from before
-- were all the town office's.
ALTER TABLE tours ADD COLUMN created_by_role text NOT NULL DEFAULT 'town-discipline';
ALTER TABLE tours ALTER COLUMN created_by_role DROP DEFAULT;
ALTER TABLE tour_villages ADD COLUMN visited_by_role text NOT NULL DEFAULT '';
UPDATE tour_villages SET visited_by_role = 'town-discipline' WHERE visited_on IS NOT NULL;
ALTER TABLE findings ADD COLUMN raised_by_role text NOT NULL DEFAULT 'town-discipline';
ALTER TABLE findings ALTER COLUMN raised_by_role DROP DEFAULT;
ALTER TABLE orders ADD COLUMN issued_by_role text NOT NULL DEFAULT '';
UPDATE orders SET issued_by_role = 'town-discipline' WHERE issued_by NOT LIKE 'system:%';
ALTER TABLE interviews ADD COLUMN recorded_by_role text NOT NULL DEFAULT 'town-discipline';
ALTER TABLE interviews ALTER COLUMN recorded_by_role DROP DEFAULT;

-- An order's issue is a step of its record too (who issued it, in which
-- role), like a notice's signature.
ALTER TABLE supervision_steps DROP CONSTRAINT supervision_steps_action_check;
ALTER TABLE supervision_steps ADD CONSTRAINT supervision_steps_action_check
    CHECK (action IN ('drafted', 'signed', 'issued', 'dismissed', 'answered', 'accepted', 'returned', 'escalated'));

-- A returned answer is due again by a new day (answer_due), counted from
-- the return; the document keeps the deadline it was issued with
-- (deadline). Escalation watches the later of the two: the answer awaited.
-- It escalates once per deadline: a return after an escalation sets a new
-- answer_due beyond escalated_at, which arms it again.
ALTER TABLE notices ADD COLUMN answer_due timestamptz;
ALTER TABLE orders ADD COLUMN answer_due timestamptz;
DROP INDEX notices_due;
CREATE INDEX notices_due ON notices ((coalesce(answer_due, deadline))) WHERE status IN ('issued', 'returned');
DROP INDEX orders_due;
CREATE INDEX orders_due ON orders ((coalesce(answer_due, deadline))) WHERE status = 'issued' OR (status = 'overdue' AND escalated_to = '' AND referred_at IS NULL);

-- +goose Down
DROP INDEX orders_due;
CREATE INDEX orders_due ON orders (deadline) WHERE status = 'issued' OR (status = 'overdue' AND escalated_to = '' AND referred_at IS NULL);
DROP INDEX notices_due;
CREATE INDEX notices_due ON notices (deadline) WHERE status IN ('issued', 'returned') AND escalated_at IS NULL;
ALTER TABLE orders DROP COLUMN answer_due;
ALTER TABLE notices DROP COLUMN answer_due;
ALTER TABLE supervision_steps DROP CONSTRAINT supervision_steps_action_check;
-- Steps are append-only: the orders' 'issued' steps stay (NOT VALID).
ALTER TABLE supervision_steps ADD CONSTRAINT supervision_steps_action_check
    CHECK (action IN ('drafted', 'signed', 'dismissed', 'answered', 'accepted', 'returned', 'escalated')) NOT VALID;
ALTER TABLE interviews DROP COLUMN recorded_by_role;
ALTER TABLE orders DROP COLUMN issued_by_role;
ALTER TABLE findings DROP COLUMN raised_by_role;
ALTER TABLE tour_villages DROP COLUMN visited_by_role;
ALTER TABLE tours DROP COLUMN created_by_role;
