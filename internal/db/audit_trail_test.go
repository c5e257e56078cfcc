package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/testdb"
)

// On SQLite, the file itself refuses to change or remove an audit record
// or a link of its hash chain (R31), whoever connects, and Migrate puts a
// lost trigger back.
func TestSQLiteAuditTrailIsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.OpenSQLite(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SQL.ExecContext(ctx, `INSERT INTO audit_events (id, created_at, action, reason) VALUES (1, datetime(), 'SIGN_IN_FAILED', 'kept')`); err != nil {
		t.Fatalf("inserting an audit record: %v", err)
	}
	refused := func(stmt string) {
		t.Helper()
		_, err := d.SQL.ExecContext(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want it refused as append-only", stmt, err)
		}
	}
	refused(`UPDATE audit_events SET reason = 'rewritten' WHERE id = 1`)
	refused(`DELETE FROM audit_events WHERE id = 1`)
	refused(`DELETE FROM audit_events`)
	if _, err := d.SQL.ExecContext(ctx, `INSERT INTO audit_seals (id, organization_id, seq, audit_event_id, hash, sealed_at) VALUES (1, 0, 1, 1, 'h', datetime())`); err != nil {
		t.Fatalf("inserting a link of the hash chain: %v", err)
	}
	refused(`UPDATE audit_seals SET hash = 'forged' WHERE id = 1`)
	refused(`DELETE FROM audit_seals`)

	// ent rebuilding the table loses its triggers; Migrate creates them again.
	if _, err := d.SQL.ExecContext(ctx, `DROP TRIGGER audit_events_no_delete`); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	refused(`DELETE FROM audit_events WHERE id = 1`)
	if _, err := d.SQL.ExecContext(ctx, `DROP TRIGGER audit_seals_no_update`); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	refused(`UPDATE audit_seals SET hash = 'forged' WHERE id = 1`)

	var reason string
	if err := d.SQL.QueryRowContext(ctx, `SELECT reason FROM audit_events WHERE id = 1`).Scan(&reason); err != nil || reason != "kept" {
		t.Errorf("the audit record after the refused statements: %q, %v", reason, err)
	}
}

var roleSeq atomic.Int64

// requireCreateRole skips the test when the test server's role cannot
// create roles (a TEST_DATABASE_URL role with CREATEDB only).
func requireCreateRole(t *testing.T, owner *db.DB) {
	t.Helper()
	var may bool
	if err := owner.SQL.QueryRow(`SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&may); err != nil {
		t.Fatal(err)
	}
	if !may {
		t.Skip("the test PostgreSQL role may not create roles (it needs CREATEROLE)")
	}
}

// newRoleName is a role name no other test (or test process sharing the
// server) uses: roles belong to the whole PostgreSQL server.
func newRoleName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), roleSeq.Add(1))
}

// asRole is the database URL with another user (the test server trusts
// connections from the machine, so no password).
func asRole(t *testing.T, dbURL, role string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

// dropRoleLater removes the role when the test ends, as far as it can: a
// server shared through TEST_DATABASE_URL should not collect them.
func dropRoleLater(t *testing.T, owner *sql.DB, role string) {
	t.Cleanup(func() {
		ctx := context.Background()
		for _, stmt := range []string{`DROP OWNED BY ` + pq.QuoteIdentifier(role), `DROP ROLE ` + pq.QuoteIdentifier(role)} {
			if _, err := owner.ExecContext(ctx, stmt); err != nil {
				t.Logf("cleaning up: %s: %v", stmt, err)
				return
			}
		}
	})
}

// isInsufficientPrivilege reports whether PostgreSQL refused err's statement
// for want of a privilege or of ownership (42501), not for another reason
// (the append-only trigger answers an UPDATE with P0001 whoever runs it).
func isInsufficientPrivilege(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "42501"
}

// On PostgreSQL, serve's role (granted by GrantAppRole) may insert and read
// audit records, and nothing else on the audit trail: not change, remove or
// truncate them, nor disable, drop or replace the trigger that guards them.
// Everything else it needs works, and the grants are idempotent and cover
// tables that later migrations add.
func TestPostgresAppRoleCannotRewriteAuditTrail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Create(t, dialect.Postgres, "migrated", nil)
	owner := testdb.Open(t, dialect.Postgres, dsn)
	requireCreateRole(t, owner)
	role := newRoleName("usermanager_app")
	dropRoleLater(t, owner.SQL, role)
	for range 2 { // granting twice is harmless
		if err := owner.GrantAppRole(ctx, role); err != nil {
			t.Fatal(err)
		}
	}
	ownerMay, err := owner.MayRewriteAuditTrail(ctx)
	if err != nil || !ownerMay {
		t.Errorf("the owner may rewrite the audit trail: %v, %v; want true", ownerMay, err)
	}

	app := testdb.Open(t, dialect.Postgres, asRole(t, dsn, role))
	exec := func(stmt string, args ...any) error {
		_, err := app.SQL.ExecContext(ctx, stmt, args...)
		return err
	}
	if err := exec(`INSERT INTO audit_events (created_at, action, reason) VALUES (now(), 'SIGN_IN_FAILED', 'kept')`); err != nil {
		t.Fatalf("the application role cannot insert an audit record: %v", err)
	}
	var records int
	if err := app.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&records); err != nil || records != 1 {
		t.Fatalf("the application role reads %d audit records, %v; want 1", records, err)
	}
	if err := exec(`INSERT INTO audit_seals (organization_id, seq, audit_event_id, hash, sealed_at) VALUES (0, 1, 1, 'h', now())`); err != nil {
		t.Fatalf("the application role cannot append a link to the hash chain: %v", err)
	}
	for _, stmt := range []string{
		`UPDATE audit_events SET reason = 'rewritten'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
		`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`,
		`ALTER TABLE audit_events DISABLE TRIGGER ALL`,
		`DROP TRIGGER audit_events_append_only ON audit_events`,
		`CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
		`ALTER FUNCTION audit_events_append_only() OWNER TO CURRENT_USER`,
		`DROP TABLE audit_events`,
		`UPDATE audit_seals SET hash = 'forged'`,
		`DELETE FROM audit_seals`,
		`TRUNCATE audit_seals`,
		`ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_append_only`,
		`DROP TRIGGER audit_seals_append_only ON audit_seals`,
		`DROP TABLE audit_seals`,
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999999999999, true)`,
		`DELETE FROM river_migration`,
	} {
		if err := exec(stmt); !isInsufficientPrivilege(err) {
			t.Errorf("the application role ran %q: %v, want a refusal for want of privilege", stmt, err)
		}
	}
	var reason string
	var triggerEnabled string
	if err := owner.SQL.QueryRowContext(ctx, `SELECT e.reason, t.tgenabled FROM audit_events e,
		pg_trigger t WHERE t.tgname = 'audit_events_append_only'`).Scan(&reason, &triggerEnabled); err != nil || reason != "kept" || triggerEnabled != "O" {
		t.Errorf("after the attempts: reason %q, trigger enabled %q, %v; want kept, O", reason, triggerEnabled, err)
	}
	if may, err := app.MayRewriteAuditTrail(ctx); err != nil || may {
		t.Errorf("the application role may rewrite the audit trail: %v, %v; want false", may, err)
	}

	// What serve does: check the migrations (goose's and River's version
	// tables), write, lock rows, notify other instances.
	if err := app.CheckMigrated(ctx); err != nil {
		t.Errorf("CheckMigrated as the application role: %v", err)
	}
	for _, stmt := range []string{
		`INSERT INTO organizations (created_at, updated_at, name) VALUES (now(), now(), 'P')`,
		`UPDATE organizations SET name = 'Q'`,
		`SELECT id FROM organizations FOR UPDATE`,
		`SELECT pg_notify('license_counts', '{}')`,
		`LISTEN license_counts`,
		`DELETE FROM organizations`,
	} {
		if err := exec(stmt); err != nil {
			t.Errorf("the application role cannot %q: %v", stmt, err)
		}
	}

	// Every table has exactly the privileges the README promises, River's
	// included.
	rows, err := owner.SQL.QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"users", "audit_events", "audit_seals", "goose_db_version", "river_job", "river_leader", "river_queue", "river_migration"} {
		if !contains(tables, want) {
			t.Errorf("no table %s after Migrate (tables: %v)", want, tables)
		}
	}
	for _, table := range tables {
		want := "SELECT, INSERT, UPDATE, DELETE"
		switch table {
		case "audit_events", "audit_seals":
			want = "SELECT, INSERT"
		case "goose_db_version", "river_migration":
			want = "SELECT"
		}
		if got := privilegesOn(t, owner.SQL, role, table); got != want {
			t.Errorf("on %s the application role has %s, want %s", table, got, want)
		}
	}

	// A privilege granted by hand since is taken back by the next grant, and
	// a table a later migration adds is granted as it is created.
	if _, err := owner.SQL.ExecContext(ctx, `GRANT TRUNCATE, UPDATE ON audit_events TO `+pq.QuoteIdentifier(role)); err != nil {
		t.Fatal(err)
	}
	if err := owner.GrantAppRole(ctx, role); err != nil {
		t.Fatal(err)
	}
	if got := privilegesOn(t, owner.SQL, role, "audit_events"); got != "SELECT, INSERT" {
		t.Errorf("after granting again the application role has %s on audit_events, want SELECT, INSERT", got)
	}
	if _, err := owner.SQL.ExecContext(ctx, `CREATE TABLE added_later (id bigserial PRIMARY KEY, note text)`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO added_later (note) VALUES ('x')`); err != nil {
		t.Errorf("the application role cannot write a table added after the grant: %v", err)
	}
}

// privilegesOn lists role's privileges on table, in a fixed order.
func privilegesOn(t *testing.T, q *sql.DB, role, table string) string {
	t.Helper()
	var held []string
	for _, p := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"} {
		var has bool
		if err := q.QueryRow(`SELECT has_table_privilege($1, $2, $3)`, role, table, p).Scan(&has); err != nil {
			t.Fatal(err)
		}
		if has {
			held = append(held, p)
		}
	}
	return strings.Join(held, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// GrantAppRole refuses a role that could undo the protection whatever it
// is granted.
func TestPostgresGrantAppRoleRefusesPowerfulRoles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, _ := testdb.Create(t, dialect.Postgres, "migrated", nil)
	owner := testdb.Open(t, dialect.Postgres, dsn)
	requireCreateRole(t, owner)
	var self string
	if err := owner.SQL.QueryRowContext(ctx, `SELECT current_user`).Scan(&self); err != nil {
		t.Fatal(err)
	}
	creator, member := newRoleName("usermanager_creator"), newRoleName("usermanager_member")
	dropRoleLater(t, owner.SQL, creator)
	dropRoleLater(t, owner.SQL, member)
	for _, stmt := range []string{
		`CREATE ROLE ` + creator + ` LOGIN CREATEROLE`,
		`CREATE ROLE ` + member + ` LOGIN IN ROLE ` + pq.QuoteIdentifier(self),
	} {
		if _, err := owner.SQL.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, role := range []string{self, creator, member} {
		if err := owner.GrantAppRole(ctx, role); err == nil {
			t.Errorf("GrantAppRole(%s) succeeded, want a refusal", role)
		}
	}
}
