package db_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/clinicemr/usermanager/internal/db"
)

// SQLite's hand-written schema (the search index, the license counts'
// triggers) is created by Migrate, again when a part of it is lost (ent
// rebuilds a table to change a column, and its triggers go with it), and
// what it keeps is then redone from the rows.
func TestMigrateRestoresSQLiteTriggers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.OpenSQLite(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for range 2 { // migrating twice is harmless
		if err := d.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := d.SQL.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := d.SQL.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	exec(`INSERT INTO organizations (id, created_at, updated_at, name) VALUES (1, datetime(), datetime(), 'P')`)
	exec(`INSERT INTO clinics (id, created_at, updated_at, name, organization_id) VALUES (1, datetime(), datetime(), 'C', 1)`)
	exec(`INSERT INTO users (id, created_at, updated_at, organization_id, username, username_key, email, email_key,
		password_hash, user_type, first_name, last_name, full_name, search_text, status)
		VALUES (1, datetime(), datetime(), 1, 'ann', 'ann', 'ann@x.example', 'ann@x.example', '', 'PT', 'Ann', 'Lee', 'Ann Lee', 'ann lee ann lee', 'ACTIVE')`)
	exec(`INSERT INTO licenses (created_at, updated_at, organization_id, clinic_id, class, holder_id) VALUES (datetime(), datetime(), 1, 1, 'THERAPIST', 1)`)
	found := func(fragment string) int {
		return count(`SELECT COUNT(*) FROM users_search WHERE users_search MATCH ?`, `{search_text} : "`+fragment+`"`)
	}
	if found("lee") != 1 || count(`SELECT in_use FROM license_counts WHERE clinic_id = 1`) != 1 {
		t.Fatal("the triggers did not index the user or count the license")
	}

	// Triggers lost: the index and the counts fall behind the rows.
	exec(`DROP TRIGGER users_search_update`)
	exec(`DROP TRIGGER license_counts_license_added`)
	exec(`UPDATE users SET search_text = 'ann quigley' WHERE id = 1`)
	exec(`INSERT INTO licenses (created_at, updated_at, organization_id, clinic_id, class) VALUES (datetime(), datetime(), 1, 1, 'THERAPIST')`)
	if found("quig") != 0 || count(`SELECT total FROM license_counts WHERE clinic_id = 1`) != 1 {
		t.Fatal("expected the index and counts to be stale without their triggers")
	}

	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if found("quig") != 1 || found("lee") != 0 {
		t.Errorf("after Migrate the index does not match the rows: quig %d, lee %d", found("quig"), found("lee"))
	}
	if n := count(`SELECT total FROM license_counts WHERE clinic_id = 1`); n != 2 {
		t.Errorf("after Migrate the clinic counts %d licenses, want 2", n)
	}
	exec(`UPDATE users SET search_text = 'ann zubrowski' WHERE id = 1`)
	if found("zubr") != 1 {
		t.Error("the restored trigger does not follow updates")
	}
}
