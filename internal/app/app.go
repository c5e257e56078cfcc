// Package app is the composition root: the one place that builds every
// service of the product from its settings, used alike by `usermanager
// serve`, the API test harness and the demo loader. A new service is added
// here and in its own package; nothing else needs to change.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/graph"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/auth"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/directory"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/jobs"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/lockout"
	"github.com/clinicemr/usermanager/internal/mail"
	"github.com/clinicemr/usermanager/internal/media"
	"github.com/clinicemr/usermanager/internal/onboarding"
	"github.com/clinicemr/usermanager/internal/staffcsv"
	"github.com/clinicemr/usermanager/internal/staffimport"
	"github.com/clinicemr/usermanager/internal/telemetry"
	"github.com/clinicemr/usermanager/internal/users"
)

// Settings are what the services need. cmd/usermanager fills them from the
// environment (internal/config); the test harness with test values.
type Settings struct {
	// Access tokens (internal/auth): the signing secret, at least 32 bytes.
	Secret                []byte
	Issuer, Audience      string
	AccessTTL, RefreshTTL time.Duration
	// Lockout is the policy of sign-in failures (R29).
	Lockout lockout.Policy
	// SMTPURL, MailFrom and MailOutboxDir configure mail (internal/mail).
	SMTPURL, MailFrom, MailOutboxDir string
	// Jobs configures the durable job queue.
	Jobs jobs.Config
	// BlobURL is where pictures and signatures are kept (a gocloud bucket
	// URL); MediaKey signs the short-lived URLs they are served under.
	BlobURL  string
	MediaKey []byte
	// AdjustmentWindow after which pending license adjustments are processed
	// automatically (0: licenses.DefaultWindow).
	AdjustmentWindow time.Duration
	// Resets configures password-reset links (Key is required).
	Resets users.ResetConfig
	// AuditCheckpointFile is where the audit chain heads are appended every
	// audit.CheckpointEvery ("": logged only).
	AuditCheckpointFile string
	// PublicURL is the server's externally visible base URL
	// (https://api.example.org); media and export URLs start with it so
	// that clients on other origins can load them. "" gives relative URLs.
	PublicURL string
	// Metrics, when set, counts mail and job failures (and the caller
	// hands it to the HTTP server); nil turns metrics off.
	Metrics *telemetry.Metrics
	// Now is the clock (tests move it); nil means time.Now.
	Now func() time.Time
}

// App is every service of the product, built on one database.
type App struct {
	DB         *db.DB
	Events     *events.Bus
	Jobs       *jobs.Queue
	Mail       mail.Sender
	Lockout    *lockout.Throttle
	Auth       *auth.Service
	Media      *media.Store
	Signer     media.Signer
	Licenses   *licenses.Service
	Directory  *directory.Service
	Profiles   *users.Profiles
	Images     *users.Images
	Resets     *users.Resets
	Onboarding *onboarding.Service
	// AuditSealer binds the audit trail into its hash chains.
	AuditSealer *audit.Sealer
	// AuditExport hands out and serves the audit trail's CSV exports.
	AuditExport *audit.Exporter
	// UsersExport hands out and serves the users' CSV exports.
	UsersExport *staffcsv.Exporter
	// UsersImport starts, works and follows staff-list imports.
	UsersImport *staffimport.Importer

	started bool
}

// New builds the services on d and registers the job queue's workers.
// Nothing runs until Start.
func New(ctx context.Context, d *db.DB, s Settings) (*App, error) {
	a := &App{DB: d, Events: events.New(d.Dialect, d.URL)}
	var err error
	if a.Mail, err = mail.Open(s.SMTPURL, s.MailFrom, s.MailOutboxDir); err != nil {
		return nil, err
	}
	if s.Metrics != nil {
		a.Mail = s.Metrics.MailSender(a.Mail)
		s.Jobs.Middleware = append(slices.Clip(s.Jobs.Middleware), s.Metrics.JobMiddleware())
	}
	if a.Jobs, err = jobs.New(d.SQL, d.Dialect, s.Jobs); err != nil {
		return nil, err
	}
	a.Lockout = lockout.New(d.Client, s.Lockout, s.Now)
	a.Auth, err = auth.New(d.Client, auth.Config{
		Secret: s.Secret, Issuer: s.Issuer, Audience: s.Audience,
		AccessTTL: s.AccessTTL, RefreshTTL: s.RefreshTTL, Now: s.Now,
		Events: a.Events, Lockout: a.Lockout,
	})
	if err != nil {
		return nil, err
	}
	if a.Media, err = media.Open(ctx, s.BlobURL); err != nil {
		return nil, fmt.Errorf("opening blob storage: %w", err)
	}
	a.Signer = media.Signer{Secret: s.MediaKey, Now: s.Now}

	a.Licenses = licenses.New(d.Client, d.Dialect, a.Events, a.Jobs)
	if s.AdjustmentWindow > 0 {
		a.Licenses.Window = s.AdjustmentWindow
	}
	if s.Now != nil {
		a.Licenses.Now = s.Now
	}
	a.Directory = directory.New(d.Client, d.Dialect)
	a.Profiles = users.NewProfiles(d.Client, a.Licenses, a.Auth)
	a.Images = users.NewImages(a.Profiles, a.Media, a.Signer, s.PublicURL)
	if s.Resets.Now == nil {
		s.Resets.Now = s.Now
	}
	a.Resets = users.NewResets(d.Client, a.Profiles, a.Jobs, a.Lockout, s.Resets)
	a.Onboarding = onboarding.New(d.Client, a.Licenses)
	a.AuditExport = audit.NewExporter(d.Client, s.MediaKey, s.PublicURL, s.Now)
	a.UsersExport = staffcsv.NewExporter(d.Client, a.Directory, s.MediaKey, s.PublicURL, s.Now)

	a.UsersImport = staffimport.New(d.Client, a.Media, a.Jobs, a.Profiles, a.Events)
	a.UsersImport.Now = s.Now
	// Half the job timeout (default 1m), so a chunk ends long before the
	// queue would give it up or rescue it.
	a.UsersImport.ChunkTime = min(staffimport.DefaultChunkTime, cmp.Or(s.Jobs.JobTimeout, time.Minute)/2)
	if d.Dialect == dialect.Postgres {
		a.UsersImport.Parallel = 4
	}

	workers := a.Jobs.Workers()
	river.AddWorker(workers, &staffimport.Worker{Importer: a.UsersImport})
	river.AddWorker(workers, &licenses.ProcessAdjustmentWorker{Licenses: a.Licenses})
	river.AddWorker(workers, &mail.SendWorker{Sender: a.Mail})
	river.AddWorker(workers, &users.ResetMailWorker{Resets: a.Resets, Sender: a.Mail})

	// The sealer has a client of its own on the same connections, so that
	// its background statements are not counted as a request's.
	a.AuditSealer = &audit.Sealer{
		Client: ent.NewClient(ent.Driver(d.Driver)), Dialect: d.Dialect, CheckpointFile: s.AuditCheckpointFile,
	}
	river.AddWorker(workers, &audit.SealWorker{Sealer: a.AuditSealer})
	river.AddWorker(workers, &audit.CheckpointWorker{Sealer: a.AuditSealer})
	a.Jobs.AddPeriodic(audit.SealEvery, audit.SealArgs{})
	a.Jobs.AddPeriodic(audit.CheckpointEvery, audit.CheckpointArgs{})
	if d.Dialect == dialect.SQLite {
		river.AddWorker(workers, &db.OptimizeWorker{DB: d})
		a.Jobs.AddPeriodic(db.OptimizeEvery, db.OptimizeArgs{})
	}
	return a, nil
}

// Resolver is the GraphQL resolver over the services.
func (a *App) Resolver() *graph.Resolver {
	return &graph.Resolver{
		Client: a.DB.Client, Auth: a.Auth, Directory: a.Directory, Profiles: a.Profiles,
		Images: a.Images, Licenses: a.Licenses, Onboarding: a.Onboarding, Resets: a.Resets,
		AuditExport: a.AuditExport, UsersExport: a.UsersExport, UsersImport: a.UsersImport,
	}
}

// MediaHandler serves pictures and signatures under their signed URLs.
func (a *App) MediaHandler() http.Handler {
	return media.Handler(a.Media, a.Signer, users.URLPrefix)
}

// AuditExportHandler serves the audit trail's CSV exports under their
// signed URLs (audit.ExportPrefix).
func (a *App) AuditExportHandler() http.Handler { return a.AuditExport.Handler() }

// UsersExportHandler serves the users' CSV exports under their signed URLs
// (staffcsv.ExportPrefix).
func (a *App) UsersExportHandler() http.Handler { return a.UsersExport.Handler() }

// Start starts the live-event listener and the job queue's workers. The
// queue runs until Stop, whatever becomes of ctx.
func (a *App) Start(ctx context.Context) error {
	if err := a.Events.Start(ctx); err != nil {
		return err
	}
	if err := a.Jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	a.started = true
	return nil
}

// Stop ends live subscriptions, lets running jobs finish within ctx, and
// closes the blob store. The database is the caller's to close.
func (a *App) Stop(ctx context.Context) error {
	a.Events.Close()
	var err error
	if a.started {
		err = a.Jobs.Stop(ctx)
	}
	return errors.Join(err, a.Media.Close())
}
