package db

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"sync"

	"entgo.io/ent/dialect"
	"github.com/pressly/goose/v3"

	"github.com/clinicemr/usermanager/internal/jobs"
)

// migrations are the versioned PostgreSQL migrations, generated from the ent
// schema by `go run ./internal/db/gen_migration.go <name>` (see generate.go).
//
//go:embed migrations/*.sql
var migrations embed.FS

// entSchemaMu serializes ent's automatic migration: it rewrites the
// generated table descriptions (package-level variables in ent/migrate) as it
// plans, so two migrations in one process would race on them.
var entSchemaMu sync.Mutex

// Migrate brings the schema up to date: versioned migrations on PostgreSQL,
// ent's automatic migration on the embedded SQLite file.
func (d *DB) Migrate(ctx context.Context) error {
	if d.Dialect == dialect.SQLite {
		entSchemaMu.Lock()
		err := d.Client.Schema.Create(ctx)
		entSchemaMu.Unlock()
		if err != nil {
			return fmt.Errorf("migrating SQLite schema: %w", err)
		}
		// The same hand-written index as the PostgreSQL migrations have.
		if _, err := d.SQL.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS user_clinics_clinic_id ON user_clinics (clinic_id)`); err != nil {
			return err
		}
		// ent's migration keeps indexes the schema no longer has: the user
		// list's sort is by last name and id now.
		if _, err := d.SQL.ExecContext(ctx, `DROP INDEX IF EXISTS user_organization_id_last_name_first_name`); err != nil {
			return err
		}
		// Nor the status in the type index (a status change updates no
		// index now).
		if _, err := d.SQL.ExecContext(ctx, `DROP INDEX IF EXISTS user_organization_id_user_type_status`); err != nil {
			return err
		}
		if _, err := d.SQL.ExecContext(ctx, sqliteUserListIndex); err != nil {
			return err
		}
		if err := d.migrateSQLiteSearch(ctx); err != nil {
			return err
		}
		if err := d.migrateSQLiteLicenseCounts(ctx); err != nil {
			return err
		}
		if err := d.migrateSQLiteAudit(ctx); err != nil {
			return err
		}
		if err := d.migrateJobs(ctx); err != nil {
			return err
		}
		return d.Optimize(ctx)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, d.SQL, mustSub(migrations, "migrations"))
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	for _, r := range results {
		slog.Debug("applied migration", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return d.migrateJobs(ctx)
}

// migrateJobs brings the job queue's tables (River's own migrations) up to
// date.
func (d *DB) migrateJobs(ctx context.Context) error {
	if err := jobs.Migrate(ctx, d.SQL, d.Dialect); err != nil {
		return fmt.Errorf("migrating the job queue: %w", err)
	}
	return nil
}

// CheckMigrated returns an error naming the fix when PostgreSQL migrations
// are pending, so serve refuses to run against an outdated schema.
func (d *DB) CheckMigrated(ctx context.Context) error {
	if d.Dialect == dialect.SQLite {
		return nil
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, d.SQL, mustSub(migrations, "migrations"))
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("reading the migration state: %w", err)
	}
	if !pending {
		if pending, err = jobs.Pending(ctx, d.SQL, d.Dialect); err != nil {
			return fmt.Errorf("reading the job queue's migration state: %w", err)
		}
	}
	if pending {
		return fmt.Errorf("the database schema is not up to date: run `usermanager migrate` (or set MIGRATE_ON_START=true)")
	}
	return nil
}
