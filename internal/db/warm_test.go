package db_test

import (
	"context"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/internal/testdb"
)

// Warm opens every connection the pool may open, each a connection of its
// own on the server, and leaves them idle for the requests to come.
func TestWarmOpensThePool(t *testing.T) {
	t.Parallel()
	for _, dialectName := range []string{dialect.SQLite, dialect.Postgres} {
		t.Run(dialectName, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d, _ := testdb.New(t, dialectName, "migrated", nil)
			const size = 6
			d.SQL.SetMaxOpenConns(size)
			d.SQL.SetMaxIdleConns(size)
			if err := d.Warm(ctx); err != nil {
				t.Fatal(err)
			}
			if st := d.SQL.Stats(); st.OpenConnections != size || st.Idle != size {
				t.Fatalf("after Warm: %d open, %d idle, want %d of each", st.OpenConnections, st.Idle, size)
			}
			if dialectName != dialect.Postgres {
				return
			}
			var backends int
			if err := d.SQL.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND backend_type = 'client backend'`).Scan(&backends); err != nil {
				t.Fatal(err)
			}
			if backends < size {
				t.Fatalf("after Warm the server has %d connections to the database, want at least %d", backends, size)
			}
		})
	}
}
