-- +goose Up
-- create index "user_real_license_per_organization" to table: "users"
CREATE UNIQUE INDEX "user_real_license_per_organization" ON "users" ("organization_id", "license_state", "license_number") WHERE ((license_number)::text <> '00000'::text);
-- create index "user_real_npi_per_organization" to table: "users"
CREATE UNIQUE INDEX "user_real_npi_per_organization" ON "users" ("organization_id", "npi") WHERE ((npi)::text <> '9999999995'::text);

-- +goose Down
-- reverse: create index "user_real_npi_per_organization" to table: "users"
DROP INDEX "user_real_npi_per_organization";
-- reverse: create index "user_real_license_per_organization" to table: "users"
DROP INDEX "user_real_license_per_organization";
