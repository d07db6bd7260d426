-- +goose Up
-- Tracking codes name the complaint's town (TS-NNN-XXXX-XXXX, NNN digits
-- 7-9 of the village code) so that the district gateway finds the town of a
-- follow-up in one lookup; codes issued before (TS-XXXX-XXXX) stay valid.
ALTER TABLE complaints DROP CONSTRAINT complaints_tracking_code_check;
ALTER TABLE complaints ADD CONSTRAINT complaints_tracking_code_check
    CHECK (tracking_code ~ '^TS-([0-9]{3}-)?[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$');

-- +goose Down
-- Only possible while no complaint has a code with the town part.
ALTER TABLE complaints DROP CONSTRAINT complaints_tracking_code_check;
ALTER TABLE complaints ADD CONSTRAINT complaints_tracking_code_check
    CHECK (tracking_code ~ '^TS-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$');
