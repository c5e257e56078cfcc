// Package testdb gives each test a database of its own, on SQLite or on
// PostgreSQL, cheaply: a copy of a seed built once per test process (a file
// copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL). PostgreSQL is
// TEST_DATABASE_URL (a role that may create databases) or one throwaway
// server started from the machine's binaries (internal/pgtemp); without
// either, PostgreSQL tests are skipped, unless REQUIRE_POSTGRES=1, when they
// fail. Test code only.
package testdb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/pgtemp"
)

// Fill loads a seed after it is migrated; what it returns (a password, say)
// is handed to every test using the seed.
type Fill func(ctx context.Context, d *db.DB) (string, error)

// Create makes a new database of the dialect, a copy of the seed called
// name, and returns where it is (a SQLite file or a PostgreSQL URL, for
// Open) and what the seed's Fill returned. The first test to ask for a seed
// builds it: migrated, then filled by fill (nil: migrated only). Every use
// of one name must pass an equivalent fill.
func Create(t testing.TB, dialectName, name string, fill Fill) (dsn, note string) {
	t.Helper()
	if dialectName == dialect.Postgres {
		PostgresAdmin(t) // skips (or fails) the test when there is none
	}
	s := seedOf(t, dialectName, name, fill)
	switch dialectName {
	case dialect.SQLite:
		path := filepath.Join(t.TempDir(), "test.db")
		b, err := os.ReadFile(s.source)
		if err == nil {
			err = os.WriteFile(path, b, 0o600)
		}
		if err != nil {
			t.Fatalf("copying the seed database: %v", err)
		}
		return path, s.note
	case dialect.Postgres:
		name := uniqueName("test")
		url, err := pgtemp.CreateDatabaseFrom(PostgresAdmin(t), name, s.source)
		if err != nil {
			t.Fatal(err)
		}
		dropLater(t, name)
		return url, s.note
	}
	t.Fatalf("unknown dialect %q", dialectName)
	return "", ""
}

// CreatePostgres makes a new empty database (named prefix_<pid>_<n>) on the
// test PostgreSQL server and returns its URL; it is dropped when t ends.
func CreatePostgres(t testing.TB, prefix string) string {
	t.Helper()
	name := uniqueName(prefix)
	url, err := pgtemp.CreateDatabase(PostgresAdmin(t), name)
	if err != nil {
		t.Fatal(err)
	}
	dropLater(t, name)
	return url
}

// dropLater drops the database name when t ends if the server is shared
// (TEST_DATABASE_URL), where test databases would otherwise pile up run
// after run; a throwaway server is removed whole by Stop.
func dropLater(t testing.TB, name string) {
	if pgServer != nil {
		return
	}
	t.Cleanup(func() {
		if err := pgtemp.DropDatabase(pgAdmin, name); err != nil {
			t.Logf("leaving the test database %s: %v", name, err)
		}
	})
}

// Open opens a database made by Create and closes it when the test ends.
func Open(t testing.TB, dialectName, dsn string) *db.DB {
	t.Helper()
	var (
		d   *db.DB
		err error
	)
	if dialectName == dialect.SQLite {
		d, err = db.OpenSQLite(dsn)
	} else {
		d, err = db.Open(dsn, "")
	}
	if err != nil {
		t.Fatalf("opening %s: %v", dialectName, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// New is Create and Open in one.
func New(t testing.TB, dialectName, name string, fill Fill) (*db.DB, string) {
	t.Helper()
	dsn, note := Create(t, dialectName, name, fill)
	return Open(t, dialectName, dsn), note
}

var (
	pgOnce   sync.Once
	pgAdmin  string
	pgErr    error
	pgServer *pgtemp.Server
	seq      atomic.Int64
)

// PostgresAdmin returns the URL of a role that may create databases on the
// test PostgreSQL server, starting the throwaway server on first use. It
// skips the test when there is none, or fails it with REQUIRE_POSTGRES=1.
func PostgresAdmin(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() {
		if url := os.Getenv("TEST_DATABASE_URL"); url != "" {
			pgAdmin = url
			return
		}
		pgServer, pgErr = pgtemp.Start()
		if pgErr == nil {
			pgAdmin = pgServer.URL("postgres")
		}
	})
	if pgErr != nil {
		if os.Getenv("REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (REQUIRE_POSTGRES=1) but unavailable: %v", pgErr)
		}
		t.Skipf("PostgreSQL half skipped: %v", pgErr)
	}
	return pgAdmin
}

// Main runs a package's tests and then Stop: a package whose tests use
// testdb has func TestMain(m *testing.M) { testdb.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the throwaway PostgreSQL server (or drops the seed databases
// made on a shared one) and removes the SQLite seeds.
// Call it from TestMain after m.Run (Main does).
func Stop() {
	if pgServer != nil {
		pgServer.Stop()
	} else if pgAdmin != "" { // a shared server: drop the seeds made on it
		seedsMu.Lock()
		for key, s := range seeds {
			if strings.HasPrefix(key, dialect.Postgres+"/") && s.err == nil && s.source != "" {
				_ = pgtemp.DropDatabase(pgAdmin, s.source)
			}
		}
		seedsMu.Unlock()
	}
	if seedsDir != "" {
		_ = os.RemoveAll(seedsDir)
	}
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), seq.Add(1))
}

type seed struct {
	once sync.Once
	// source is the SQLite file, or the PostgreSQL template database.
	source string
	note   string
	err    error
}

var (
	seedsMu  sync.Mutex
	seeds    = map[string]*seed{}
	seedsDir string
	// building serializes seed builds: ent's automatic migration of SQLite
	// writes package-level table descriptions, so two at once would race.
	building sync.Mutex
)

func seedOf(t testing.TB, dialectName, name string, fill Fill) *seed {
	t.Helper()
	seedsMu.Lock()
	s, ok := seeds[dialectName+"/"+name]
	if !ok {
		s = &seed{}
		seeds[dialectName+"/"+name] = s
	}
	seedsMu.Unlock()
	s.once.Do(func() {
		building.Lock()
		defer building.Unlock()
		s.err = s.build(t, dialectName, name, fill)
	})
	if s.err != nil {
		t.Fatalf("building the %s seed database %q: %v", dialectName, name, s.err)
	}
	return s
}

func (s *seed) build(t testing.TB, dialectName, name string, fill Fill) error {
	var (
		d   *db.DB
		err error
	)
	if dialectName == dialect.SQLite {
		if seedsDir == "" {
			if seedsDir, err = os.MkdirTemp("", "usermanager-seeds-"); err != nil {
				return err
			}
		}
		s.source = filepath.Join(seedsDir, name+".db")
		d, err = db.OpenSQLite(s.source)
	} else {
		s.source = uniqueName("seed_" + name)
		var url string
		if url, err = pgtemp.CreateDatabase(PostgresAdmin(t), s.source); err == nil {
			d, err = db.Open(url, "")
		}
	}
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := d.Migrate(ctx); err != nil {
		d.Close()
		return fmt.Errorf("migrating: %w", err)
	}
	if fill != nil {
		if s.note, err = fill(ctx, d); err != nil {
			d.Close()
			return err
		}
	}
	if dialectName == dialect.SQLite {
		// Everything into the main file, which is what is copied.
		if _, err := d.SQL.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			d.Close()
			return err
		}
	}
	// A template database must have no connections while it is copied.
	return d.Close()
}
