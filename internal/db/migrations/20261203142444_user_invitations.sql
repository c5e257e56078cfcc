-- +goose Up
-- modify "users" table
ALTER TABLE "users" ADD COLUMN "password_set" boolean NOT NULL DEFAULT true;

-- +goose Down
-- reverse: modify "users" table
ALTER TABLE "users" DROP COLUMN "password_set";
