// Package apitest runs the server for tests and talks to it through its
// public API, GraphQL over HTTP, against both supported databases.
//
// ForEachDatabase runs a test on the embedded SQLite database and on
// PostgreSQL: TEST_DATABASE_URL if set (a role that may create databases),
// or else a throwaway server started from the machine's PostgreSQL binaries
// (internal/pgtemp). Without PostgreSQL the PostgreSQL half is skipped, and
// says so, unless REQUIRE_POSTGRES=1 (set by .ci/run), when it fails.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent"

	"github.com/clinicemr/usermanager/internal/app"
	"github.com/clinicemr/usermanager/internal/auth"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/jobs"
	"github.com/clinicemr/usermanager/internal/lockout"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/server"
	"github.com/clinicemr/usermanager/internal/telemetry"
	"github.com/clinicemr/usermanager/internal/testdb"
	"github.com/clinicemr/usermanager/internal/users"
)

// Secret is the access-token signing secret of test servers.
var Secret = []byte("test-signing-secret-0123456789abcdef-0123456789")

// ResetKey derives test servers' password-reset link tokens.
var ResetKey = []byte("test-reset-key-0123456789abcdef-0123456789")

// Issuer and Audience of test servers' tokens.
const (
	Issuer   = "usermanager-test"
	Audience = "usermanager-test-api"
)

// Env is one running server on a fresh database with the demo data.
type Env struct {
	T       testing.TB
	Dialect string
	DB      *db.DB
	// App is the server's services (the composition root's).
	App    *app.App
	Auth   *auth.Service
	Server *httptest.Server
	// HTTP is the product's handler that Server serves (drain, streams).
	HTTP *server.Server
	// Password of every demo account (demo.AdminUsername, demo.SupportUsername,
	// and the demo staff).
	Password string
	// Clock is the server's clock; tests may move it (Advance).
	Clock *Clock
	// Events, Jobs: the server's event bus and job queue.
	Events *events.Bus
	Jobs   *jobs.Queue
	// Outbox is where mail goes unless Options.SMTPURL is set.
	Outbox string

	opts       Options
	statements *statementCounter
}

// Statements returns how many SQL statements the server has sent so far.
// Compare it before and after a request to count that request's statements.
func (e *Env) Statements() int64 { return e.statements.n.Load() }

// RecordStatements records the SQL statements the server sends from now on,
// as ent's debug driver reports them (the text, then the arguments), until
// stop is called, which returns them.
func (e *Env) RecordStatements() (stop func() []string) {
	c := e.statements
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recorded, c.recording = nil, true
	return func() []string {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.recording = false
		return c.recorded
	}
}

// statementCounter counts the queries and execs ent's debug driver reports,
// and records them when asked (RecordStatements).
type statementCounter struct {
	n         atomic.Int64
	mu        sync.Mutex
	recording bool
	recorded  []string
}

func (c *statementCounter) log(_ context.Context, args ...any) {
	if len(args) == 0 {
		return
	}
	// ent's client.QueryContext and ExecContext (raw SQL) are logged as
	// "driver.QueryContext:" and "driver.ExecContext:".
	if s, ok := args[0].(string); ok && (strings.Contains(s, ".Query:") || strings.Contains(s, ".Exec:") ||
		strings.Contains(s, ".QueryContext:") || strings.Contains(s, ".ExecContext:")) {
		c.n.Add(1)
		c.mu.Lock()
		if c.recording {
			c.recorded = append(c.recorded, s)
		}
		c.mu.Unlock()
	}
}

// Options tune an Env.
type Options struct {
	// NoDemo starts on an empty database (no demo data).
	NoDemo bool
	// Serial runs ForEachDatabaseWith's databases one after the other, for
	// tests that measure time; by default they run in parallel.
	Serial bool
	// AccessTTL of access tokens (default 15m).
	AccessTTL time.Duration
	// NoStatementCount leaves out the SQL statement counter (benchmarks).
	NoStatementCount bool
	// AdjustmentWindow after which pending license adjustments are
	// processed automatically (default 24h).
	AdjustmentWindow time.Duration
	// SMTPURL sends mail to an SMTP server; by default mail goes to the
	// Env's Outbox directory.
	SMTPURL string
	// JobRetryBase is the first retry delay of failed jobs (default 200ms).
	JobRetryBase time.Duration
	// Lockout policy of sign-in failures (defaults as in production).
	Lockout lockout.Policy
	// ResetMinResponse pads requestPasswordReset (default 300ms).
	ResetMinResponse time.Duration
	// OperationTimeout of queries and mutations (default 15s).
	OperationTimeout time.Duration
	// Production mode: no GraphiQL, no introspection, no suggestions, HSTS.
	Production bool
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// BodyTimeout and UploadTimeout bound how long a request body may take
	// to arrive (defaults as in production).
	BodyTimeout, UploadTimeout time.Duration
	// PostgresURL, if set, rewrites the URL of the PostgreSQL database the
	// server uses (to reach it through a proxy a test can cut).
	PostgresURL func(url string) string
}

// Dialects lists the databases ForEachDatabase covers.
var Dialects = []string{dialect.SQLite, dialect.Postgres}

// ForEachDatabase runs fn as a subtest on SQLite and on PostgreSQL, the two
// in parallel (each has its own server and database).
func ForEachDatabase(t *testing.T, fn func(t *testing.T, env *Env)) {
	t.Helper()
	ForEachDatabaseWith(t, Options{}, fn)
}

// ForEachDatabaseWith is ForEachDatabase with options.
func ForEachDatabaseWith(t *testing.T, opts Options, fn func(t *testing.T, env *Env)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			if !opts.Serial {
				t.Parallel()
			}
			fn(t, New(t, d, opts))
		})
	}
}

// New starts a server on a fresh database of the dialect. It skips the test
// when PostgreSQL is unavailable and not required.
//
// The database is a copy of a seed built once per dialect (internal/testdb):
// migrated, the permission catalog synced and, unless NoDemo, the demo
// practice loaded.
func New(t testing.TB, dialectName string, opts Options) *Env {
	t.Helper()
	seed, fill := "demo", loadDemo
	if opts.NoDemo {
		seed, fill = "empty", syncCatalog
	}
	dsn, password := testdb.Create(t, dialectName, seed, fill)
	if dialectName == dialect.Postgres && opts.PostgresURL != nil {
		dsn = opts.PostgresURL(dsn)
	}
	env := &Env{T: t, Dialect: dialectName, Clock: &Clock{}, Password: password, opts: opts}
	env.start(testdb.Open(t, dialectName, dsn))
	return env
}

func syncCatalog(ctx context.Context, d *db.DB) (string, error) {
	return "", permissions.Sync(ctx, d.Client)
}

// loadDemo fills a seed with the catalog and the demo practice, through the
// composition root as serve does; it returns the demo accounts' password.
func loadDemo(ctx context.Context, d *db.DB) (string, error) {
	if err := permissions.Sync(ctx, d.Client); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "usermanager-demo-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	a, err := app.New(ctx, d, settings(Options{}, dir, time.Now))
	if err != nil {
		return "", err
	}
	defer a.Stop(ctx)
	creds, err := demo.Load(ctx, a, dir)
	if err != nil {
		return "", fmt.Errorf("loading demo data: %w", err)
	}
	return creds.Password, nil
}

// SecondInstance starts another server on the same PostgreSQL database, as
// a second instance behind a load balancer would be: its own connections,
// event listener and job queue.
func (e *Env) SecondInstance() *Env {
	e.T.Helper()
	if e.Dialect != dialect.Postgres {
		e.T.Fatal("a second instance needs PostgreSQL")
	}
	d, err := db.Open(e.DB.URL, "")
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() { d.Close() })
	other := &Env{T: e.T, Dialect: e.Dialect, Clock: e.Clock, Password: e.Password, opts: e.opts}
	other.start(d)
	return other
}

// start runs a server on d.
func (e *Env) start(d *db.DB) {
	t, opts, ctx := e.T, e.opts, context.Background()
	counter := &statementCounter{}
	if !opts.NoStatementCount {
		d.Client = ent.NewClient(ent.Driver(dialect.DebugWithContext(d.Driver, counter.log)))
	}
	e.DB, e.statements = d, counter
	e.Outbox = t.TempDir()
	// The listener first: media URLs are absolute, on the server's address.
	e.Server = httptest.NewUnstartedServer(nil)
	s := settings(opts, e.Outbox, e.Clock.Now)
	s.PublicURL = "http://" + e.Server.Listener.Addr().String()
	metrics := telemetry.NewMetrics()
	s.Metrics = metrics
	a, err := app.New(ctx, d, s)
	if err != nil {
		t.Fatal(err)
	}
	e.App, e.Auth, e.Events, e.Jobs = a, a.Auth, a.Events, a.Jobs
	srv := server.New(server.Options{
		DB: d, Auth: a.Auth, Resolver: a.Resolver(), Media: a.MediaHandler(), AuditExport: a.AuditExportHandler(),
		UsersExport:      a.UsersExportHandler(),
		AllowedOrigins:   []string{"http://localhost:3000"},
		OperationTimeout: opts.OperationTimeout,
		Production:       opts.Production,
		GraphiQL:         !opts.Production,
		Introspection:    !opts.Production,
		TrustedProxies:   opts.TrustedProxies,
		Metrics:          metrics,
		ServeMetrics:     true,
	})
	if err := errors.Join(metrics.WatchDB("main", d.SQL), metrics.WatchJobs(d.SQL)); err != nil {
		t.Fatal(err)
	}
	e.HTTP = srv
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(stopCtx)
	})
	e.Server.Config.Handler = server.BoundBodyReads(srv, server.BodyTimeouts{Body: opts.BodyTimeout, Upload: opts.UploadTimeout})
	e.Server.Start()
	// Uploads carry the header that forces a CORS preflight, as the admin
	// app's upload client sends it (the server refuses multipart without it).
	base := e.Server.Client().Transport
	e.Server.Client().Transport = uploadPreflight{base.(*http.Transport)}
	// Subscriptions end with the bus; close it before the server waits for
	// their connections.
	t.Cleanup(e.Server.Close)
	t.Cleanup(e.Events.Close)
}

// settings are a test server's: the test secrets, mail into outbox, blobs in
// memory, and quick job retries.
func settings(opts Options, outbox string, now func() time.Time) app.Settings {
	ttl := opts.AccessTTL
	if ttl == 0 {
		ttl = 15 * time.Minute
	}
	retry := opts.JobRetryBase
	if retry == 0 {
		retry = 200 * time.Millisecond
	}
	return app.Settings{
		Secret: Secret, Issuer: Issuer, Audience: Audience, AccessTTL: ttl, RefreshTTL: 12 * time.Hour,
		Lockout: opts.Lockout,
		SMTPURL: opts.SMTPURL, MailFrom: "User Manager <no-reply@usermanager.test>", MailOutboxDir: outbox,
		Jobs: jobs.Config{
			RetryBase: retry, RetryMax: 2 * time.Second, PollInterval: 100 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler),
		},
		BlobURL: "mem://", MediaKey: Secret,
		AdjustmentWindow: opts.AdjustmentWindow,
		Resets: users.ResetConfig{Key: ResetKey, LinkURL: "http://localhost:3000/reset-password",
			MinResponse: opts.ResetMinResponse},
		Now: now,
	}
}

// uploadPreflight adds Apollo-Require-Preflight to multipart requests.
type uploadPreflight struct{ *http.Transport }

func (t uploadPreflight) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") && r.Header.Get("Apollo-Require-Preflight") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Apollo-Require-Preflight", "true")
	}
	return t.Transport.RoundTrip(r)
}

// Clock is a settable clock for the server.
type Clock struct{ offset atomic.Int64 }

// Now is the real time plus the offset.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Client is a GraphQL client of an Env, signed in or not.
type Client struct {
	env *Env
	// Token is sent as "Authorization: Bearer <Token>" when set.
	Token string
	// RefreshToken of the session, when signed in.
	RefreshToken string
	// Clinic is sent as X-Clinic-Id when set.
	Clinic string
}

// Anonymous returns a client that is not signed in.
func (e *Env) Anonymous() *Client { return &Client{env: e} }

// Login signs in and fails the test if that does not work.
func (e *Env) Login(login, password string) *Client {
	e.T.Helper()
	c := &Client{env: e}
	var out struct {
		Login struct {
			AccessToken  *string
			RefreshToken *string
			UserErrors   []UserError
		}
	}
	c.MustDo(`mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) {
		accessToken refreshToken userErrors { field message code } } }`,
		map[string]any{"l": login, "p": password}, &out)
	if out.Login.AccessToken == nil {
		e.T.Fatalf("login %s failed: %+v", login, out.Login.UserErrors)
	}
	c.Token, c.RefreshToken = *out.Login.AccessToken, *out.Login.RefreshToken
	return c
}

// LoginDemo signs in as a demo account.
func (e *Env) LoginDemo(username string) *Client { return e.Login(username, e.Password) }

// UserError is a rule violation of a mutation payload.
type UserError struct {
	Field   *string
	Message string
	Code    string
}

// GraphQLError is an error of a GraphQL response.
type GraphQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a GraphQL response.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []GraphQLError  `json:"errors"`
	Body   []byte          `json:"-"`
	// Header of the HTTP answer (Client.Do only).
	Header http.Header `json:"-"`
}

// Codes lists the extensions.code of each error.
func (r *Response) Codes() []string {
	var out []string
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		out = append(out, code)
	}
	return out
}

// Code is the extensions.code of the first error, or "".
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Codes()[0]
}

// Decode unmarshals data into v.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Data) == 0 || string(r.Data) == "null" {
		t.Fatalf("no data in response: %s", r.Body)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Data, err)
	}
}

// authorize adds the client's token and chosen clinic to a request.
func (c *Client) authorize(h http.Header) {
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Clinic != "" {
		h.Set(auth.ClinicHeader, c.Clinic)
	}
}

// Mail returns the text of every message in the outbox, with
// quoted-printable soft line breaks and "=3D" undone so links read whole.
func (e *Env) Mail() []string {
	e.T.Helper()
	files, _ := filepath.Glob(filepath.Join(e.Outbox, "*.eml"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			e.T.Fatal(err)
		}
		out = append(out, strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(b)))
	}
	return out
}

// Do sends a query and returns the response, whatever it holds.
func (c *Client) Do(query string, vars map[string]any) *Response {
	c.env.T.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.env.Server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	c.authorize(req.Header)
	res, err := c.env.Server.Client().Do(req)
	if err != nil {
		c.env.T.Fatalf("POST /graphql: %v", err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	r := &Response{Status: res.StatusCode, Body: buf.Bytes(), Header: res.Header}
	if err := json.Unmarshal(buf.Bytes(), r); err != nil {
		c.env.T.Fatalf("response is not JSON (status %d): %s", res.StatusCode, buf.Bytes())
	}
	if bytes.Contains(buf.Bytes(), []byte("goroutine ")) || bytes.Contains(buf.Bytes(), []byte(".go:")) {
		c.env.T.Fatalf("response leaks a stack trace or source location: %s", buf.Bytes())
	}
	return r
}

// MustDo sends a query, fails the test on any GraphQL error, and decodes
// data into out (if not nil).
func (c *Client) MustDo(query string, vars map[string]any, out any) {
	c.env.T.Helper()
	r := c.Do(query, vars)
	if len(r.Errors) > 0 {
		c.env.T.Fatalf("query failed: %s\nquery: %s", r.Body, strings.TrimSpace(query))
	}
	if out != nil {
		r.Decode(c.env.T, out)
	}
}
