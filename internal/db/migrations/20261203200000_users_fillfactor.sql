-- +goose Up
-- Room on each page of users for a new version of a row, so that a status
-- change (which no index covers) is written in place, a HOT update, with no
-- new index entries. Pages written from now on keep it.
ALTER TABLE "users" SET (fillfactor = 90);

-- +goose Down
ALTER TABLE "users" RESET (fillfactor);
