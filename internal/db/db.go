// Package db opens the product's database: the embedded SQLite file in
// DATA_DIR by default, or PostgreSQL through lib/pq when DATABASE_URL is a
// postgres:// URL. It also brings the schema up to date (Migrate).
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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
	Client *ent.Client
	// Driver is what Client runs on: on SQLite it sends writes and
	// transactions to SQL and other reads to a separate read pool. It keeps
	// the statements of contexts marked by ReusePlan prepared.
	Driver dialect.Driver
	// SQL is the connection pool for writes (and, on PostgreSQL, reads).
	SQL     *sql.DB
	Dialect string // dialect.SQLite or dialect.Postgres
	// URL is the PostgreSQL connection URL ("" for SQLite), for listeners
	// that need their own connection.
	URL string

	reads *sql.DB // SQLite's read pool (nil on PostgreSQL)
}

// ReadPool is SQLite's pool of read-only connections (nil on PostgreSQL,
// where SQL serves reads too), for pool metrics.
func (d *DB) ReadPool() *sql.DB { return d.reads }

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
//
// SQLite allows one writer at a time and, in WAL mode, any number of readers
// beside it. So there are two pools: writes and transactions go to the write
// pool, whose immediate transactions take the write lock up front (two
// writers queue on busy_timeout instead of deadlocking on a lock upgrade);
// reads outside a transaction go to a read-only pool, so concurrent searches
// run side by side on every core instead of waiting for a connection that a
// writer holds.
func OpenSQLite(path string) (*DB, error) {
	writes, err := sql.Open("sqlite", sqliteDSN(path, "&_txlock=immediate"))
	if err != nil {
		return nil, err
	}
	// More than one connection: with a single one, a statement outside a
	// transaction deadlocks behind an open transaction.
	writes.SetMaxOpenConns(8)
	writes.SetMaxIdleConns(8)
	reads, err := sql.Open("sqlite", sqliteDSN(path, "&_pragma=query_only(1)"))
	if err != nil {
		writes.Close()
		return nil, err
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	reads.SetMaxOpenConns(readers)
	reads.SetMaxIdleConns(readers)
	d := wrap(writes, dialect.SQLite)
	d.reads = reads
	d.Driver = &preparing{
		Driver: splitDriver{Driver: entsql.OpenDB(dialect.SQLite, writes), reads: entsql.OpenDB(dialect.SQLite, reads)},
		pool:   reads,
	}
	d.Client = ent.NewClient(ent.Driver(d.Driver))
	return d, nil
}

// sqliteDSN is the connection string of the database file at path.
//
// Times are written in UTC in SQLite's own text format: the driver's default
// (time.Time.String, with a monotonic clock suffix) does not sort, and
// ordering and cursors compare times as text.
//
// The page cache (SQLite's default is 2 MB per connection) and memory-mapped
// reads are sized for a practice of 100,000 users (a database of some
// 100 MB): the mapping is shared by every connection through the operating
// system's cache, so each connection's own cache can stay moderate. Sorts
// and temporary indexes stay in memory.
func sqliteDSN(path, extra string) string {
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(20000)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=cache_size(-16384)&_pragma=mmap_size(1073741824)&_pragma=temp_store(MEMORY)" +
		"&_time_format=sqlite&_timezone=UTC" + extra
}

// splitDriver sends SELECT statements outside a transaction to the read
// pool, and everything else (writes, transactions) to the write pool. ent
// also sends writes through Query (INSERT ... RETURNING), so the statement
// decides, not the method.
type splitDriver struct {
	*entsql.Driver
	reads *entsql.Driver
}

func (d splitDriver) Query(ctx context.Context, query string, args, v any) error {
	if isSelect(query) {
		return d.reads.Query(ctx, query, args, v)
	}
	return d.Driver.Query(ctx, query, args, v)
}

// QueryContext serves ent's client.QueryContext as Query serves the rest.
func (d splitDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if isSelect(query) {
		return d.reads.QueryContext(ctx, query, args...)
	}
	return d.Driver.QueryContext(ctx, query, args...)
}

// isSelect reports whether a statement is a plain SELECT.
func isSelect(query string) bool {
	query = strings.TrimLeft(query, " \t\r\n(")
	return len(query) >= 7 && strings.EqualFold(query[:7], "SELECT ")
}

func (d splitDriver) Close() error {
	return errors.Join(d.reads.Close(), d.Driver.Close())
}

func wrap(sqlDB *sql.DB, dialectName string) *DB {
	drv := &preparing{Driver: entsql.OpenDB(dialectName, sqlDB), pool: sqlDB, inTx: dialectName == dialect.Postgres}
	return &DB{Client: ent.NewClient(ent.Driver(drv)), Driver: drv, SQL: sqlDB, Dialect: dialectName}
}

// Ping checks the database answers (used by /readyz).
func (d *DB) Ping(ctx context.Context) error {
	if d.reads != nil {
		if err := d.reads.PingContext(ctx); err != nil {
			return err
		}
	}
	return d.SQL.PingContext(ctx)
}

// Warm opens the pool's connections (every one it may open) at once, runs
// warmUp on each and leaves them idle, so that the first burst of requests
// after a start does not wait for them. On PostgreSQL each connection is a
// new server process that reads the definitions of the tables and indexes
// it plans with on first use: 500 activations at once on a cold pool had a
// request p99 of 1.5-1.8 s, 1.0 s on a warmed one (issue #16). Idle
// connections close again after 5 minutes unused.
func (d *DB) Warm(ctx context.Context) error {
	n := d.SQL.Stats().MaxOpenConnections
	conns := make([]*sql.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	// The connections are held together, so each is a new one.
	for i := range conns {
		wg.Go(func() {
			if conns[i], errs[i] = d.SQL.Conn(ctx); errs[i] == nil {
				_, errs[i] = conns[i].ExecContext(ctx, warmUp)
			}
		})
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			c.Close() // back to the pool, idle
		}
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("opening %d database connections: %w", n, err)
		}
	}
	return nil
}

// warmUp reads no row (no user has id -1) but is planned with the tables
// (and their indexes) that sign-in, searches and license changes use, on
// both databases.
const warmUp = `SELECT 1 FROM users u
	JOIN sessions s ON s.user_id = u.id
	JOIN user_clinics uc ON uc.user_id = u.id
	JOIN user_permissions up ON up.user_id = u.id
	JOIN permissions p ON p.id = up.permission_id
	JOIN organizations o ON o.id = u.organization_id
	JOIN clinics c ON c.id = u.home_clinic_id
	JOIN licenses l ON l.holder_id = u.id
	JOIN license_counts lc ON lc.clinic_id = c.id
	JOIN audit_events a ON a.target_user_id = u.id
	WHERE u.id = -1`

// Close closes the database.
func (d *DB) Close() error { return d.Client.Close() }
