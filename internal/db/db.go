// Package db opens the product's database: the embedded SQLite file in
// DATA_DIR by default, or PostgreSQL through lib/pq when DATABASE_URL is a
// postgres:// URL. It also brings the schema up to date (Migrate).
package db

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"  // PostgreSQL driver ("postgres")
	_ "modernc.org/sqlite" // pure-Go SQLite driver ("sqlite")

	"github.com/clinicemr/usermanager/ent"
	_ "github.com/clinicemr/usermanager/ent/runtime" // privacy policies and hooks
)

// DB is an open database.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string // dialect.SQLite or dialect.Postgres
	// URL is the PostgreSQL connection URL ("" for SQLite), for listeners
	// that need their own connection.
	URL string
}

// Open connects to databaseURL, or to the SQLite file in dataDir when it is
// empty.
func Open(databaseURL, dataDir string) (*DB, error) {
	if databaseURL == "" {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating DATA_DIR: %w", err)
		}
		return OpenSQLite(filepath.Join(dataDir, "usermanager.db"))
	}
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		return nil, fmt.Errorf("DATABASE_URL must be a postgres:// URL")
	}
	sqlDB, err := sql.Open("postgres", databaseURL)
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(40)
	sqlDB.SetMaxIdleConns(40)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	d := wrap(sqlDB, dialect.Postgres)
	d.URL = databaseURL
	return d, nil
}

// OpenSQLite opens (creating if needed) an SQLite database file.
func OpenSQLite(path string) (*DB, error) {
	// WAL lets readers run beside the writer; immediate transactions take the
	// write lock up front, so two writers queue on busy_timeout instead of
	// deadlocking on a lock upgrade.
	//
	// Times are written in UTC in SQLite's own text format: the driver's
	// default (time.Time.String, with a monotonic clock suffix) does not sort,
	// and ordering and cursors compare times as text.
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(20000)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate" +
		"&_time_format=sqlite&_timezone=UTC"
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// More than one connection: with a single one, a query outside a
	// transaction deadlocks behind an open transaction.
	sqlDB.SetMaxOpenConns(8)
	sqlDB.SetMaxIdleConns(8)
	return wrap(sqlDB, dialect.SQLite), nil
}

func wrap(sqlDB *sql.DB, dialectName string) *DB {
	drv := entsql.OpenDB(dialectName, sqlDB)
	return &DB{Client: ent.NewClient(ent.Driver(drv)), SQL: sqlDB, Dialect: dialectName}
}

// Ping checks the database answers (used by /readyz).
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

// Close closes the database.
func (d *DB) Close() error { return d.Client.Close() }
