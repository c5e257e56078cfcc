package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// jobStates are River's job states, reported even when no job is in them.
var jobStates = []string{
	string(rivertype.JobStateAvailable), string(rivertype.JobStateCancelled),
	string(rivertype.JobStateCompleted), string(rivertype.JobStateDiscarded),
	string(rivertype.JobStatePending), string(rivertype.JobStateRetryable),
	string(rivertype.JobStateRunning), string(rivertype.JobStateScheduled),
}

// jobsQueryTimeout bounds the query a scrape runs.
const jobsQueryTimeout = 2 * time.Second

// jobsSQL counts River's jobs by state. River's table is river_job on
// SQLite (riversqlite) and on PostgreSQL (riverdatabasesql, in the
// connection's search_path) alike.
const jobsSQL = `SELECT state, COUNT(*) FROM river_job GROUP BY state`

// WatchJobs exports usermanager_jobs{state}: the number of River jobs in
// each state (available and scheduled are the queue's depth; retryable are
// waiting to be retried; discarded have failed for good), counted in db at
// scrape time.
func (m *Metrics) WatchJobs(db *sql.DB) error {
	return m.reg.Register(&jobsCollector{db: db, desc: prometheus.NewDesc(
		namespace+"_jobs", "Jobs in the queue by state, counted at scrape time.", []string{"state"}, nil)})
}

type jobsCollector struct {
	db   *sql.DB
	desc *prometheus.Desc
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.count()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, n, state)
	}
}

func (c *jobsCollector) count() (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jobsQueryTimeout)
	defer cancel()
	rows, err := c.db.QueryContext(ctx, jobsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := make(map[string]float64, len(jobStates))
	for _, s := range jobStates {
		counts[s] = 0
	}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, err
		}
		counts[state] = float64(n)
	}
	return counts, rows.Err()
}

// JobMiddleware counts failed job attempts in
// usermanager_job_failures_total{kind}: an attempt that returns an error
// (a cancellation included) or panics; a snooze is no failure. Install it
// in the queue's river.Config.Middleware (jobs.Config.Middleware).
func (m *Metrics) JobMiddleware() rivertype.WorkerMiddleware {
	return &jobMiddleware{failures: m.jobFailures}
}

type jobMiddleware struct {
	river.MiddlewareDefaults
	failures *prometheus.CounterVec
}

func (j *jobMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) (err error) {
	panicked := true
	defer func() {
		// River recovers the panic further out; count it and let it go on.
		if panicked {
			j.failures.WithLabelValues(job.Kind).Inc()
		}
	}()
	err = doInner(ctx)
	panicked = false
	var snooze *rivertype.JobSnoozeError
	if err != nil && !errors.As(err, &snooze) {
		j.failures.WithLabelValues(job.Kind).Inc()
	}
	return err
}
