-- +goose Up
-- ent has no index annotation for join tables: finding a clinic's users (the
-- clinic filter of the user search, R3) needs this one.
CREATE INDEX IF NOT EXISTS "user_clinics_clinic_id" ON "user_clinics" ("clinic_id");

-- +goose Down
DROP INDEX IF EXISTS "user_clinics_clinic_id";
