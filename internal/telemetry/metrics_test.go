package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/jobs"
	"github.com/clinicemr/usermanager/internal/mail"
	"github.com/clinicemr/usermanager/internal/testdb"
	"github.com/clinicemr/usermanager/internal/users"
)

// The throwaway PostgreSQL server, if a test started one, stops at the end.
func TestMain(m *testing.M) { testdb.Main(m) }

func TestGraphQLMetricsCountOperationsByOutcome(t *testing.T) {
	m := NewMetrics()
	srv := newTestSchema().newServer(m.GraphQL())
	for _, q := range []string{
		"query Hello { hello }", "query Hello { hello }", "{ hello }",
		"query Fail { hello fail }", "query Broken { fail broken }", "query Down { down }",
		"query Invalid { nope }",
	} {
		post(t, srv, q, nil)
	}
	for _, c := range []struct {
		operation, typ, outcome string
		want                    float64
	}{
		{"Hello", "query", "ok", 2},
		{"anonymous", "query", "ok", 1},
		{"Fail", "query", "client_error", 1},
		{"Broken", "query", "internal_error", 1}, // the worst error wins
		{"Down", "query", "unavailable", 1},
		{"unknown", "unknown", "client_error", 1}, // refused by validation
	} {
		if got := testutil.ToFloat64(m.operations.WithLabelValues(c.operation, c.typ, c.outcome)); got != c.want {
			t.Errorf("operations{%s,%s,%s} = %v, want %v", c.operation, c.typ, c.outcome, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.operations); n != 6 {
		t.Errorf("%d operation series, want 6", n)
	}
	// Timed: the five executed operations' names, not the refused one.
	if n := testutil.CollectAndCount(m.operationDuration); n != 5 {
		t.Errorf("%d duration series, want 5", n)
	}
}

func TestOperationLabelsAreBounded(t *testing.T) {
	s := newNameSet(2)
	for _, c := range []struct{ name, want string }{
		{"", "anonymous"},
		{"A", "A"},
		{"B", "B"},
		{"C", "other"}, // over the cap
		{"A", "A"},     // known names keep their label
		{strings.Repeat("x", 65), "other"},
		{"not a name", "other"},
	} {
		if got := s.label(c.name); got != c.want {
			t.Errorf("label(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

// dispatch starts query on exec the way a transport does.
func dispatch(t *testing.T, ctx context.Context, exec *executor.Executor, query string) (graphql.ResponseHandler, context.Context) {
	t.Helper()
	ctx = graphql.StartOperationTrace(ctx)
	rc, errs := exec.CreateOperationContext(ctx, &graphql.RawParams{Query: query})
	if errs != nil {
		t.Fatalf("%s: %v", query, errs)
	}
	return exec.DispatchOperation(ctx, rc)
}

func TestActiveSubscriptionsGoUpAndDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMetrics()
		s := newTestSchema()
		exec := executor.New(s.executable())
		exec.Use(m.GraphQL())

		// A stream that ends (the transport reads nil).
		responses, ctx := dispatch(t, t.Context(), exec, "subscription Ticks { tick }")
		if got := testutil.ToFloat64(m.activeSubscriptions); got != 1 {
			t.Fatalf("active subscriptions = %v after start, want 1", got)
		}
		s.events <- "1"
		if resp := responses(ctx); resp == nil || string(resp.Data) != `{"tick":"1"}` {
			t.Fatalf("first event = %+v", resp)
		}
		close(s.events)
		if resp := responses(ctx); resp != nil {
			t.Fatalf("end of stream = %+v, want nil", resp)
		}
		if got := testutil.ToFloat64(m.activeSubscriptions); got != 0 {
			t.Fatalf("active subscriptions = %v after the end, want 0", got)
		}

		// A stream whose transport stops asking (an SSE client gone): the
		// end of its context ends it.
		s.events = make(chan string)
		opCtx, cancel := context.WithCancel(t.Context())
		_, _ = dispatch(t, opCtx, exec, "subscription Ticks { tick }")
		if got := testutil.ToFloat64(m.activeSubscriptions); got != 1 {
			t.Fatalf("active subscriptions = %v after the second start, want 1", got)
		}
		cancel()
		synctest.Wait()
		if got := testutil.ToFloat64(m.activeSubscriptions); got != 0 {
			t.Fatalf("active subscriptions = %v after cancel, want 0", got)
		}
		if got := testutil.ToFloat64(m.operations.WithLabelValues("Ticks", "subscription", "ok")); got != 2 {
			t.Errorf("subscriptions counted %v times, want 2", got)
		}
		if n := testutil.CollectAndCount(m.operationDuration); n != 0 {
			t.Errorf("subscriptions are not timed, got %d duration series", n)
		}
	})
}

func TestHTTPMetricsByRouteClass(t *testing.T) {
	m := NewMetrics()
	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{}")) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/ws", func(w http.ResponseWriter, _ *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack through the metrics writer: %v", err)
			return
		}
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		_ = rw.Flush()
		_ = conn.Close()
	})
	ts := httptest.NewServer(m.HTTP(mux))
	defer ts.Close()
	for _, path := range []string{"/graphql", "/graphql", "/healthz", "/media/abc?sig=secret", "/nowhere", "/ws"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, c := range []struct {
		route, code string
		want        float64
	}{
		{"graphql", "200", 2}, {"health", "204", 1}, {"media", "404", 1}, {"other", "404", 1}, {"other", "101", 1},
	} {
		if got := testutil.ToFloat64(m.httpRequests.WithLabelValues(c.route, c.code)); got != c.want {
			t.Errorf("http_requests{%s,%s} = %v, want %v", c.route, c.code, got, c.want)
		}
	}
	// Timed: graphql, health, media and other (the hijacked request is not).
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("other", "101")); got != 1 {
		t.Errorf("hijacked request not counted")
	}
	if n := testutil.CollectAndCount(m.httpDuration); n != 4 {
		t.Errorf("%d duration series, want 4", n)
	}
}

func TestRouteClassesMatchServerPaths(t *testing.T) {
	if mediaPrefix != users.URLPrefix+"/" {
		t.Errorf("mediaPrefix %q, users.URLPrefix %q", mediaPrefix, users.URLPrefix)
	}
	if auditExportPrefix != audit.ExportPrefix+"/" {
		t.Errorf("auditExportPrefix %q, audit.ExportPrefix %q", auditExportPrefix, audit.ExportPrefix)
	}
}

type fakeSender struct{ err error }

func (f fakeSender) Send(context.Context, string, mail.Message) error { return f.err }

func TestMailSenderCounts(t *testing.T) {
	m := NewMetrics()
	ok, failing := m.MailSender(fakeSender{}), m.MailSender(fakeSender{errors.New("smtp down")})
	_ = ok.Send(t.Context(), "1", mail.Message{})
	_ = ok.Send(t.Context(), "2", mail.Message{})
	if err := failing.Send(t.Context(), "3", mail.Message{}); err == nil {
		t.Error("the sender's error was swallowed")
	}
	if got := testutil.ToFloat64(m.mail.WithLabelValues("sent")); got != 2 {
		t.Errorf("sent = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.mail.WithLabelValues("failed")); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
}

func TestJobMiddlewareCountsFailures(t *testing.T) {
	m := NewMetrics()
	mw := m.JobMiddleware()
	job := &rivertype.JobRow{Kind: "send_email"}
	work := func(err error) func(context.Context) error { return func(context.Context) error { return err } }
	_ = mw.Work(t.Context(), job, work(nil))
	_ = mw.Work(t.Context(), job, work(errors.New("smtp down")))
	_ = mw.Work(t.Context(), job, work(river.JobSnooze(time.Minute)))
	_ = mw.Work(t.Context(), job, work(river.JobCancel(errors.New("give up"))))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach River")
			}
		}()
		_ = mw.Work(t.Context(), job, func(context.Context) error { panic("bug") })
	}()
	if got := testutil.ToFloat64(m.jobFailures.WithLabelValues("send_email")); got != 3 {
		t.Errorf("failures = %v, want 3 (error, cancel, panic)", got)
	}
}

type testJobArgs struct{}

func (testJobArgs) Kind() string { return "telemetry_test" }

func TestWatchJobsAndDB(t *testing.T) {
	for _, dialectName := range []string{dialect.SQLite, dialect.Postgres} {
		t.Run(dialectName, func(t *testing.T) { testWatchJobsAndDB(t, dialectName) })
	}
}

func testWatchJobsAndDB(t *testing.T, dialectName string) {
	ctx := t.Context()
	d, _ := testdb.New(t, dialectName, "telemetry", nil) // River's tables included
	client, err := river.NewClient(jobs.Driver(d.SQL, d.Dialect), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := client.Insert(ctx, testJobArgs{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Insert(ctx, testJobArgs{}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	m := NewMetrics()
	if err := m.WatchJobs(d.SQL); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchDB("writes", d.SQL); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchDB("writes", d.SQL); err == nil {
		t.Error("a second pool under the same name was accepted")
	}
	want := `
# HELP usermanager_jobs Jobs in the queue by state, counted at scrape time.
# TYPE usermanager_jobs gauge
usermanager_jobs{state="available"} 2
usermanager_jobs{state="cancelled"} 0
usermanager_jobs{state="completed"} 0
usermanager_jobs{state="discarded"} 0
usermanager_jobs{state="pending"} 0
usermanager_jobs{state="retryable"} 0
usermanager_jobs{state="running"} 0
usermanager_jobs{state="scheduled"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "usermanager_jobs"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "go_sql_max_open_connections"); err != nil || n != 1 {
		t.Errorf("go_sql_max_open_connections: %d series, %v", n, err)
	}

	// Served over HTTP with the rest.
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `usermanager_jobs{state="available"} 2`) ||
		!strings.Contains(w.Body.String(), "go_goroutines") || !strings.Contains(w.Body.String(), `go_sql_open_connections{db_name="writes"}`) {
		t.Errorf("/metrics answered %d:\n%.2000s", w.Code, w.Body.String())
	}
}

func TestMetricsServedWhenTheJobQueryFails(t *testing.T) {
	sqlDB, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "empty.db")) // no river_job table
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	m := NewMetrics()
	if err := m.WatchJobs(sqlDB); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "go_goroutines") {
		t.Errorf("/metrics answered %d:\n%.500s", w.Code, w.Body.String())
	}
}

type failingArgs struct{}

func (failingArgs) Kind() string { return "telemetry_failing" }

// The middleware as River installs it: a job that fails is counted by the
// time River reports the failure.
func TestJobMiddlewareInRiver(t *testing.T) {
	ctx := t.Context()
	d, err := db.OpenSQLite(filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := jobs.Migrate(ctx, d.SQL, dialect.SQLite); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	// The queue's own configuration accepts it.
	if _, err := jobs.New(d.SQL, dialect.SQLite, jobs.Config{Middleware: []rivertype.Middleware{m.JobMiddleware()}}); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[failingArgs]) error {
		return errors.New("always fails")
	}))
	client, err := river.NewClient(riversqlite.New(d.SQL), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
		Workers:           workers,
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     20 * time.Millisecond,
		PollOnly:          true,
		Middleware:        []rivertype.Middleware{m.JobMiddleware()},
		Logger:            slogDiscard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := client.Subscribe(river.EventKindJobFailed)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Stop(context.WithoutCancel(ctx)) }()
	if _, err := client.Insert(ctx, failingArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-events:
	case <-time.After(30 * time.Second):
		t.Fatal("the job was not worked")
	}
	if got := testutil.ToFloat64(m.jobFailures.WithLabelValues("telemetry_failing")); got != 1 {
		t.Errorf("failures = %v, want 1", got)
	}
}
