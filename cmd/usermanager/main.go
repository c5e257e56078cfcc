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
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
	"github.com/clinicemr/usermanager/internal/seed"
	"github.com/clinicemr/usermanager/internal/server"
	"github.com/clinicemr/usermanager/internal/users"
)

const usage = `usermanager: the clinic User Manager (GraphQL API)

Usage:
  usermanager [serve]        serve /graphql, GraphiQL at /, /healthz and /readyz
  usermanager migrate [--app-role NAME]
                             bring the database schema up to date; on
                             PostgreSQL, run it as the owner role, and with
                             --app-role (or APP_ROLE) create the role serve
                             runs as if missing and grant it only what serve
                             needs: no ownership, and audit records it may
                             only insert and read
  usermanager create-support --username U --email E [--first-name F --last-name L]
                             create a platform Support account; the password is
                             read from USERMANAGER_PASSWORD or standard input
  usermanager seed --users N --clinics M [--organization NAME] [--admin-username U]
                             load a practice of N staff in M clinics (realistic
                             types, statuses, clinic access, licenses) for
                             benchmarks and demos; its administrator's password
                             is USERMANAGER_PASSWORD, or generated and printed
  usermanager licenses check [--repair]
                             count every clinic's licenses and pending
                             adjustments from the rows, compare with the counts
                             licenseCounts reads, list any difference and exit
                             1; --repair rewrites the counts from the rows
  usermanager audit verify [--checkpoints FILE]
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
  usermanager help           show this help

Configuration (environment variables, all optional on the embedded database):
`

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = withConfig(serve)
	case "migrate":
		err = withConfig(func(ctx context.Context, cfg *config.Config) error { return migrate(ctx, cfg, args) })
	case "create-support":
		err = withConfig(func(ctx context.Context, cfg *config.Config) error { return createSupport(ctx, cfg, args) })
	case "licenses":
		err = withConfig(func(ctx context.Context, cfg *config.Config) error { return checkLicenses(ctx, cfg, args) })
	case "seed":
		err = withConfig(func(ctx context.Context, cfg *config.Config) error { return seedPractice(ctx, cfg, args) })
	case "audit":
		err = withConfig(func(ctx context.Context, cfg *config.Config) error { return auditCommand(ctx, cfg, args) })
	case "help", "-h", "-help", "--help":
		fmt.Print(usage + config.Help())
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s%s", cmd, usage, config.Help())
		os.Exit(2)
	}
	if err != nil {
		// Plain text, not a log record: a refusal to start lists its
		// reasons one per line for the person starting the server.
		fmt.Fprintf(os.Stderr, "usermanager %s failed: %v\n", cmd, err)
		os.Exit(1)
	}
}

func withConfig(run func(context.Context, *config.Config) error) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	setupLogging(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return run(ctx, cfg)
}

func setupLogging(cfg *config.Config) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	slog.SetDefault(slog.New(h))
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
	secret, err := cfg.SigningSecret()
	if err != nil {
		return err
	}
	d, err := open(ctx, cfg, cfg.MigrateOnStart)
	if err != nil {
		return err
	}
	defer d.Close()
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
	a, err := newApp(ctx, cfg, d, secret)
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
	srv := server.New(server.Options{
		DB: d, Auth: a.Auth, Resolver: a.Resolver(), Media: a.MediaHandler(), AuditExport: a.AuditExportHandler(),
		AllowedOrigins:   cfg.CORSAllowedOrigins,
		OperationTimeout: cfg.OperationTimeout,
		Production:       cfg.Production,
		GraphiQL:         cfg.GraphiQLEnabled(),
		Introspection:    cfg.IntrospectionEnabled(),
		TrustedProxies:   proxies,
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
	// streams. Bodies are bounded per request by BoundBodyReads.
	httpSrv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           server.BoundBodyReads(srv, server.BodyTimeouts{Body: cfg.BodyTimeout, Upload: cfg.UploadTimeout}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	database := "embedded SQLite in " + cfg.DataDir
	if !cfg.Embedded() {
		database = "PostgreSQL"
	}
	slog.Info("ready", "addr", ln.Addr().String(), "graphiql", "http://"+displayAddr(ln.Addr())+"/",
		"database", database, "startup", time.Since(started).Round(time.Millisecond))
	errc := make(chan error, 1)
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
	slog.Info("shutting down")
	srv.Drain()
	// Ends open subscriptions, which http.Server.Shutdown does not.
	a.Events.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if err := a.Stop(shutdownCtx); err != nil {
		return fmt.Errorf("stopping the job queue: %w", err)
	}
	return nil
}

// newApp builds the services (the composition root) from the configuration.
func newApp(ctx context.Context, cfg *config.Config, d *db.DB, secret []byte) (*app.App, error) {
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
		},
	})
}

func displayAddr(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// migrate applies the migrations and, with --app-role, (re)grants the role
// serve runs as (db.GrantAppRole).
func migrate(ctx context.Context, cfg *config.Config, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	appRole := fs.String("app-role", cfg.AppRole,
		"PostgreSQL: the role serve runs as, created if missing and granted only what serve needs (default APP_ROLE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *appRole != "" && cfg.Embedded() {
		return errors.New("--app-role (APP_ROLE) needs a PostgreSQL DATABASE_URL: the embedded database has no roles")
	}
	d, err := open(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	slog.Info("the database schema is up to date")
	if *appRole != "" {
		if err := d.GrantAppRole(ctx, *appRole); err != nil {
			return err
		}
		slog.Info("granted the application role what serve needs", "role", *appRole)
	}
	return nil
}

func createSupport(ctx context.Context, cfg *config.Config, args []string) error {
	fs := flag.NewFlagSet("create-support", flag.ContinueOnError)
	username := fs.String("username", "", "the Support account's username (required)")
	email := fs.String("email", "", "the Support account's email address (required)")
	first := fs.String("first-name", "Platform", "first name")
	last := fs.String("last-name", "Support", "last name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *username == "" || *email == "" {
		fs.Usage()
		return errors.New("--username and --email are required")
	}
	password, err := readPassword(os.Stdin)
	if err != nil {
		return err
	}
	d, err := open(ctx, cfg, cfg.Embedded())
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := users.CreateSupport(ctx, d.Client, *username, *email, password, *first, *last)
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
	a, err := newApp(ctx, cfg, d, secret)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return a, func() { d.Close() }, nil
}

// seedPractice loads a large practice (internal/seed).
func seedPractice(ctx context.Context, cfg *config.Config, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	users := fs.Int("users", 10_000, "staff members to create")
	clinics := fs.Int("clinics", 50, "clinics to create")
	org := fs.String("organization", "Seeded Therapy Network", "the practice's name")
	admin := fs.String("admin-username", "seed.admin", "the practice administrator's username")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
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
		Users: *users, Clinics: *clinics, Organization: *org,
		AdminUsername: *admin, AdminPassword: password,
		Progress: func(done int) {
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				slog.Info("seeding", "users", done, "of", *users)
			}
		},
	})
	if err != nil {
		return err
	}
	slog.Info("seeded the practice", "organization", *org, "users", p.Users, "licenses", p.Licenses,
		"clinics", len(p.ClinicIDs), "took", p.Took.Round(time.Millisecond))
	if generated {
		fmt.Printf("Sign in as %s with the password %s\n", *admin, password)
	}
	return nil
}

// checkLicenses compares the kept license counts with the rows
// (licenses.Service.Check) and, with --repair, rewrites them.
func checkLicenses(ctx context.Context, cfg *config.Config, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return errors.New("usage: usermanager licenses check [--repair]")
	}
	fs := flag.NewFlagSet("licenses check", flag.ContinueOnError)
	repair := fs.Bool("repair", false, "rewrite the kept counts from the licenses and adjustments")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
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
	if !*repair {
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

// auditCommand runs `usermanager audit verify` and `usermanager audit seal`.
func auditCommand(ctx context.Context, cfg *config.Config, args []string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "seal") {
		return errors.New("usage: usermanager audit verify [--checkpoints FILE] | usermanager audit seal")
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	checkpointFile := fs.String("checkpoints", cfg.CheckpointFile(),
		"verify: a file of checkpoints the chains must still pass through (skipped if missing)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	d, err := open(ctx, cfg, cfg.Embedded())
	if err != nil {
		return err
	}
	defer d.Close()
	if args[0] == "seal" {
		n, err := (&audit.Sealer{Client: d.Client, Dialect: d.Dialect}).Seal(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("sealed %d audit records\n", n)
		return nil
	}
	var opts audit.VerifyOptions
	if f, err := os.Open(*checkpointFile); err == nil {
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
