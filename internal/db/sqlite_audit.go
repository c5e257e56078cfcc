package db

import "context"

// sqliteAuditSchema makes the audit trail append-only (R31) in the SQLite
// file itself, below ent's hook that already refuses updates and deletes:
// whatever connects to the file (a script, the sqlite3 shell) cannot change
// or remove a record without first dropping these triggers. PostgreSQL has
// the same in a migration (audit_append_only), with roles on top.
var sqliteAuditSchema = []string{
	`CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events BEGIN
		SELECT RAISE(ABORT, 'audit_events is append-only');
	END`,
	`CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events BEGIN
		SELECT RAISE(ABORT, 'audit_events is append-only');
	END`,
}

// migrateSQLiteAudit creates the audit trail's triggers unless both exist
// (ent rebuilding the table to change a column loses them).
func (d *DB) migrateSQLiteAudit(ctx context.Context) error {
	return d.ensure(ctx, []string{"audit_events_no_update", "audit_events_no_delete"}, sqliteAuditSchema)
}
