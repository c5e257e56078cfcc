package db

// Regenerate the PostgreSQL migrations after changing ent/schema:
//   go run -mod=mod ./internal/db/gen_migration.go <name>
// It starts a throwaway PostgreSQL server (internal/pgtemp) as Atlas's dev
// database and writes a goose migration with the difference between the
// migrations so far and the ent schema.
