-- +goose Up
-- Trigram indexes make substring user search (R17) use an index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- +goose Down
DROP EXTENSION IF EXISTS pg_trgm;
