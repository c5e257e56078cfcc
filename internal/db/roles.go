package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"
)

// The audit trail (R31) is append-only even against the server: on
// PostgreSQL, `usermanager migrate` runs as the role that owns the schema,
// and `serve` runs as an application role that is granted only what it
// needs. Owning a table is what lets a role TRUNCATE it, disable or drop its
// triggers and replace their functions, so the application role owns
// nothing, and on audit_events and its hash chain (audit_seals) it may only
// INSERT and SELECT.

// Tables the application role reads but never writes: the records of which
// migrations ran (serve checks them before it starts, and only migrate,
// as the owner, writes them).
var readOnlyTables = []string{"goose_db_version", "river_migration"}

// appendOnlyTables are the tables whose rows are never changed or removed:
// the audit trail and the hash chain that seals it.
var appendOnlyTables = []string{"audit_events", "audit_seals"}

// GrantAppRole creates the PostgreSQL role serve runs as, unless it exists
// (as LOGIN without a password: the operator gives it one, or creates the
// role beforehand as they wish), and sets its privileges in the current
// schema to exactly what the server needs:
//
//   - USAGE on the schema;
//   - SELECT, INSERT, UPDATE, DELETE on every table (the product's and River's
//     job queue), except SELECT and INSERT only on audit_events and
//     audit_seals, and SELECT
//     only on the migration version tables (goose_db_version,
//     river_migration); never TRUNCATE, REFERENCES or TRIGGER;
//   - USAGE and SELECT on the sequences (nextval; not setval);
//   - EXECUTE on the functions;
//   - the same by default on tables, sequences and functions that later
//     migrations create (ALTER DEFAULT PRIVILEGES).
//
// It must run as the owner of the schema's objects, after the migrations
// (Migrate). Running it again re-grants from scratch, so it is idempotent
// and also takes back privileges granted by hand since. It refuses a role
// that could undo the protection: the owner itself or a member of it, a
// superuser, or a role with CREATEROLE (which on PostgreSQL 15 may make
// itself a member of the owner).
func (d *DB) GrantAppRole(ctx context.Context, role string) error {
	if d.Dialect != dialect.Postgres {
		return errors.New("an application role is for PostgreSQL: the embedded database has no roles")
	}
	if role == "" {
		return errors.New("no application role named")
	}
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := createRoleIfMissing(ctx, tx, role); err != nil {
		return err
	}
	if err := checkAppRoleIsPowerless(ctx, tx, role); err != nil {
		return err
	}
	var schema string
	if err := tx.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	app, in := pq.QuoteIdentifier(role), pq.QuoteIdentifier(schema)
	stmts := []string{
		`GRANT USAGE ON SCHEMA ` + in + ` TO ` + app,
		// Start from nothing, so that what a re-run leaves is exactly this.
		`REVOKE ALL ON ALL TABLES IN SCHEMA ` + in + ` FROM ` + app,
		`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ` + in + ` FROM ` + app,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ` + in + ` TO ` + app,
		`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ` + in + ` TO ` + app,
		`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ` + in + ` TO ` + app,
		// Tables, sequences and functions that later migrations create (as
		// this role) are granted the same when they are created; a re-run
		// of this function then applies the exceptions below to them.
		`ALTER DEFAULT PRIVILEGES IN SCHEMA ` + in + ` GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ` + app,
		`ALTER DEFAULT PRIVILEGES IN SCHEMA ` + in + ` GRANT USAGE, SELECT ON SEQUENCES TO ` + app,
		`ALTER DEFAULT PRIVILEGES IN SCHEMA ` + in + ` GRANT EXECUTE ON FUNCTIONS TO ` + app,
	}
	for _, table := range appendOnlyTables {
		stmts = append(stmts, `REVOKE UPDATE, DELETE ON `+in+`.`+pq.QuoteIdentifier(table)+` FROM `+app)
	}
	for _, table := range readOnlyTables {
		stmts = append(stmts, `REVOKE INSERT, UPDATE, DELETE ON `+in+`.`+pq.QuoteIdentifier(table)+` FROM `+app)
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("granting the application role %q: %s: %w", role, stmt, err)
		}
	}
	return tx.Commit()
}

// createRoleIfMissing creates role as LOGIN without a password: it can
// sign in once the operator gives it one (ALTER ROLE ... PASSWORD), or
// where the server authenticates otherwise (certificates, peer).
func createRoleIfMissing(ctx context.Context, tx *sql.Tx, role string) error {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `CREATE ROLE `+pq.QuoteIdentifier(role)+` LOGIN`); err != nil {
		return fmt.Errorf("creating the application role %q (the role migrate runs as needs CREATEROLE, or create the role yourself first): %w", role, err)
	}
	return nil
}

// checkAppRoleIsPowerless refuses an application role that could rewrite
// the audit trail whatever it is granted.
func checkAppRoleIsPowerless(ctx context.Context, tx *sql.Tx, role string) error {
	var superuser, createRole, ownerOrMember bool
	err := tx.QueryRowContext(ctx, `
		SELECT r.rolsuper, r.rolcreaterole,
			pg_has_role(r.oid, current_user, 'MEMBER')
			OR pg_has_role(r.oid, (SELECT relowner FROM pg_class WHERE oid = 'audit_events'::regclass), 'MEMBER')
			OR pg_has_role(r.oid, (SELECT proowner FROM pg_proc WHERE oid = 'audit_events_append_only()'::regprocedure), 'MEMBER')
		FROM pg_roles r WHERE r.rolname = $1`, role).Scan(&superuser, &createRole, &ownerOrMember)
	if err != nil {
		return fmt.Errorf("checking the application role %q: %w", role, err)
	}
	switch {
	case superuser:
		return fmt.Errorf("the application role %q is a superuser: it could rewrite the audit trail", role)
	case createRole:
		return fmt.Errorf("the application role %q has CREATEROLE: it could make itself a member of the owner", role)
	case ownerOrMember:
		return fmt.Errorf("the application role %q is the role migrate runs as, or a member of the owner of the audit trail: "+
			"serve must run as a role of its own", role)
	}
	return nil
}

// MayRewriteAuditTrail reports whether the role connected to PostgreSQL
// could change or remove audit records or their hash chain despite the
// append-only triggers: a superuser, the owner of audit_events, audit_seals
// or the triggers' function (or a member of it), or a role granted UPDATE,
// DELETE or TRUNCATE on either table. serve warns when it runs as such a
// role. Always false on SQLite, where the file has no roles.
func (d *DB) MayRewriteAuditTrail(ctx context.Context) (bool, error) {
	if d.Dialect != dialect.Postgres {
		return false, nil
	}
	var may bool
	err := d.SQL.QueryRowContext(ctx, `
		SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
			OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'audit_events'::regclass), 'MEMBER')
			OR pg_has_role(current_user, (SELECT proowner FROM pg_proc WHERE oid = 'audit_events_append_only()'::regprocedure), 'MEMBER')
			OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'audit_seals'::regclass), 'MEMBER')
			OR has_table_privilege('audit_events', 'UPDATE, DELETE, TRUNCATE')
			OR has_table_privilege('audit_seals', 'UPDATE, DELETE, TRUNCATE')`).Scan(&may)
	return may, err
}
