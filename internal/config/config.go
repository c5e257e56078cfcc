// Package config reads the server's configuration from environment
// variables. Every setting is optional for a first run on the embedded
// database.
package config

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is the server's configuration.
type Config struct {
	DatabaseURL string `env:"DATABASE_URL" help:"a postgres:// or postgresql:// URL; unset means the embedded SQLite file in DATA_DIR"`
	DataDir     string `env:"DATA_DIR" envDefault:"./data" help:"where the embedded database and generated secrets are kept"`
	HTTPAddr    string `env:"HTTP_ADDR" envDefault:":8080" help:"the address the server listens on (host:port)"`
	PublicURL   string `env:"PUBLIC_URL" help:"the externally visible base URL of the server, scheme://host[:port][/path], for absolute media URLs; required (https) in production; default http://localhost:PORT from HTTP_ADDR (https with TLS_CERT_FILE)"`
	MetricsAddr string `env:"METRICS_ADDR" help:"a separate address (host:port) to serve /metrics on; unset serves /metrics on HTTP_ADDR"`

	JWTSecret       string        `env:"JWT_SECRET" help:"signs access tokens, at least 32 bytes; generated into DATA_DIR on the embedded database, required with DATABASE_URL"`
	JWTIssuer       string        `env:"JWT_ISSUER" envDefault:"usermanager" help:"the iss claim of access tokens"`
	JWTAudience     string        `env:"JWT_AUDIENCE" envDefault:"usermanager-api" help:"the aud claim of access tokens"`
	AccessTokenTTL  time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m" help:"lifetime of access tokens (at least 1s)"`
	RefreshTokenTTL time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"12h" help:"lifetime of a session and its refresh tokens (longer than ACCESS_TOKEN_TTL)"`

	BlobURL string `env:"BLOB_URL" help:"where profile pictures and signatures are stored: a gocloud bucket URL such as s3://bucket?region=us-east-1 (needed for several instances), file:///dir or mem://; default DATA_DIR/blobs"`

	CORSAllowedOrigins  []string       `env:"CORS_ALLOWED_ORIGINS" envSeparator:"," envDefault:"http://localhost:3000,http://localhost:5173" help:"origins of browser clients (the admin SPA), comma-separated, each scheme://host[:port] or *"`
	CORSAllowedHeaders  []string       `env:"CORS_ALLOWED_HEADERS" envSeparator:"," envDefault:"Authorization,Content-Type,X-Clinic-Id,X-Request-Id,apollographql-client-name,apollographql-client-version,apollo-require-preflight,x-apollo-operation-name,traceparent,tracestate,baggage,sentry-trace" help:"request headers browser clients may send, comma-separated"`
	MigrateOnStart      bool           `env:"MIGRATE_ON_START" help:"apply PostgreSQL migrations when serve starts (the embedded database always migrates itself)"`
	AuditCheckpointFile string         `env:"AUDIT_CHECKPOINT_FILE" help:"where serve appends the audit chains' heads every hour (JSON lines) for usermanager audit verify; default DATA_DIR/audit-checkpoints.jsonl on the embedded database, none on PostgreSQL (they are logged)"`
	AppRole             string         `env:"APP_ROLE" help:"the PostgreSQL role serve runs as: migrate (run as the owner) creates it if missing and grants it only what serve needs, audit records insert-only (same as migrate --app-role)"`
	DemoData            bool           `env:"DEMO_DATA" envDefault:"true" help:"load the demo organization into an empty embedded database"`
	LogFormat           string         `env:"LOG_FORMAT" envDefault:"text" help:"text or json"`
	LogLevel            string         `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	ShutdownTimeout     time.Duration  `env:"SHUTDOWN_TIMEOUT" envDefault:"20s" help:"how long serve waits for requests to finish on SIGTERM (at least 1s)"`
	ShutdownDrain       *time.Duration `env:"SHUTDOWN_DRAIN" help:"on SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes and SHUTDOWN_TIMEOUT starts (default 5s on PostgreSQL, 0 on the embedded database)"`

	AdjustmentWindow time.Duration `env:"LICENSE_ADJUSTMENT_WINDOW" envDefault:"24h" help:"how long a license adjustment waits for Support before it is processed automatically (at least 1s)"`
	SMTPURL          string        `env:"SMTP_URL" help:"the mail server: smtp://user:password@host:587 (STARTTLS; add ?tls=opportunistic or ?tls=none for a local relay) or smtps://...:465; unset writes mail to MAIL_OUTBOX_DIR and the log"`
	MailFrom         string        `env:"MAIL_FROM" envDefault:"User Manager <no-reply@usermanager.localhost>" help:"the sender of the product's email"`
	MailOutboxDir    string        `env:"MAIL_OUTBOX_DIR" help:"where mail goes when SMTP_URL is unset (default DATA_DIR/outbox)"`
	JobRetryBase     time.Duration `env:"JOB_RETRY_BASE" envDefault:"5s" help:"wait before a failed job (an email) is retried; it doubles each time (at least 10ms)"`
	JobRetryMax      time.Duration `env:"JOB_RETRY_MAX" envDefault:"1h" help:"the longest wait between retries of a job (at least JOB_RETRY_BASE)"`
	JobTimeout       time.Duration `env:"JOB_TIMEOUT" envDefault:"1m" help:"the longest one attempt of a job (sending one email) may take (at least 1s)"`
	JobRescueAfter   time.Duration `env:"JOB_RESCUE_AFTER" envDefault:"5m" help:"a job running this long is presumed abandoned by a dead process and run again (more than JOB_TIMEOUT)"`
	JobPollInterval  time.Duration `env:"JOB_POLL_INTERVAL" envDefault:"1s" help:"how often the job queue looks for due jobs (at least 10ms)"`

	PasswordResetURL string        `env:"PASSWORD_RESET_URL" envDefault:"http://localhost:3000/reset-password" help:"the admin app's page that takes a reset token (an absolute http(s) URL); reset emails link to it with ?token=..."`
	PasswordResetTTL time.Duration `env:"PASSWORD_RESET_TTL" envDefault:"1h" help:"how long a password-reset link works (at least 1m)"`
	InvitationTTL    time.Duration `env:"INVITATION_TTL" envDefault:"168h" help:"how long the link of an invitation (a user created without a password) works (at least 1h)"`
	LockoutThreshold int           `env:"LOCKOUT_THRESHOLD" envDefault:"5" help:"consecutive sign-in failures that lock an account (at least 1)"`
	LockoutBase      time.Duration `env:"LOCKOUT_BASE" envDefault:"1m" help:"the first lock; each further failure doubles it (at least 1s)"`
	LockoutMax       time.Duration `env:"LOCKOUT_MAX" envDefault:"15m" help:"the longest lock (at least LOCKOUT_BASE)"`
	LockoutIPLimit   int           `env:"LOCKOUT_IP_THRESHOLD" envDefault:"30" help:"sign-in failures from one client address that lock the address (at least 1)"`
	OperationTimeout time.Duration `env:"OPERATION_TIMEOUT" envDefault:"15s" help:"the longest a query or mutation may run before it is stopped (at least 1s)"`
	BodyTimeout      time.Duration `env:"REQUEST_BODY_TIMEOUT" envDefault:"10s" help:"the longest a request body (a query or mutation) may take to arrive; a slower one is answered 408 (at least 1s)"`
	UploadTimeout    time.Duration `env:"UPLOAD_TIMEOUT" envDefault:"90s" help:"the longest an upload (multipart, at most 2 MB) may take to arrive; 90s lets a 256 kbit/s line send the largest (at least 1s)"`
	Production       bool          `env:"PRODUCTION" help:"production mode: refuses a generated or weak JWT_SECRET, CORS for every origin, undeclared TLS and a PUBLIC_URL that is not https; turns GraphiQL, introspection and field suggestions off unless enabled, and sends HSTS"`
	TLSTermination   string        `env:"TLS_TERMINATION" help:"proxy when a load balancer or reverse proxy terminates TLS in front of the server; required in production unless TLS_CERT_FILE is set"`
	TLSCertFile      string        `env:"TLS_CERT_FILE" help:"serve HTTPS with this certificate (and TLS_KEY_FILE); both files are loaded at start"`
	TLSKeyFile       string        `env:"TLS_KEY_FILE" help:"the private key of TLS_CERT_FILE"`
	TrustedProxies   []string      `env:"TRUSTED_PROXIES" envSeparator:"," help:"addresses or CIDR ranges of the proxies in front of the server, whose X-Forwarded-For names the client (for sign-in throttling and the audit trail); required in production with TLS_TERMINATION=proxy"`
	GraphiQL         *bool         `env:"GRAPHIQL" help:"serve GraphiQL at / (default on, off in production)"`
	Introspection    *bool         `env:"INTROSPECTION" help:"answer introspection queries (default on, off in production)"`
}

// Load reads the configuration from the environment and checks every
// variable before anything is opened. The error (an *Error) lists every
// problem, each naming its variable. The warnings name variables that are
// set but not read: ones with the USERMANAGER_ prefix that do not exist, and
// near-misses of the variables' names (JWT_SECERT).
func Load() (*Config, []string, error) {
	environ := os.Environ()
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return parse(vars)
}

// parse reads and checks the configuration from vars alone (Load passes
// the process's environment).
func parse(vars map[string]string) (*Config, []string, error) {
	var c Config
	ch := &checker{vars: vars, bad: map[string]bool{}}
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		ch.parseErrors(err)
	}
	c.normalize()
	c.validate(ch)
	prod := c.checkProduction(ch)
	warnings := unknownVariables(vars)
	if len(ch.problems) > 0 || len(prod) > 0 {
		return nil, warnings, &Error{Problems: ch.problems, Production: prod}
	}
	if c.Production {
		c.DemoData = false
	}
	if c.MailOutboxDir == "" {
		c.MailOutboxDir = filepath.Join(c.DataDir, "outbox")
	}
	return &c, warnings, nil
}

// Error lists every problem of a configuration, one per line.
type Error struct {
	// Problems are invalid values, each starting with its variable.
	Problems []string
	// Production are the settings production mode refuses.
	Production []string
}

func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Problems) > 0 {
		b.WriteString("invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - "))
	}
	if len(e.Production) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("refusing to start in production mode:\n  - " + strings.Join(e.Production, "\n  - "))
	}
	return b.String()
}

// DrainPeriod is how long serve keeps serving, with /readyz answering 503,
// after SIGTERM and before it closes the listener: SHUTDOWN_DRAIN, else 5s
// on PostgreSQL (where a load balancer spreads requests over instances) and
// none on the embedded database (a single instance).
func (c *Config) DrainPeriod() time.Duration {
	if c.ShutdownDrain != nil {
		return *c.ShutdownDrain
	}
	if c.Embedded() {
		return 0
	}
	return 5 * time.Second
}

// PublicBaseURL is the externally visible base URL of the server, without
// a trailing slash: PUBLIC_URL, else derived from HTTP_ADDR
// (http://localhost:PORT when the host is empty or a wildcard; https when
// TLS_CERT_FILE is set).
func (c *Config) PublicBaseURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	scheme := "http"
	if c.TLSCertFile != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return scheme + "://localhost"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Embedded reports whether the embedded SQLite database is used.
func (c *Config) Embedded() bool { return c.DatabaseURL == "" }

// CheckpointFile is where the audit chains' heads are appended:
// AUDIT_CHECKPOINT_FILE, else a file beside the embedded database ("" on
// PostgreSQL: logged only).
func (c *Config) CheckpointFile() string {
	if c.AuditCheckpointFile != "" || !c.Embedded() {
		return c.AuditCheckpointFile
	}
	return filepath.Join(c.DataDir, "audit-checkpoints.jsonl")
}

// SigningSecret returns the access-token signing secret: JWT_SECRET, or on
// the embedded database one generated on first run and kept in DATA_DIR.
// Several instances sharing PostgreSQL must share a secret, so there it is
// required.
func (c *Config) SigningSecret() ([]byte, error) {
	if c.JWTSecret != "" {
		if len(c.JWTSecret) < 32 {
			return nil, errors.New("JWT_SECRET must be at least 32 bytes")
		}
		return []byte(c.JWTSecret), nil
	}
	if !c.Embedded() {
		return nil, errors.New("JWT_SECRET is required with DATABASE_URL (every instance must share it)")
	}
	path := filepath.Join(c.DataDir, "jwt-secret")
	if b, err := os.ReadFile(path); err == nil {
		secret := strings.TrimSpace(string(b))
		if len(secret) >= 32 {
			return []byte(secret), nil
		}
		return nil, fmt.Errorf("%s holds a secret shorter than 32 bytes", path)
	}
	raw := make([]byte, 48)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("keeping the generated signing secret: %w", err)
	}
	return []byte(secret), nil
}

// Help describes every variable, for --help.
func Help() string {
	var b strings.Builder
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		f := t.Field(i)
		fmt.Fprintf(&b, "  %-25s %s", f.Tag.Get("env"), f.Tag.Get("help"))
		if d := f.Tag.Get("envDefault"); d != "" {
			fmt.Fprintf(&b, " (default %s)", d)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// BlobBucketURL is BLOB_URL, or a directory under DATA_DIR.
func (c *Config) BlobBucketURL() (string, error) {
	if c.BlobURL != "" {
		return c.BlobURL, nil
	}
	dir, err := filepath.Abs(filepath.Join(c.DataDir, "blobs"))
	if err != nil {
		return "", err
	}
	return "file://" + dir + "?create_dir=true&no_tmp_dir=true", nil
}

// MediaSecret derives the key signing media URLs from the token-signing
// secret, so the two never share a key.
func MediaSecret(signingSecret []byte) []byte {
	mac := hmac.New(sha256.New, signingSecret)
	mac.Write([]byte("usermanager media URL signing"))
	return mac.Sum(nil)
}

// checkProduction lists the settings that are unsafe in production (none
// outside it).
func (c *Config) checkProduction(ch *checker) []string {
	if !c.Production || ch.bad["PRODUCTION"] {
		return nil
	}
	var problems []string
	if c.JWTSecret == "" {
		problems = append(problems, "JWT_SECRET must be set (a generated secret is refused)")
	} else if weakSecret(c.JWTSecret) {
		problems = append(problems, "JWT_SECRET is too weak: use at least 32 random bytes, e.g. `openssl rand -base64 48`")
	}
	for _, o := range c.CORSAllowedOrigins {
		if o == "*" {
			problems = append(problems, "CORS_ALLOWED_ORIGINS must list the admin app's origins, not *")
		}
	}
	if c.TLSTermination == "" && c.TLSCertFile == "" {
		problems = append(problems, "declare TLS: TLS_TERMINATION=proxy behind a TLS-terminating proxy, or TLS_CERT_FILE and TLS_KEY_FILE")
	}
	if c.TLSTermination == "proxy" && len(c.TrustedProxies) == 0 {
		// Otherwise every client has the proxy's address, and failed
		// sign-ins from anyone lock that address for everyone.
		problems = append(problems, "TRUSTED_PROXIES must list the proxy's addresses or CIDR ranges when TLS_TERMINATION=proxy, so sign-in throttling and the audit trail see each client's address")
	}
	if c.PublicURL == "" {
		problems = append(problems, "PUBLIC_URL must be set to the server's https:// address as clients see it")
	} else if !ch.bad["PUBLIC_URL"] && !strings.HasPrefix(c.PublicURL, "https://") {
		problems = append(problems, fmt.Sprintf("PUBLIC_URL: %q must be an https:// URL in production", c.PublicURL))
	}
	return problems
}

// weakSecret: shorter than 32 bytes, or too few distinct characters to be
// random (a repeated or dictionary-like string).
func weakSecret(s string) bool {
	if len(s) < 32 {
		return true
	}
	distinct := map[rune]bool{}
	for _, r := range s {
		distinct[r] = true
	}
	return len(distinct) < 16
}

// GraphiQLEnabled: GRAPHIQL, or on outside production.
func (c *Config) GraphiQLEnabled() bool { return enabled(c.GraphiQL, !c.Production) }

// IntrospectionEnabled: INTROSPECTION, or on outside production.
func (c *Config) IntrospectionEnabled() bool { return enabled(c.Introspection, !c.Production) }

func enabled(setting *bool, def bool) bool {
	if setting != nil {
		return *setting
	}
	return def
}

// ResetSecret derives the key of password-reset links from the signing
// secret.
func ResetSecret(signingSecret []byte) []byte {
	mac := hmac.New(sha256.New, signingSecret)
	mac.Write([]byte("usermanager password reset links"))
	return mac.Sum(nil)
}

// TrustedProxyPrefixes parses TRUSTED_PROXIES (checked by Load, so it
// fails only on a Config that Load did not make).
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, ok := proxyPrefix(s)
		if !ok {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q is neither an address nor a CIDR range", s)
		}
		out = append(out, p)
	}
	return out, nil
}

func proxyPrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), true
}
