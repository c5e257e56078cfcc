package db

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
)

// SQLite's upkeep: the hand-written schema ent's migration does not know
// (the search index, the license counts' and the audit trail's triggers),
// and the planner's statistics.

// ensure runs stmts in one transaction unless every schema object named
// exists: hand-written SQLite schema that ent's migration does not know,
// created with what it needs to start (filling an index, counting rows) and
// never half-made. The statements create with IF NOT EXISTS, so a trigger
// lost with its table (ent rebuilds a table to change a column, and the
// table's triggers go with it) is created again and what it keeps redone.
func (d *DB) ensure(ctx context.Context, names, stmts []string) error {
	var n int
	q := `SELECT COUNT(*) FROM sqlite_master WHERE name IN (?` + strings.Repeat(`, ?`, len(names)-1) + `)`
	args := make([]any, len(names))
	for i, name := range names {
		args[i] = name
	}
	if err := d.SQL.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return err
	}
	if n == len(names) {
		return nil
	}
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("creating %s: %w", strings.Join(names, ", "), err)
		}
	}
	return tx.Commit()
}

// Optimize keeps SQLite's planner statistics current (ANALYZE where tables
// changed much since it last looked), so plans fit the data: without them
// the planner takes "every user of the organization" for a handful of rows
// and reads them all through an index, where following the search index's
// matches is a hundred times cheaper. It is cheap when nothing changed. The
// server runs it at start and every hour; on PostgreSQL, autovacuum
// analyzes and this does nothing.
func (d *DB) Optimize(ctx context.Context) error {
	if d.Dialect != dialect.SQLite {
		return nil
	}
	// 0x10002: also analyze tables that never were, with bounded effort.
	if _, err := d.SQL.ExecContext(ctx, `PRAGMA optimize=0x10002`); err != nil {
		return err
	}
	return d.reloadStatistics(ctx)
}

// Analyze gathers the planner's statistics of every table in full, as after
// a bulk load. On PostgreSQL it vacuums too: that merges the new entries
// the trigram (GIN) indexes hold in their pending lists, which every search
// would otherwise read one by one (a rare name's search took 50 ms instead
// of 1 ms at a million users), and marks pages all-visible for index-only
// scans.
func (d *DB) Analyze(ctx context.Context) error {
	if d.Dialect == dialect.Postgres {
		_, err := d.SQL.ExecContext(ctx, `VACUUM (ANALYZE)`)
		return err
	}
	if _, err := d.SQL.ExecContext(ctx, `ANALYZE`); err != nil {
		return err
	}
	return d.reloadStatistics(ctx)
}

// reloadStatistics makes every SQLite connection plan with the statistics
// just gathered. A connection reads them when it loads the schema, which it
// does when the schema changes, and ANALYZE does not count as a change: so
// the schema is changed, by creating and dropping an empty table.
func (d *DB) reloadStatistics(ctx context.Context) error {
	if d.Dialect != dialect.SQLite {
		return nil
	}
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range []string{`CREATE TABLE reload_statistics (x)`, `DROP TABLE reload_statistics`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// OptimizeEvery is how often serve brings SQLite's planner statistics up to
// date, as users are added in their thousands (a periodic job).
const OptimizeEvery = time.Hour

// OptimizeArgs is the job that runs Optimize.
type OptimizeArgs struct{}

func (OptimizeArgs) Kind() string { return "db_optimize" }

// OptimizeWorker works OptimizeArgs.
type OptimizeWorker struct {
	river.WorkerDefaults[OptimizeArgs]
	DB *DB
}

func (w *OptimizeWorker) Work(ctx context.Context, _ *river.Job[OptimizeArgs]) error {
	return w.DB.Optimize(ctx)
}
