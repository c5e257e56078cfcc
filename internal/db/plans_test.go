package db_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/organization"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/testdb"
	"github.com/clinicemr/usermanager/internal/txn"
)

// A SELECT marked by ReusePlan answers as any other, from many goroutines
// at once, and so do more distinct marked statements than are kept
// prepared.
func TestReusePlanAnswersAsAnyQuery(t *testing.T) {
	t.Parallel()
	for _, dialectName := range []string{dialect.SQLite, dialect.Postgres} {
		t.Run(dialectName, func(t *testing.T) {
			t.Parallel()
			ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
			d, _ := testdb.New(t, dialectName, "migrated", nil)
			names := []string{"Lakeview", "Harbor", "Sunrise"}
			for _, n := range names {
				if err := d.Client.Organization.Create().SetName(n).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			nameOf := func(ctx context.Context, name string, variant int) (string, error) {
				// variant changes the statement's text, not its answer.
				return d.Client.Organization.Query().Where(organization.Name(name)).
					Modify(func(s *entsql.Selector) {
						s.Select(s.C(organization.FieldName))
						s.Where(entsql.ExprP(fmt.Sprintf("%d = %d", variant, variant)))
					}).String(ctx)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 300)
			for i := range 300 {
				wg.Go(func() {
					name := names[i%len(names)]
					got, err := nameOf(db.ReusePlan(ctx), name, i%100)
					if err == nil && got != name {
						err = fmt.Errorf("%s read as %q", name, got)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if _, err := nameOf(db.ReusePlan(ctx), "nobody", 1); err == nil {
				t.Fatal("a marked query found an organization that does not exist")
			}
		})
	}
}

// On PostgreSQL a marked SELECT is a statement prepared on the connection
// that ran it; an unmarked one is not.
func TestReusePlanPreparesOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	d, _ := testdb.New(t, dialect.Postgres, "migrated", nil)
	d.SQL.SetMaxOpenConns(1) // the statement and the check share a connection
	prepared := func() int {
		t.Helper()
		var n int
		if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_prepared_statements
			WHERE statement LIKE '%"organizations"%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := d.Client.Organization.Query().Where(organization.Name("x")).Count(ctx); err != nil {
		t.Fatal(err)
	}
	if n := prepared(); n != 0 {
		t.Fatalf("%d statements prepared for an unmarked query, want 0", n)
	}
	for range 3 {
		if _, err := d.Client.Organization.Query().Where(organization.Name("x")).Count(db.ReusePlan(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	if n := prepared(); n != 1 {
		t.Fatalf("%d statements prepared for a query marked and run three times, want 1", n)
	}
}

// A prepared statement that no longer fits the table (a migration changed
// the type of a column it returns) is dropped and the query sent again;
// in a transaction it aborts that transaction, and txn.WithTx runs it again
// with the statement prepared anew.
func TestReusePlanSurvivesAChangedColumn(t *testing.T) {
	t.Parallel()
	ctx := db.ReusePlan(privacy.DecisionContext(context.Background(), privacy.Allow))
	for _, c := range []struct {
		name       string
		statements int // prepared by read
		read       func(*db.DB) (string, error)
	}{
		{"outside a transaction", 1, func(d *db.DB) (string, error) {
			return d.Client.Organization.Query().Where(organization.Name("Lakeview")).
				Select(organization.FieldName).String(ctx)
		}},
		// Three statements that the change makes stale at once: the
		// transaction is run again once, not once for each.
		{"in a transaction", 3, func(d *db.DB) (name string, err error) {
			err = txn.WithTx(ctx, d.Client, func(tx *ent.Tx) error {
				for _, where := range []predicate.Organization{
					organization.Name("Lakeview"), organization.NameIn("Lakeview", "Harbor"), organization.NameGTE("Lakeview"),
				} {
					if name, err = tx.Organization.Query().Where(where).Select(organization.FieldName).String(ctx); err != nil {
						return err
					}
				}
				return nil
			})
			return name, err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, _ := testdb.New(t, dialect.Postgres, "migrated", nil)
			d.SQL.SetMaxOpenConns(1) // the statements are prepared on the one connection
			if err := d.Client.Organization.Create().SetName("Lakeview").Exec(ctx); err != nil {
				t.Fatal(err)
			}
			// Read until the statements are prepared (in a transaction, in
			// the background: see TestReusePlanPreparesInATransaction),
			// then once with them.
			for i := 0; ; i++ {
				if _, err := c.read(d); err != nil {
					t.Fatal(err)
				}
				var n int
				if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_prepared_statements
					WHERE statement LIKE 'SELECT%organizations%'`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n == c.statements {
					break
				}
				if i == 100 {
					t.Fatalf("%d of %d queries prepared after %d reads", n, c.statements, i+1)
				}
			}
			if _, err := c.read(d); err != nil {
				t.Fatal(err)
			}
			if _, err := d.SQL.ExecContext(ctx, `ALTER TABLE organizations ALTER COLUMN name TYPE text`); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if got, err := c.read(d); err != nil || got != "Lakeview" {
					t.Fatalf("after the column changed: %q, %v", got, err)
				}
			}
		})
	}
}

// On PostgreSQL a statement sent in a transaction with a marked context is
// prepared too, once per connection, and does what it says; an unmarked one
// is not prepared.
func TestReusePlanPreparesInATransaction(t *testing.T) {
	t.Parallel()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	d, _ := testdb.New(t, dialect.Postgres, "migrated", nil)
	d.SQL.SetMaxOpenConns(1) // the transactions and the check share a connection
	if err := d.Client.Organization.Create().SetName("Lakeview").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	prepared := func() int {
		t.Helper()
		var n int
		if err := d.SQL.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_prepared_statements
			WHERE statement LIKE 'UPDATE "organizations"%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	rename := func(ctx context.Context, from, to string) {
		t.Helper()
		err := txn.WithTx(ctx, d.Client, func(tx *ent.Tx) error {
			n, err := tx.Organization.Update().Where(organization.Name(from)).SetName(to).Save(ctx)
			if err == nil && n != 1 {
				err = fmt.Errorf("renamed %d organizations called %s, want 1", n, from)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rename(ctx, "Lakeview", "Harbor")
	if n := prepared(); n != 0 {
		t.Fatalf("%d statements prepared for an unmarked update, want 0", n)
	}
	// The first marked transaction has it prepared in the background, for
	// those after it.
	names := []string{"Harbor", "Sunrise", "Northside"}
	for i := 0; ; i++ {
		rename(db.ReusePlan(ctx), names[i%3], names[(i+1)%3])
		n := prepared()
		if n > 1 {
			t.Fatalf("%d statements prepared for one update, want 1", n)
		}
		if n == 1 && i >= 2 {
			if got, err := d.Client.Organization.Query().Select(organization.FieldName).String(ctx); err != nil || got != names[(i+1)%3] {
				t.Fatalf("after %d renames: %q, %v; want %s", i+1, got, err, names[(i+1)%3])
			}
			return
		}
		if i == 100 {
			t.Fatalf("the update is not prepared after %d marked transactions", i+1)
		}
	}
}
