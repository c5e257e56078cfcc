-- +goose Up
-- The user list's default sort (last name, then id) is read in order from an
-- index instead of being sorted.
CREATE INDEX "user_organization_id_last_name_id" ON "users" ("organization_id", "last_name", "id");
DROP INDEX IF EXISTS "user_organization_id_last_name_first_name";
-- Username and email fragments are found through trigram indexes, as name
-- fragments are through user_search_text.
CREATE INDEX IF NOT EXISTS "user_username_key_trgm" ON "users" USING gin ("username_key" gin_trgm_ops);
CREATE INDEX IF NOT EXISTS "user_email_key_trgm" ON "users" USING gin ("email_key" gin_trgm_ops);

-- +goose Down
DROP INDEX IF EXISTS "user_email_key_trgm";
DROP INDEX IF EXISTS "user_username_key_trgm";
CREATE INDEX IF NOT EXISTS "user_organization_id_last_name_first_name" ON "users" ("organization_id", "last_name", "first_name");
DROP INDEX "user_organization_id_last_name_id";
