// Package jobs runs durable background work on the product's own database
// with River: emails and the automatic processing of license adjustments.
//
// A job is inserted in the same transaction as the change that causes it
// (InsertTx), so it exists exactly when the change does. River retries a
// failed job with backoff and, when a process dies mid-job (kill -9), hands
// the job to another worker after RescueAfter. Delivery is at least once:
// every worker checks the state it is about to change, so a retried job has
// no second effect in the normal case.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/clinicemr/usermanager/ent"
)

// Config tunes the queue. Zero values take the defaults.
type Config struct {
	// RetryBase is the wait before the first retry; each next wait doubles,
	// up to RetryMax (defaults 5s and 1h).
	RetryBase, RetryMax time.Duration
	// MaxAttempts before a job is given up (default 25; with the defaults
	// that is about a day of retries).
	MaxAttempts int
	// JobTimeout bounds one attempt (default 1m).
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before it is presumed
	// abandoned by a dead process and retried (default 5m; more than
	// JobTimeout).
	RescueAfter time.Duration
	// PollInterval is how often the queue looks for due jobs (default 1s).
	PollInterval time.Duration
	// Workers is the number of jobs worked at once per process (default 10).
	Workers int
	Logger  *slog.Logger
	// Middleware wraps every job's work (telemetry's job failure counter).
	Middleware []rivertype.Middleware
}

func (c *Config) defaults() {
	if c.RetryBase <= 0 {
		c.RetryBase = 5 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Hour
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 25
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = time.Minute
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = 5 * time.Minute
	}
	if c.RescueAfter <= c.JobTimeout {
		c.RescueAfter = c.JobTimeout + time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// QueueImports is the queue of staff-list imports (internal/staffimport):
// a chunk of an import must not wait behind the thousands of invitation
// emails its previous chunks queued, nor hold up the mail of the default
// queue. Its workers are counted apart from Config.Workers.
const QueueImports = "imports"

// importWorkers is how many imports' chunks one process works at once.
const importWorkers = 2

// Queue inserts jobs and, once started, works them.
type Queue struct {
	client  *river.Client[*sql.Tx]
	workers *river.Workers
}

// Driver is River's driver for the database.
func Driver(sqlDB *sql.DB, dialectName string) riverdriver.Driver[*sql.Tx] {
	if dialectName == dialect.SQLite {
		return riversqlite.New(sqlDB)
	}
	return riverdatabasesql.New(sqlDB)
}

// New returns a queue on the database. Register workers (river.AddWorker on
// Workers()) before Start.
func New(sqlDB *sql.DB, dialectName string, cfg Config) (*Queue, error) {
	cfg.defaults()
	workers := river.NewWorkers()
	client, err := river.NewClient(Driver(sqlDB, dialectName), &river.Config{
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: cfg.Workers},
			QueueImports:       {MaxWorkers: importWorkers},
		},
		Workers:              workers,
		RetryPolicy:          backoff{base: cfg.RetryBase, max: cfg.RetryMax},
		MaxAttempts:          cfg.MaxAttempts,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, 100*time.Millisecond),
		// riverdatabasesql (lib/pq) and SQLite have no LISTEN support in
		// River: the queue polls.
		PollOnly: true,
		// No nightly REINDEX of River's indexes: it needs the tables'
		// owner, and on PostgreSQL the server runs as an application role
		// that owns nothing (see the README's database roles). The job
		// tables stay small (mail and adjustment deadlines).
		ReindexerIndexNames: []string{},
		Logger:              cfg.Logger.With("component", "jobs"),
		Middleware:          cfg.Middleware,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &Queue{client: client, workers: workers}, nil
}

// Workers is where packages register the workers of their jobs.
func (q *Queue) Workers() *river.Workers { return q.workers }

// AddPeriodic inserts args every interval (and once at Start), from the
// one process that River elects leader among those sharing the database.
func (q *Queue) AddPeriodic(interval time.Duration, args river.JobArgs) {
	q.client.PeriodicJobs().Add(river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return args, nil },
		&river.PeriodicJobOpts{RunOnStart: true}))
}

// Start works jobs until Stop.
func (q *Queue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop waits for running jobs to finish, up to ctx's deadline.
func (q *Queue) Stop(ctx context.Context) error { return q.client.Stop(ctx) }

// InsertTx adds a job in tx: it commits or rolls back with tx.
func (q *Queue) InsertTx(ctx context.Context, tx *ent.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	sqlTx, err := tx.SQLTx()
	if err != nil {
		return err
	}
	_, err = q.client.InsertTx(ctx, sqlTx, args, opts)
	return err
}

// InsertManyTx adds jobs in tx with one statement: they commit or roll
// back with tx, as InsertTx's do; each takes its kind's insert options.
func (q *Queue) InsertManyTx(ctx context.Context, tx *ent.Tx, args []river.JobArgs) error {
	if len(args) == 0 {
		return nil
	}
	sqlTx, err := tx.SQLTx()
	if err != nil {
		return err
	}
	params := make([]river.InsertManyParams, len(args))
	for i, a := range args {
		params[i] = river.InsertManyParams{Args: a}
	}
	_, err = q.client.InsertManyTx(ctx, sqlTx, params)
	return err
}

// Migrate creates or updates River's tables.
func Migrate(ctx context.Context, sqlDB *sql.DB, dialectName string) error {
	m, err := rivermigrate.New(Driver(sqlDB, dialectName), &rivermigrate.Config{Logger: discardLogger()})
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// Pending reports whether River's tables need migrating.
func Pending(ctx context.Context, sqlDB *sql.DB, dialectName string) (bool, error) {
	m, err := rivermigrate.New(Driver(sqlDB, dialectName), &rivermigrate.Config{Logger: discardLogger()})
	if err != nil {
		return false, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{DryRun: true})
	if err != nil {
		// No river_migration table at all.
		return true, nil
	}
	return len(res.Versions) > 0, nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// backoff is exponential backoff with jitter: base, 2·base, 4·base, ... up
// to max.
type backoff struct{ base, max time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	wait := b.max
	// job.Errors holds this attempt's error too.
	if n := max(len(job.Errors)-1, 0); n < 40 {
		wait = min(b.base<<n, b.max)
	}
	jitter := time.Duration(rand.Int64N(int64(wait)/5 + 1))
	return time.Now().Add(wait - wait/10 + jitter)
}
