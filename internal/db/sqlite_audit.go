package db

import "context"

// sqliteAuditSchema makes the audit trail and its hash chain (audit_seals)
// append-only (R31) in the SQLite
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
	`CREATE TRIGGER IF NOT EXISTS audit_seals_no_update BEFORE UPDATE ON audit_seals BEGIN
		SELECT RAISE(ABORT, 'audit_seals is append-only');
	END`,
	`CREATE TRIGGER IF NOT EXISTS audit_seals_no_delete BEFORE DELETE ON audit_seals BEGIN
		SELECT RAISE(ABORT, 'audit_seals is append-only');
	END`,
}

// sqliteAuditTriggers are the names of the triggers above.
var sqliteAuditTriggers = []string{
	"audit_events_no_update", "audit_events_no_delete", "audit_seals_no_update", "audit_seals_no_delete",
}

// migrateSQLiteAudit creates the audit trail's triggers unless all exist
// (ent rebuilding a table to change a column loses them).
func (d *DB) migrateSQLiteAudit(ctx context.Context) error {
	return d.ensure(ctx, sqliteAuditTriggers, sqliteAuditSchema)
}
