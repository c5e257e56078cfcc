-- +goose Up
-- create index "user_organization_id_user_type" to table: "users"
CREATE INDEX "user_organization_id_user_type" ON "users" ("organization_id", "user_type");
-- drop index "user_organization_id_user_type_status": with the status in an
-- index no status change could be a HOT update (ent/schema/user.go)
DROP INDEX "user_organization_id_user_type_status";

-- +goose Down
CREATE INDEX "user_organization_id_user_type_status" ON "users" ("organization_id", "user_type", "status");
-- reverse: create index "user_organization_id_user_type" to table: "users"
DROP INDEX "user_organization_id_user_type";
