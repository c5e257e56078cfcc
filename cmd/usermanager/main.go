// Command usermanager is the clinic User Manager server.
//
//	usermanager [serve]       serve the API, GraphiQL and health endpoints
//	usermanager migrate [--app-role NAME]
//	                          bring the database schema up to date; on
//	                          PostgreSQL, grant serve's role what it needs
//	usermanager create-support --username U --email E
//	                          create a Support account; the password comes from
//	                          USERMANAGER_PASSWORD or standard input
//	usermanager seed --users N --clinics M
//	                          load a large practice for benchmarks and demos
//	usermanager licenses check [--repair]
//	                          compare the kept license counts with the licenses
//	usermanager audit verify [--checkpoints FILE]
//	                          check the audit trail's hash chains
//	usermanager audit seal    seal the audit records not sealed yet
//	usermanager version       print the version, commit and build time
//
// Every command takes --help. The configuration (environment variables) is
// checked in full before a command does anything.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/app"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/config"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/jobs"
	"github.com/clinicemr/usermanager/internal/lockout"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/requestinfo"
	"github.com/clinicemr/usermanager/internal/seed"
	"github.com/clinicemr/usermanager/internal/server"
	"github.com/clinicemr/usermanager/internal/telemetry"
	"github.com/clinicemr/usermanager/internal/users"
)

// commandHelp describes each command: its synopsis and what it does, as
// in the usage text.
var commandHelp = []struct{ name, text string }{
	{"serve", `  usermanager [serve]        serve /graphql, GraphiQL at /, /healthz and /readyz
`},
	{"migrate", `  usermanager migrate [--app-role NAME]
                             bring the database schema up to date; on
                             PostgreSQL, run it as the owner role, and with
                             --app-role (or APP_ROLE) create the role serve
                             runs as if missing and grant it only what serve
                             needs: no ownership, and audit records it may
                             only insert and read
`},
	{"create-support", `  usermanager create-support --username U --email E [--first-name F --last-name L]
                             create a platform Support account; the password is
                             read from USERMANAGER_PASSWORD or standard input
`},
	{"seed", `  usermanager seed --users N --clinics M [--organization NAME] [--admin-username U]
                             load a practice of N staff in M clinics (realistic
                             types, statuses, clinic access, licenses) for
                             benchmarks and demos; its administrator's password
                             is USERMANAGER_PASSWORD, or generated and printed
`},
	{"licenses", `  usermanager licenses check [--repair]
                             count every clinic's licenses and pending
                             adjustments from the rows, compare with the counts
                             licenseCounts reads, list any difference and exit
                             1; --repair rewrites the counts from the rows
`},
	{"audit", `  usermanager audit verify [--checkpoints FILE]
                             walk every organization's audit hash chain:
                             print each chain's record count and head and exit
                             0, or name the first record that breaks a chain
                             (changed, removed, reordered) and exit 1; also
                             exit 1 when records wait longer than a minute for
                             their seal. FILE holds checkpoints the chains
                             must still pass through: serve appends the heads
                             every hour to AUDIT_CHECKPOINT_FILE (default
                             DATA_DIR/audit-checkpoints.jsonl on the embedded
                             database; on PostgreSQL none, they are logged)
  usermanager audit seal     seal the records not sealed yet (serve does it
                             every 5 seconds)
`},
	{"version", `  usermanager version        print the version, commit and build time (also
                             --version); reads no configuration
`},
}

func usage() string {
	var b strings.Builder
	b.WriteString("usermanager: the clinic User Manager (GraphQL API)\n\nUsage:\n")
	for _, c := range commandHelp {
		b.WriteString(c.text)
	}
	b.WriteString(`  usermanager help [COMMAND] show this help, or a command's (also COMMAND --help)

Configuration (environment variables, all optional on the embedded database).
Every variable is checked before anything starts, and every problem is listed:
`)
	return b.String() + config.Help()
}

// runFunc runs a command once its flags are parsed and the configuration is
// loaded.
type runFunc func(context.Context, *config.Config) error

// errHelpShown: the command's help was printed; nothing else is done.
var errHelpShown = errors.New("help shown")

// usageError is a command line that is wrong (exit status 2).
type usageError struct {
	err  error
	help string
}

func (e usageError) Error() string { return e.err.Error() }

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		if len(args) == 0 {
			fmt.Print(usage())
			return
		}
		// `usermanager help migrate` is `usermanager migrate --help`.
		cmd, args = args[0], []string{"--help"}
	}
	switch cmd {
	case "version", "-version", "--version":
		switch {
		case len(args) == 0:
			printVersion(os.Stdout)
		case args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
			fmt.Print(commandUsage(nil, "version"))
		default:
			fmt.Fprintf(os.Stderr, "usermanager version: unexpected argument %q\n\n%s", args[0], commandUsage(nil, "version"))
			os.Exit(2)
		}
		return
	}
	// The command line is read before the configuration, and both before
	// anything is opened: --help and mistakes do nothing.
	run, err := parseCommand(cmd, args)
	if err == nil {
		err = withConfig(run)
	}
	var usageErr usageError
	switch {
	case err == nil:
	case errors.Is(err, errHelpShown):
	case errors.As(err, &usageErr):
		fmt.Fprintf(os.Stderr, "usermanager %s: %v\n\n%s", cmd, err, usageErr.help)
		os.Exit(2)
	default:
		// Plain text, not a log record: a refusal to start lists its
		// reasons one per line for the person starting the server.
		fmt.Fprintf(os.Stderr, "usermanager %s failed: %v\n", cmd, err)
		os.Exit(1)
	}
}

// parseCommand reads a command's arguments; it opens nothing.
func parseCommand(cmd string, args []string) (runFunc, error) {
	switch cmd {
	case "serve":
		if err := parseFlags(newFlags("serve"), "serve", args); err != nil {
			return nil, err
		}
		return serve, nil
	case "migrate":
		return migrateCommand(args)
	case "create-support":
		return createSupportCommand(args)
	case "seed":
		return seedCommand(args)
	case "licenses":
		return licensesCommand(args)
	case "audit":
		return auditCommand(args)
	}
	return nil, usageError{fmt.Errorf("unknown command %q", cmd), usage()}
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// parseFlags prints the help, on standard output when asked for.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// commandUsage is a command's help: its synopsis and description, and its
// flags.
func commandUsage(fs *flag.FlagSet, cmd string) string {
	var b strings.Builder
	b.WriteString("Usage:\n")
	for _, c := range commandHelp {
		if c.name == cmd {
			b.WriteString(c.text)
		}
	}
	if fs != nil {
		var flags strings.Builder
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if flags.Len() > 0 {
			b.WriteString("\nFlags:\n" + flags.String())
		}
	}
	b.WriteString("\nThe configuration comes from environment variables: see usermanager --help.\n")
	return b.String()
}

// parseFlags parses a command's flags, which take no other arguments:
// --help prints the command's help (errHelpShown), a mistake is a
// usageError.
func parseFlags(fs *flag.FlagSet, cmd string, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(commandUsage(fs, cmd))
		return errHelpShown
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		return usageError{err, commandUsage(fs, cmd)}
	}
	return nil
}

// subcommand reads the subcommand of licenses and audit: one of names, or
// --help.
func subcommand(cmd string, args []string, names ...string) (string, error) {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			fmt.Print(commandUsage(nil, cmd))
			return "", errHelpShown
		}
		for _, n := range names {
			if args[0] == n {
				return n, nil
			}
		}
		return "", usageError{fmt.Errorf("unknown subcommand %q", args[0]), commandUsage(nil, cmd)}
	}
	return "", usageError{errors.New("a subcommand is needed"), commandUsage(nil, cmd)}
}

func withConfig(run runFunc) error {
	cfg, warnings, err := config.Load()
	if err != nil {
		for _, w := range warnings {
			// Logging is not set up (the configuration is wrong), but a
			// misspelt name may well be the cause.
			fmt.Fprintln(os.Stderr, "warning: "+w)
		}
		return err
	}
	setupLogging(cfg)
	for _, w := range warnings {
		slog.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return run(ctx, cfg)
}

func setupLogging(cfg *config.Config) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // checked by config.Load
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	// Every line written while serving a request carries its ID.
	slog.SetDefault(slog.New(requestinfo.LogHandler(h)))
}

// open connects to the database and, where appropriate, migrates it.
func open(ctx context.Context, cfg *config.Config, migrateNow bool) (*db.DB, error) {
	d, err := db.Open(cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.Embedded() || migrateNow {
		err = d.Migrate(ctx)
	} else {
		err = d.CheckMigrated(ctx)
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	if err := permissions.Sync(ctx, d.Client); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func serve(ctx context.Context, cfg *config.Config) error {
	started := time.Now()
	// Listen first: an address in use fails before the database is opened
	// or the demo data loaded. (config.Load checked the address and the TLS
	// files.) Connections wait in the backlog until Serve below.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	defer ln.Close()
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		defer metricsLn.Close()
	}
	// Tracing before anything that makes spans (OTEL_*; off by default).
	stopTracing, err := telemetry.SetupTracing(ctx)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			slog.Warn("flushing traces", "error", err)
		}
	}()
	secret, err := cfg.SigningSecret()
	if err != nil {
		return err
	}
	d, err := open(ctx, cfg, cfg.MigrateOnStart)
	if err != nil {
		return err
	}
	defer d.Close()
	// Not fatal: the pool opens what it can when requests come (a server
	// whose PostgreSQL is near max_connections still starts).
	if err := d.Warm(ctx); err != nil {
		slog.Warn("warming the database pool", "error", err)
	}
	if telemetry.TracingEnabled() {
		d.Driver = telemetry.TraceDriver(d.Driver, telemetry.DBSystem(d.Dialect))
		d.Client = ent.NewClient(ent.Driver(d.Driver))
	}
	metrics := telemetry.NewMetrics()
	if err := watchDB(metrics, d); err != nil {
		return err
	}
	if may, err := d.MayRewriteAuditTrail(ctx); err != nil {
		return err
	} else if may {
		slog.Warn("serve runs as a PostgreSQL role that can rewrite the audit trail (its owner, or a superuser): " +
			"run serve as the application role that `usermanager migrate --app-role NAME` grants (README: Database roles)")
	}
	proxies, err := cfg.TrustedProxyPrefixes()
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, d, secret, metrics)
	if err != nil {
		return err
	}
	if cfg.Embedded() && cfg.DemoData {
		creds, err := demo.Load(ctx, a, cfg.DataDir)
		if err != nil {
			return fmt.Errorf("loading demo data: %w", err)
		}
		if creds != nil {
			slog.Info("loaded the demo organization: sign in as "+creds.AdminUsername+
				" (practice administrator) or "+creds.SupportUsername+" (platform Support)",
				"password_file", creds.File)
		}
	}
	publicURL, _ := url.Parse(cfg.PublicBaseURL()) // checked by config.Load
	srv := server.New(server.Options{
		DB: d, Auth: a.Auth, Resolver: a.Resolver(), Media: a.MediaHandler(), AuditExport: a.AuditExportHandler(),
		UsersExport:      a.UsersExportHandler(),
		AllowedOrigins:   cfg.CORSAllowedOrigins,
		AllowedHeaders:   cfg.CORSAllowedHeaders,
		PublicPath:       publicURL.Path,
		OperationTimeout: cfg.OperationTimeout,
		Production:       cfg.Production,
		GraphiQL:         cfg.GraphiQLEnabled(),
		Introspection:    cfg.IntrospectionEnabled(),
		TrustedProxies:   proxies,
		Metrics:          metrics,
		ServeMetrics:     metricsLn == nil,
	})
	// The job queue outlives the signal context: Stop below lets running
	// jobs finish.
	if err := a.Start(ctx); err != nil {
		return err
	}
	if cfg.SMTPURL == "" {
		slog.Info("no SMTP_URL: mail is written to the outbox", "dir", cfg.MailOutboxDir)
	}
	// No ReadTimeout or WriteTimeout: they would end WebSockets and SSE
	// streams. Bodies are bounded per request by BoundBodyReads. Requests
	// do not end with the signal: they are served while draining, and
	// streams are ended by EndStreams.
	httpSrv := &http.Server{
		Handler:           server.BoundBodyReads(srv, server.BodyTimeouts{Body: cfg.BodyTimeout, Upload: cfg.UploadTimeout}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 2)
	var metricsSrv *http.Server
	if metricsLn != nil {
		metricsSrv = &http.Server{Handler: metrics.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- metricsSrv.Serve(metricsLn) }()
	}
	database := "embedded SQLite in " + cfg.DataDir
	if !cfg.Embedded() {
		database = "PostgreSQL"
	}
	slog.Info("ready", "addr", ln.Addr().String(), "public_url", cfg.PublicBaseURL(),
		"graphiql", "http://"+displayAddr(ln.Addr())+"/",
		"database", database, "startup", time.Since(started).Round(time.Millisecond))
	go func() {
		if cfg.TLSCertFile != "" {
			errc <- httpSrv.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
			return
		}
		errc <- httpSrv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain: /readyz fails while requests are still served, so the load
	// balancer takes this instance out before it stops listening.
	drain := cfg.DrainPeriod()
	slog.Info("shutting down", "drain", drain, "timeout", cfg.ShutdownTimeout)
	srv.Drain()
	if drain > 0 {
		select {
		case <-time.After(drain):
		case err := <-errc:
			return err
		}
	}
	// WebSockets close as a restart (clients reconnect elsewhere), then
	// the subscriptions' event bus; queries in flight finish below.
	srv.EndStreams()
	a.Events.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(shutdownCtx)
	}
	if err := a.Stop(shutdownCtx); err != nil {
		return fmt.Errorf("stopping the job queue: %w", err)
	}
	slog.Info("stopped")
	return nil
}

// watchDB registers the database's connection pools with the metrics.
func watchDB(m *telemetry.Metrics, d *db.DB) error {
	var errs []error
	if reads := d.ReadPool(); reads != nil {
		errs = append(errs, m.WatchDB("writes", d.SQL), m.WatchDB("reads", reads))
	} else {
		errs = append(errs, m.WatchDB("main", d.SQL))
	}
	return errors.Join(append(errs, m.WatchJobs(d.SQL))...)
}

// newApp builds the services (the composition root) from the configuration.
// metrics may be nil (commands other than serve).
func newApp(ctx context.Context, cfg *config.Config, d *db.DB, secret []byte, metrics *telemetry.Metrics) (*app.App, error) {
	blobURL, err := cfg.BlobBucketURL()
	if err != nil {
		return nil, err
	}
	return app.New(ctx, d, app.Settings{
		Secret: secret, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL,
		Lockout: lockout.Policy{
			Threshold: cfg.LockoutThreshold, Base: cfg.LockoutBase, Max: cfg.LockoutMax, IPThreshold: cfg.LockoutIPLimit,
		},
		SMTPURL: cfg.SMTPURL, MailFrom: cfg.MailFrom, MailOutboxDir: cfg.MailOutboxDir,
		Jobs: jobs.Config{
			RetryBase: cfg.JobRetryBase, RetryMax: cfg.JobRetryMax,
			JobTimeout: cfg.JobTimeout, RescueAfter: cfg.JobRescueAfter, PollInterval: cfg.JobPollInterval,
		},
		BlobURL: blobURL, MediaKey: config.MediaSecret(secret),
		AdjustmentWindow:    cfg.AdjustmentWindow,
		AuditCheckpointFile: cfg.CheckpointFile(),
		Resets: users.ResetConfig{
			Key: config.ResetSecret(secret), TTL: cfg.PasswordResetTTL, LinkURL: cfg.PasswordResetURL,
			InvitationTTL: cfg.InvitationTTL,
		},
		PublicURL: cfg.PublicBaseURL(),
		Metrics:   metrics,
	})
}

func displayAddr(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// migrateCommand reads migrate's flags.
func migrateCommand(args []string) (runFunc, error) {
	fs := newFlags("migrate")
	appRole := fs.String("app-role", "",
		"PostgreSQL: the role serve runs as, created if missing and granted only what serve needs (default APP_ROLE)")
	if err := parseFlags(fs, "migrate", args); err != nil {
		return nil, err
	}
	return func(ctx context.Context, cfg *config.Config) error {
		role := *appRole
		if role == "" {
			role = cfg.AppRole
		}
		return migrate(ctx, cfg, role)
	}, nil
}

// migrate applies the migrations and, with an app role, (re)grants the role
// serve runs as (db.GrantAppRole).
func migrate(ctx context.Context, cfg *config.Config, appRole string) error {
	if appRole != "" && cfg.Embedded() {
		return errors.New("--app-role (APP_ROLE) needs a PostgreSQL DATABASE_URL: the embedded database has no roles")
	}
	d, err := open(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	slog.Info("the database schema is up to date")
	if appRole != "" {
		if err := d.GrantAppRole(ctx, appRole); err != nil {
			return err
		}
		slog.Info("granted the application role what serve needs", "role", appRole)
	}
	return nil
}

// createSupportCommand reads create-support's flags.
func createSupportCommand(args []string) (runFunc, error) {
	fs := newFlags("create-support")
	username := fs.String("username", "", "the Support account's username (required)")
	email := fs.String("email", "", "the Support account's email address (required)")
	first := fs.String("first-name", "Platform", "first name")
	last := fs.String("last-name", "Support", "last name")
	if err := parseFlags(fs, "create-support", args); err != nil {
		return nil, err
	}
	if *username == "" || *email == "" {
		return nil, usageError{errors.New("--username and --email are required"), commandUsage(fs, "create-support")}
	}
	return func(ctx context.Context, cfg *config.Config) error {
		return createSupport(ctx, cfg, *username, *email, *first, *last)
	}, nil
}

func createSupport(ctx context.Context, cfg *config.Config, username, email, first, last string) error {
	password, err := readPassword(os.Stdin)
	if err != nil {
		return err
	}
	d, err := open(ctx, cfg, cfg.Embedded())
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := users.CreateSupport(ctx, d.Client, username, email, password, first, last)
	if l, ok := apperr.AsList(err); ok {
		for _, e := range l {
			field := ""
			if e.Field != nil {
				field = *e.Field + ": "
			}
			fmt.Fprintf(os.Stderr, "%s%s (%s)\n", field, e.Message, e.Code)
		}
		return errors.New("the Support account was not created")
	}
	if err != nil {
		return err
	}
	slog.Info("created Support account", "username", u.Username)
	return nil
}

// openApp opens the database (migrating the embedded one) and builds the
// services, for commands that work on the data without serving it.
func openApp(ctx context.Context, cfg *config.Config) (*app.App, func(), error) {
	secret, err := cfg.SigningSecret()
	if err != nil {
		return nil, nil, err
	}
	d, err := open(ctx, cfg, cfg.Embedded())
	if err != nil {
		return nil, nil, err
	}
	a, err := newApp(ctx, cfg, d, secret, nil)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return a, func() { d.Close() }, nil
}

// seedCommand reads seed's flags.
func seedCommand(args []string) (runFunc, error) {
	fs := newFlags("seed")
	users := fs.Int("users", 10_000, "staff members to create")
	clinics := fs.Int("clinics", 50, "clinics to create")
	org := fs.String("organization", "Seeded Therapy Network", "the practice's name")
	admin := fs.String("admin-username", "seed.admin", "the practice administrator's username")
	if err := parseFlags(fs, "seed", args); err != nil {
		return nil, err
	}
	return func(ctx context.Context, cfg *config.Config) error {
		return seedPractice(ctx, cfg, *users, *clinics, *org, *admin)
	}, nil
}

// seedPractice loads a large practice (internal/seed).
func seedPractice(ctx context.Context, cfg *config.Config, users, clinics int, org, admin string) error {
	password, generated := os.Getenv("USERMANAGER_PASSWORD"), false
	if password == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		password, generated = "Seed-"+base64.RawURLEncoding.EncodeToString(b)+"-7!", true
	}
	a, closeApp, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeApp()
	last := time.Now()
	p, err := seed.Load(ctx, a, seed.Options{
		Users: users, Clinics: clinics, Organization: org,
		AdminUsername: admin, AdminPassword: password,
		Progress: func(done int) {
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				slog.Info("seeding", "users", done, "of", users)
			}
		},
	})
	if err != nil {
		return err
	}
	slog.Info("seeded the practice", "organization", org, "users", p.Users, "licenses", p.Licenses,
		"clinics", len(p.ClinicIDs), "took", p.Took.Round(time.Millisecond))
	if generated {
		fmt.Printf("Sign in as %s with the password %s\n", admin, password)
	}
	return nil
}

// licensesCommand reads `licenses check`'s flags.
func licensesCommand(args []string) (runFunc, error) {
	if _, err := subcommand("licenses", args, "check"); err != nil {
		return nil, err
	}
	fs := newFlags("licenses check")
	repair := fs.Bool("repair", false, "rewrite the kept counts from the licenses and adjustments")
	if err := parseFlags(fs, "licenses", args[1:]); err != nil {
		return nil, err
	}
	return func(ctx context.Context, cfg *config.Config) error { return checkLicenses(ctx, cfg, *repair) }, nil
}

// checkLicenses compares the kept license counts with the rows
// (licenses.Service.Check) and, with repair, rewrites them.
func checkLicenses(ctx context.Context, cfg *config.Config, repair bool) error {
	a, closeApp, err := openApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeApp()
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	mismatches, err := a.Licenses.Check(sys)
	if err != nil {
		return err
	}
	for _, m := range mismatches {
		fmt.Println("differs:", m)
	}
	if len(mismatches) == 0 {
		fmt.Println("the license counts agree with the licenses and adjustments")
		return nil
	}
	if !repair {
		return fmt.Errorf("%d license counts differ from the rows; run with --repair to rewrite them", len(mismatches))
	}
	if err := a.Licenses.Repair(sys); err != nil {
		return err
	}
	if mismatches, err = a.Licenses.Check(sys); err != nil {
		return err
	}
	if len(mismatches) > 0 {
		return fmt.Errorf("%d license counts still differ after the repair", len(mismatches))
	}
	fmt.Println("repaired: the license counts agree with the licenses and adjustments")
	return nil
}

// auditCommand reads `usermanager audit verify` and `usermanager audit
// seal`.
func auditCommand(args []string) (runFunc, error) {
	sub, err := subcommand("audit", args, "verify", "seal")
	if err != nil {
		return nil, err
	}
	fs := newFlags("audit " + sub)
	var checkpointFile *string
	if sub == "verify" {
		checkpointFile = fs.String("checkpoints", "",
			"a file of checkpoints the chains must still pass through, skipped if missing (default AUDIT_CHECKPOINT_FILE, or DATA_DIR/audit-checkpoints.jsonl on the embedded database)")
	}
	if err := parseFlags(fs, "audit", args[1:]); err != nil {
		return nil, err
	}
	return func(ctx context.Context, cfg *config.Config) error {
		if sub == "seal" {
			return auditSeal(ctx, cfg)
		}
		file := *checkpointFile
		if file == "" {
			file = cfg.CheckpointFile()
		}
		return auditVerify(ctx, cfg, file)
	}, nil
}

// auditSeal runs `usermanager audit seal`.
func auditSeal(ctx context.Context, cfg *config.Config) error {
	d, err := open(ctx, cfg, cfg.Embedded())
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := (&audit.Sealer{Client: d.Client, Dialect: d.Dialect}).Seal(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("sealed %d audit records\n", n)
	return nil
}

// auditVerify runs `usermanager audit verify`.
func auditVerify(ctx context.Context, cfg *config.Config, checkpointFile string) error {
	d, err := open(ctx, cfg, cfg.Embedded())
	if err != nil {
		return err
	}
	defer d.Close()
	var opts audit.VerifyOptions
	if f, err := os.Open(checkpointFile); err == nil {
		opts.Checkpoints, err = audit.ReadCheckpoints(f)
		f.Close()
		if err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	res, err := audit.Verify(ctx, d.Client, opts)
	if err != nil {
		return err
	}
	for _, c := range res.Chains {
		name := "no organization"
		if c.OrganizationID != nil {
			name = fmt.Sprintf("organization %d", *c.OrganizationID)
		}
		fmt.Printf("%s: %d records, head %s\n", name, c.Records, c.Head)
	}
	fmt.Printf("%d records sealed in %d chains, checked against %d checkpoints; %d not sealed yet\n",
		res.Records, len(res.Chains), len(opts.Checkpoints), res.Unsealed)
	var problems []string
	if res.FirstBroken != nil {
		problems = append(problems, "broken: "+res.FirstBroken.String())
	}
	if res.UnsealedOverdue > 0 {
		problems = append(problems, fmt.Sprintf("%d records have waited more than %s for their seal: "+
			"is serve running? (`usermanager audit seal` seals them, unless they were slipped in with a past date)",
			res.UnsealedOverdue, audit.SealWindow))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	fmt.Println("the audit trail is intact")
	return nil
}

// readPassword reads USERMANAGER_PASSWORD, or the first line of stdin.
func readPassword(stdin io.Reader) (string, error) {
	if p := os.Getenv("USERMANAGER_PASSWORD"); p != "" {
		return p, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password: set USERMANAGER_PASSWORD or write it to standard input")
	}
	return line, nil
}
