package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A strong secret: 48 random bytes, base64.
const strongSecret = "q3Jx0v7Yb2kP9sLw4NfT1hGmZ8cRuE5aVdKoIy6XeBnQpWtA"

// fromEnv reads a configuration from vars alone (not the process's
// environment, so these tests can run in parallel), as Load does.
func fromEnv(t *testing.T, vars map[string]string) (*Config, error) {
	t.Helper()
	c, _, err := parse(vars)
	return c, err
}

// safeProduction is a production configuration behind a TLS-terminating
// proxy; tests change one thing at a time.
func safeProduction() map[string]string {
	return map[string]string{
		"PRODUCTION":           "true",
		"JWT_SECRET":           strongSecret,
		"CORS_ALLOWED_ORIGINS": "https://admin.example.com",
		"TLS_TERMINATION":      "proxy",
		"TRUSTED_PROXIES":      "10.0.0.0/8",
		"PUBLIC_URL":           "https://users.example.com",
	}
}

func with(base map[string]string, changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// refusedFor checks err refuses production and names every problem.
func refusedFor(t *testing.T, err error, problems ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want refused for %q", problems)
	}
	if !strings.Contains(err.Error(), "refusing to start in production mode") {
		t.Errorf("error %q does not say production refused it", err)
	}
	for _, p := range problems {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %q", err, p)
		}
	}
}

func TestProductionAcceptsASafeConfiguration(t *testing.T) {
	t.Parallel()
	cert, key := keyPair(t)
	for name, vars := range map[string]map[string]string{
		"behind a proxy": safeProduction(),
		"several proxies and origins": with(safeProduction(), map[string]string{
			"TRUSTED_PROXIES":      "10.0.0.0/8,192.168.1.7",
			"CORS_ALLOWED_ORIGINS": "https://admin.example.com,https://admin2.example.com",
		}),
		"own certificate": with(safeProduction(), map[string]string{
			"TLS_TERMINATION": "", "TRUSTED_PROXIES": "",
			"TLS_CERT_FILE": cert, "TLS_KEY_FILE": key,
		}),
		// 32 bytes with 16 distinct characters is just enough.
		"shortest secret": with(safeProduction(), map[string]string{"JWT_SECRET": "0123456789abcdef0123456789abcdef"}),
	} {
		c, err := fromEnv(t, vars)
		if err != nil {
			t.Errorf("%s: refused: %v", name, err)
			continue
		}
		if c.DemoData {
			t.Errorf("%s: production loads the demo organization", name)
		}
		if c.GraphiQLEnabled() || c.IntrospectionEnabled() {
			t.Errorf("%s: production serves GraphiQL (%v) or introspection (%v) by default", name, c.GraphiQLEnabled(), c.IntrospectionEnabled())
		}
	}
}

func TestProductionRefusesAGeneratedSecret(t *testing.T) {
	t.Parallel()
	_, err := fromEnv(t, with(safeProduction(), map[string]string{"JWT_SECRET": ""}))
	refusedFor(t, err, "JWT_SECRET must be set")
}

func TestProductionRefusesAWeakSecret(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{
		"secret",                           // short
		"0123456789abcdef0123456789abcde",  // 31 bytes
		strings.Repeat("ab", 32),           // long, 2 distinct characters
		"0123456789abcde0123456789abcde01", // 32 bytes, 15 distinct
	} {
		_, err := fromEnv(t, with(safeProduction(), map[string]string{"JWT_SECRET": secret}))
		refusedFor(t, err, "JWT_SECRET is too weak")
	}
}

func TestProductionRefusesCORSForEveryOrigin(t *testing.T) {
	t.Parallel()
	for _, origins := range []string{"*", "https://admin.example.com, * "} {
		_, err := fromEnv(t, with(safeProduction(), map[string]string{"CORS_ALLOWED_ORIGINS": origins}))
		refusedFor(t, err, "CORS_ALLOWED_ORIGINS must list the admin app's origins, not *")
	}
}

func TestProductionRefusesUndeclaredTLS(t *testing.T) {
	t.Parallel()
	_, err := fromEnv(t, with(safeProduction(), map[string]string{"TLS_TERMINATION": "", "TRUSTED_PROXIES": ""}))
	refusedFor(t, err, "declare TLS")
	// Behind a proxy, the proxies must be named, or every client has the
	// proxy's address (sign-in throttling would lock everyone out at once).
	_, err = fromEnv(t, with(safeProduction(), map[string]string{"TRUSTED_PROXIES": ""}))
	refusedFor(t, err, "TRUSTED_PROXIES must list the proxy's addresses")
}

// Every problem is listed at once, so an operator fixes them in one go.
func TestProductionListsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := fromEnv(t, map[string]string{
		"PRODUCTION":           "true",
		"JWT_SECRET":           "changeme",
		"CORS_ALLOWED_ORIGINS": "*",
	})
	refusedFor(t, err, "JWT_SECRET is too weak", "CORS_ALLOWED_ORIGINS", "declare TLS", "PUBLIC_URL must be set")
	if n := strings.Count(err.Error(), "\n  - "); n != 4 {
		t.Errorf("%d problems listed, want 4: %q", n, err)
	}
	_, err = fromEnv(t, map[string]string{"PRODUCTION": "true", "TLS_TERMINATION": "proxy"})
	refusedFor(t, err, "JWT_SECRET must be set", "TRUSTED_PROXIES")
}

// Outside production the same settings are a first run's, and accepted;
// the demo organization is loaded and GraphiQL served.
func TestDevelopmentAcceptsDefaults(t *testing.T) {
	t.Parallel()
	c, err := fromEnv(t, map[string]string{"CORS_ALLOWED_ORIGINS": "*", "JWT_SECRET": strings.Repeat("a", 32)})
	if err != nil {
		t.Fatalf("refused outside production: %v", err)
	}
	if !c.DemoData || !c.GraphiQLEnabled() || !c.IntrospectionEnabled() {
		t.Errorf("demo %v, GraphiQL %v, introspection %v; want all on outside production", c.DemoData, c.GraphiQLEnabled(), c.IntrospectionEnabled())
	}
}

// GraphiQL and introspection can be turned on in production explicitly.
func TestProductionGraphiQLOnRequest(t *testing.T) {
	t.Parallel()
	c, err := fromEnv(t, with(safeProduction(), map[string]string{"GRAPHIQL": "true", "INTROSPECTION": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.GraphiQLEnabled() || !c.IntrospectionEnabled() {
		t.Error("GRAPHIQL=true or INTROSPECTION=true ignored in production")
	}
}

// TLS settings must be coherent in any mode.
func TestTLSSettingsGoTogether(t *testing.T) {
	t.Parallel()
	for _, vars := range []map[string]string{
		{"TLS_CERT_FILE": "cert.pem"},
		{"TLS_KEY_FILE": "key.pem"},
		{"TLS_TERMINATION": "edge"},
		with(safeProduction(), map[string]string{"TLS_TERMINATION": "yes"}),
	} {
		if _, err := fromEnv(t, vars); err == nil {
			t.Errorf("%v accepted", vars)
		}
	}
}

// Load applies the production checks to the process's environment. These
// two tests set environment variables with t.Setenv, which is process-wide,
// so they do not call t.Parallel (t.Setenv refuses to in parallel tests). The
// parallel tests above read only their own maps, never the environment, and
// Go runs these sequential tests before it releases the parallel ones.
func TestLoadRefusesUnsafeProduction(t *testing.T) {
	setAll(t, map[string]string{
		"PRODUCTION":           "true",
		"JWT_SECRET":           "",
		"CORS_ALLOWED_ORIGINS": "*",
	})
	_, _, err := Load()
	refusedFor(t, err, "JWT_SECRET must be set", "CORS_ALLOWED_ORIGINS", "declare TLS")
}

func TestLoadAcceptsSafeProduction(t *testing.T) {
	setAll(t, safeProduction())
	c, _, err := Load()
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if !c.Production || c.DemoData || c.TLSTermination != "proxy" {
		t.Errorf("production %v, demo %v, TLS termination %q", c.Production, c.DemoData, c.TLSTermination)
	}
	prefixes, err := c.TrustedProxyPrefixes()
	if err != nil || len(prefixes) != 1 || prefixes[0].String() != "10.0.0.0/8" {
		t.Errorf("trusted proxies %v, %v", prefixes, err)
	}
}

// setAll sets the variables of the production checks to vars, and the
// others of them to empty (which the parser treats as unset), so the
// machine's environment does not leak in.
func setAll(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, k := range []string{"PRODUCTION", "JWT_SECRET", "CORS_ALLOWED_ORIGINS", "TLS_TERMINATION",
		"TLS_CERT_FILE", "TLS_KEY_FILE", "TRUSTED_PROXIES", "GRAPHIQL", "INTROSPECTION", "PUBLIC_URL"} {
		t.Setenv(k, vars[k])
	}
}

// keyPair writes a self-signed certificate and its key, for TLS_CERT_FILE
// and TLS_KEY_FILE.
func keyPair(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Every rule: a bad value is refused with a message that starts with the
// variable's name and quotes the value.
func TestRefusesBadValues(t *testing.T) {
	t.Parallel()
	cert, key := keyPair(t)
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		// Values the parser cannot read name the variable, not the field.
		{map[string]string{"ACCESS_TOKEN_TTL": "fifteen"}, `ACCESS_TOKEN_TTL: "fifteen" is not a duration`},
		{map[string]string{"LOCKOUT_THRESHOLD": "five"}, `LOCKOUT_THRESHOLD: "five" is not a whole number`},
		{map[string]string{"DEMO_DATA": "yes please"}, `DEMO_DATA: "yes please" is not true or false`},
		{map[string]string{"GRAPHIQL": "sometimes"}, `GRAPHIQL: "sometimes" is not true or false`},
		{map[string]string{"SHUTDOWN_DRAIN": "soon"}, `SHUTDOWN_DRAIN: "soon" is not a duration`},
		// Durations.
		{map[string]string{"ACCESS_TOKEN_TTL": "0s"}, `ACCESS_TOKEN_TTL: "0s" must be at least 1s`},
		{map[string]string{"ACCESS_TOKEN_TTL": "-5m"}, `ACCESS_TOKEN_TTL: "-5m" must be at least 1s`},
		{map[string]string{"REFRESH_TOKEN_TTL": "-1h"}, `REFRESH_TOKEN_TTL: "-1h" must be at least 1s`},
		{map[string]string{"REFRESH_TOKEN_TTL": "5m"}, `REFRESH_TOKEN_TTL: "5m" must be longer than ACCESS_TOKEN_TTL (15m0s)`},
		{map[string]string{"REFRESH_TOKEN_TTL": "10m"}, `REFRESH_TOKEN_TTL: "10m" must be longer than ACCESS_TOKEN_TTL`},
		{map[string]string{"ACCESS_TOKEN_TTL": "2h", "REFRESH_TOKEN_TTL": "2h"}, `REFRESH_TOKEN_TTL: "2h" must be longer`},
		{map[string]string{"SHUTDOWN_TIMEOUT": "0"}, `SHUTDOWN_TIMEOUT: "0" must be at least 1s`},
		{map[string]string{"SHUTDOWN_DRAIN": "-1s"}, `SHUTDOWN_DRAIN: "-1s" must not be negative`},
		{map[string]string{"LICENSE_ADJUSTMENT_WINDOW": "500ms"}, `LICENSE_ADJUSTMENT_WINDOW: "500ms" must be at least 1s`},
		{map[string]string{"JOB_RETRY_BASE": "0s"}, `JOB_RETRY_BASE: "0s" must be at least 10ms`},
		{map[string]string{"JOB_RETRY_MAX": "1s"}, `JOB_RETRY_MAX: "1s" must be at least JOB_RETRY_BASE (5s)`},
		{map[string]string{"JOB_TIMEOUT": "-1s"}, `JOB_TIMEOUT: "-1s" must be at least 1s`},
		{map[string]string{"JOB_RESCUE_AFTER": "1m"}, `JOB_RESCUE_AFTER: "1m" must be longer than JOB_TIMEOUT (1m0s)`},
		{map[string]string{"JOB_POLL_INTERVAL": "0s"}, `JOB_POLL_INTERVAL: "0s" must be at least 10ms`},
		{map[string]string{"PASSWORD_RESET_TTL": "30s"}, `PASSWORD_RESET_TTL: "30s" must be at least 1m`},
		{map[string]string{"INVITATION_TTL": "59m"}, `INVITATION_TTL: "59m" must be at least 1h`},
		{map[string]string{"INVITATION_TTL": "-168h"}, `INVITATION_TTL: "-168h" must be at least 1h`},
		{map[string]string{"LOCKOUT_BASE": "0s"}, `LOCKOUT_BASE: "0s" must be at least 1s`},
		{map[string]string{"LOCKOUT_MAX": "30s"}, `LOCKOUT_MAX: "30s" must be at least LOCKOUT_BASE (1m0s)`},
		{map[string]string{"OPERATION_TIMEOUT": "0s"}, `OPERATION_TIMEOUT: "0s" must be at least 1s`},
		{map[string]string{"REQUEST_BODY_TIMEOUT": "0s"}, `REQUEST_BODY_TIMEOUT: "0s" must be at least 1s`},
		{map[string]string{"UPLOAD_TIMEOUT": "-1s"}, `UPLOAD_TIMEOUT: "-1s" must be at least 1s`},
		// Counts.
		{map[string]string{"LOCKOUT_THRESHOLD": "-3"}, `LOCKOUT_THRESHOLD: "-3" must be at least 1`},
		{map[string]string{"LOCKOUT_IP_THRESHOLD": "0"}, `LOCKOUT_IP_THRESHOLD: "0" must be at least 1`},
		// Choices.
		{map[string]string{"LOG_FORMAT": "xml"}, `LOG_FORMAT: "xml" must be text or json`},
		{map[string]string{"LOG_LEVEL": "loud"}, `LOG_LEVEL: "loud" must be debug, info, warn or error`},
		{map[string]string{"TLS_TERMINATION": "edge"}, `TLS_TERMINATION: "edge" must be "proxy"`},
		// Addresses.
		{map[string]string{"HTTP_ADDR": "nonsense"}, `HTTP_ADDR: "nonsense" must be host:port`},
		{map[string]string{"HTTP_ADDR": ":http"}, `HTTP_ADDR: ":http" has no port number`},
		{map[string]string{"HTTP_ADDR": ":70000"}, `HTTP_ADDR: ":70000" has no port number`},
		{map[string]string{"HTTP_ADDR": "bad host:80"}, `HTTP_ADDR: "bad host:80" has an invalid host`},
		{map[string]string{"METRICS_ADDR": "9090"}, `METRICS_ADDR: "9090" must be host:port`},
		{map[string]string{"METRICS_ADDR": "127.0.0.1:8080"}, `METRICS_ADDR: "127.0.0.1:8080" must differ from HTTP_ADDR (":8080")`},
		{map[string]string{"HTTP_ADDR": "10.0.0.1:9000", "METRICS_ADDR": "10.0.0.1:9000"}, `METRICS_ADDR: "10.0.0.1:9000" must differ`},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, `TRUSTED_PROXIES: "proxy.local" is neither an address nor a CIDR range`},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, `TRUSTED_PROXIES: "10.0.0.0/33" is neither`},
		// URLs.
		{map[string]string{"CORS_ALLOWED_ORIGINS": "admin.example.com"}, `CORS_ALLOWED_ORIGINS: "admin.example.com" must be * or scheme://host[:port]`},
		{map[string]string{"CORS_ALLOWED_ORIGINS": "https://admin.example.com/app"}, `CORS_ALLOWED_ORIGINS: "https://admin.example.com/app" must be * or scheme://host[:port]`},
		{map[string]string{"CORS_ALLOWED_ORIGINS": "https://admin.example.com/"}, `CORS_ALLOWED_ORIGINS: "https://admin.example.com/" must be`},
		{map[string]string{"CORS_ALLOWED_ORIGINS": "https://admin.example.com?x=1"}, `CORS_ALLOWED_ORIGINS: "https://admin.example.com?x=1" must be`},
		{map[string]string{"CORS_ALLOWED_ORIGINS": "localhost:3000"}, `CORS_ALLOWED_ORIGINS: "localhost:3000" must be`},
		{map[string]string{"CORS_ALLOWED_HEADERS": "Authorization,X Clinic"}, `CORS_ALLOWED_HEADERS: "X Clinic" is not a header name`},
		{map[string]string{"CORS_ALLOWED_HEADERS": "X-Clinic-Id:"}, `CORS_ALLOWED_HEADERS: "X-Clinic-Id:" is not a header name`},
		{map[string]string{"PASSWORD_RESET_URL": "not-a-url"}, `PASSWORD_RESET_URL: "not-a-url" must be an absolute http:// or https:// URL`},
		{map[string]string{"PASSWORD_RESET_URL": "/reset-password"}, `PASSWORD_RESET_URL: "/reset-password" must be an absolute`},
		{map[string]string{"PASSWORD_RESET_URL": "ftp://admin.example.com/reset"}, `PASSWORD_RESET_URL: "ftp://admin.example.com/reset" must be`},
		{map[string]string{"PUBLIC_URL": "users.example.com"}, `PUBLIC_URL: "users.example.com" must be an absolute http:// or https:// URL`},
		{map[string]string{"PUBLIC_URL": "https://users.example.com/?a=b"}, `PUBLIC_URL: "https://users.example.com/?a=b" must be`},
		{map[string]string{"PUBLIC_URL": "https://users.example.com/#top"}, `PUBLIC_URL: "https://users.example.com/#top" must be`},
		{map[string]string{"DATABASE_URL": "mysql://db/usermanager"}, `DATABASE_URL: "mysql://db/usermanager" must be a postgres:// or postgresql:// URL`},
		{map[string]string{"DATABASE_URL": "host=db dbname=usermanager"}, `DATABASE_URL: "host=db dbname=usermanager" must be a postgres://`},
		{map[string]string{"BLOB_URL": "gs://bucket"}, `BLOB_URL: "gs://bucket" has an unsupported scheme "gs"`},
		{map[string]string{"BLOB_URL": "/var/lib/blobs"}, `BLOB_URL: "/var/lib/blobs" must be a bucket URL`},
		{map[string]string{"BLOB_URL": "s3://?region=eu-west-1"}, `BLOB_URL: "s3://?region=eu-west-1" names no bucket`},
		{map[string]string{"SMTP_URL": "mail.example.com:587"}, `SMTP_URL: "mail.example.com:587" must be smtp://`},
		{map[string]string{"SMTP_URL": "smtp://:587"}, `SMTP_URL: "smtp://:587" must be smtp://`},
		{map[string]string{"SMTP_URL": "smtp://relay?tls=maybe"}, `SMTP_URL: "smtp://relay?tls=maybe" must be smtp://`},
		{map[string]string{"MAIL_FROM": "nobody"}, `MAIL_FROM: "nobody" is not an email address`},
		// TLS.
		{map[string]string{"TLS_CERT_FILE": cert}, `TLS_KEY_FILE: must be set with TLS_CERT_FILE`},
		{map[string]string{"TLS_KEY_FILE": key}, `TLS_CERT_FILE: must be set with TLS_KEY_FILE`},
		{map[string]string{"TLS_CERT_FILE": cert + ".missing", "TLS_KEY_FILE": key}, `TLS_CERT_FILE: "` + cert + `.missing" and TLS_KEY_FILE "` + key + `" do not load`},
		{map[string]string{"TLS_CERT_FILE": key, "TLS_KEY_FILE": cert}, `do not load as a certificate and its key`},
		// A short secret is refused outside production too, unquoted.
		{map[string]string{"JWT_SECRET": "short"}, `JWT_SECRET: must be at least 32 bytes`},
	} {
		_, err := fromEnv(t, tc.vars)
		if err == nil {
			t.Errorf("%v accepted, want %s", tc.vars, tc.want)
			continue
		}
		var cerr *Error
		if !errors.As(err, &cerr) || !strings.HasPrefix(err.Error(), "invalid configuration:\n  - ") {
			t.Errorf("%v: error %q is not a list of problems", tc.vars, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error\n%s\ndoes not say %s", tc.vars, err, tc.want)
		}
		if n := strings.Count(err.Error(), "\n  - "); n != 1 {
			t.Errorf("%v: %d problems listed, want 1:\n%s", tc.vars, n, err)
		}
		for _, field := range []string{"AccessTokenTTL", "field", "env:"} {
			if strings.Contains(err.Error(), field) {
				t.Errorf("%v: error %q names a Go field", tc.vars, err)
			}
		}
	}
}

// Good values of every rule are accepted, and lists are trimmed.
func TestAcceptsGoodValues(t *testing.T) {
	t.Parallel()
	cert, key := keyPair(t)
	c, err := fromEnv(t, map[string]string{
		"ACCESS_TOKEN_TTL": "1s", "REFRESH_TOKEN_TTL": "2s", "SHUTDOWN_DRAIN": "0s",
		"LOG_FORMAT": "JSON", "LOG_LEVEL": "Debug", "LOCKOUT_THRESHOLD": "1",
		"HTTP_ADDR": "[::1]:8443", "METRICS_ADDR": "127.0.0.1:9090",
		"TRUSTED_PROXIES":      " 10.0.0.0/8 , 192.168.1.7,::1, ",
		"CORS_ALLOWED_ORIGINS": " https://admin.example.com , http://localhost:5173,capacitor://localhost,*",
		"CORS_ALLOWED_HEADERS": "Authorization, X-Clinic-Id",
		"PASSWORD_RESET_URL":   "https://admin.example.com/#/reset?x=1",
		"PUBLIC_URL":           "https://example.com/usermanager/",
		"DATABASE_URL":         "postgresql://app:secret@db:5432/usermanager?sslmode=require",
		"BLOB_URL":             "s3://media?region=eu-west-1&endpoint=http://minio:9000",
		"SMTP_URL":             "smtp://user:pass@mail.example.com:587?tls=opportunistic",
		"MAIL_FROM":            "ops@example.com",
		"TLS_CERT_FILE":        cert, "TLS_KEY_FILE": key,
		"JWT_SECRET": strongSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.CORSAllowedOrigins, "|") != "https://admin.example.com|http://localhost:5173|capacitor://localhost|*" ||
		strings.Join(c.CORSAllowedHeaders, "|") != "Authorization|X-Clinic-Id" || len(c.TrustedProxies) != 3 {
		t.Errorf("lists not trimmed: %q %q %q", c.CORSAllowedOrigins, c.CORSAllowedHeaders, c.TrustedProxies)
	}
	if c.LogFormat != "json" || c.LogLevel != "debug" {
		t.Errorf("log format %q, level %q", c.LogFormat, c.LogLevel)
	}
	if c.PublicBaseURL() != "https://example.com/usermanager" || c.DrainPeriod() != 0 {
		t.Errorf("public URL %q, drain %v", c.PublicBaseURL(), c.DrainPeriod())
	}
	for _, blob := range []string{"file:///var/lib/usermanager/blobs?create_dir=true", "mem://"} {
		if _, err := fromEnv(t, map[string]string{"BLOB_URL": blob}); err != nil {
			t.Errorf("BLOB_URL=%s refused: %v", blob, err)
		}
	}
}

// Every problem is listed at once, one per line, each naming its variable.
func TestListsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := fromEnv(t, map[string]string{
		"ACCESS_TOKEN_TTL": "0s", "REFRESH_TOKEN_TTL": "-1h", "LOG_FORMAT": "xml", "LOG_LEVEL": "loud",
		"LOCKOUT_THRESHOLD": "-3", "CORS_ALLOWED_ORIGINS": "admin.example.com", "PASSWORD_RESET_URL": "not-a-url",
		"HTTP_ADDR": "nonsense", "JOB_TIMEOUT": "soon",
	})
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`ACCESS_TOKEN_TTL: "0s" must be at least 1s`,
		`REFRESH_TOKEN_TTL: "-1h" must be at least 1s`,
		`LOG_FORMAT: "xml"`, `LOG_LEVEL: "loud"`, `LOCKOUT_THRESHOLD: "-3"`,
		`CORS_ALLOWED_ORIGINS: "admin.example.com"`, `PASSWORD_RESET_URL: "not-a-url"`, `HTTP_ADDR: "nonsense"`,
		`JOB_TIMEOUT: "soon" is not a duration`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), "\n  - "+w) {
			t.Errorf("error does not list %s:\n%s", w, err)
		}
	}
	if n := strings.Count(err.Error(), "\n  - "); n != len(want) {
		t.Errorf("%d problems listed, want %d (a value that cannot be read is not also out of range):\n%s", n, len(want), err)
	}
	// Invalid values and production's refusals are both listed.
	_, err = fromEnv(t, with(safeProduction(), map[string]string{"LOG_LEVEL": "loud", "PUBLIC_URL": "http://users.example.com"}))
	refusedFor(t, err, `LOG_LEVEL: "loud"`, `PUBLIC_URL: "http://users.example.com" must be an https:// URL in production`)
}

// Secrets are never printed: not JWT_SECRET, not the password in a URL.
func TestProblemsDoNotPrintSecrets(t *testing.T) {
	t.Parallel()
	_, err := fromEnv(t, map[string]string{
		"JWT_SECRET":   "hunter2-hunter2",
		"DATABASE_URL": "mysql://app:s3cr3t-db-1@db/usermanager",
		"SMTP_URL":     "smtp://user:s3cr3t-smtp-1@:x",
	})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, secret := range []string{"hunter2", "s3cr3t-db-1", "s3cr3t-smtp-1"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error prints %q:\n%s", secret, err)
		}
	}
	for _, name := range []string{"JWT_SECRET", "DATABASE_URL", "SMTP_URL"} {
		if !strings.Contains(err.Error(), "\n  - "+name+": ") {
			t.Errorf("the error does not name %s:\n%s", name, err)
		}
	}
	if !strings.Contains(err.Error(), `"mysql://app:xxxxx@db/usermanager"`) {
		t.Errorf("DATABASE_URL not shown with its password masked:\n%s", err)
	}
}

func TestWarnsAboutUnknownVariables(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string // want "" for no warning
	}{
		{"JWT_SECERT", "JWT_SECERT is set but not read: did you mean JWT_SECRET?"},
		{"DATABSE_URL", "did you mean DATABASE_URL?"},
		{"LOGLEVEL", "did you mean LOG_LEVEL?"},
		{"HTTP_ADR", "did you mean HTTP_ADDR?"},
		{"log_format", "did you mean LOG_FORMAT?"},
		{"USERMANAGER_FOO", "USERMANAGER_FOO is set but not read: User Manager has no such variable"},
		{"USERMANAGER_PASWORD", "did you mean USERMANAGER_PASSWORD?"},
		{"USERMANAGER_JWT_SECRET", "did you mean JWT_SECRET? (settings have no USERMANAGER_ prefix)"},
		// Known names, and other programs' variables, are not reported.
		{"USERMANAGER_PASSWORD", ""},
		{"USERMANAGER_BENCH_USERS", ""},
		{"USERMANAGER_BENCH_SUBSCRIBERS", ""},
		{"JWT_SECRET", ""},
		{"PATH", ""}, {"HOME", ""}, {"PGPASSWORD", ""}, {"PGDATA", ""}, {"GOFLAGS", ""}, {"GOPATH", ""},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", ""}, {"OTEL_SERVICE_NAME", ""}, {"HTTP_PROXY", ""}, {"HTTPS_PROXY", ""},
		{"NO_PROXY", ""}, {"HOSTNAME", ""}, {"TMPDIR", ""}, {"LANG", ""}, {"TERM", ""}, {"SHELL", ""},
		{"TEST_DATABASE_URL", ""}, {"REQUIRE_POSTGRES", ""}, {"SSL_CERT_FILE", ""}, {"SSL_CERT_DIR", ""}, {"PG_BIN", ""}, {"DATA", ""},
	} {
		_, warnings, err := parse(map[string]string{tc.name: "x"})
		_ = err // some names are also settings with a bad value
		got := strings.Join(warnings, "\n")
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%s: warned %q", tc.name, got)
		case tc.want != "" && (len(warnings) != 1 || !strings.Contains(got, tc.want)):
			t.Errorf("%s: warnings %q, want one saying %q", tc.name, warnings, tc.want)
		}
	}
	// Warnings come with a valid configuration too.
	c, warnings, err := parse(map[string]string{"JWT_SECERT": strongSecret})
	if err != nil || c == nil || len(warnings) != 1 {
		t.Errorf("config %v, warnings %q, error %v", c, warnings, err)
	}
	if strings.Contains(strings.Join(warnings, ""), strongSecret) {
		t.Error("a warning prints the variable's value")
	}
}

func TestDamerauLevenshtein(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"JWT_SECRET", "JWT_SECRET", 0}, {"JWT_SECERT", "JWT_SECRET", 1}, {"JWT_SECRT", "JWT_SECRET", 1},
		{"JTW_SECERT", "JWT_SECRET", 2}, {"ABC", "", 3}, {"CA", "ABC", 3},
	} {
		if d := distance(tc.a, tc.b); d != tc.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}

func TestNewVariablesDefaults(t *testing.T) {
	t.Parallel()
	c, err := fromEnv(t, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "" || c.PublicBaseURL() != "http://localhost:8080" {
		t.Errorf("PUBLIC_URL %q, base %q", c.PublicURL, c.PublicBaseURL())
	}
	if c.MetricsAddr != "" {
		t.Errorf("METRICS_ADDR %q by default", c.MetricsAddr)
	}
	if c.DrainPeriod() != 0 {
		t.Errorf("drain %v on the embedded database, want 0", c.DrainPeriod())
	}
	want := "Authorization,Content-Type,X-Clinic-Id,X-Request-Id,apollographql-client-name,apollographql-client-version," +
		"apollo-require-preflight,x-apollo-operation-name,traceparent,tracestate,baggage,sentry-trace"
	if got := strings.Join(c.CORSAllowedHeaders, ","); got != want {
		t.Errorf("CORS_ALLOWED_HEADERS default %q", got)
	}
	pg, err := fromEnv(t, map[string]string{"DATABASE_URL": "postgres://db/usermanager"})
	if err != nil {
		t.Fatal(err)
	}
	if pg.DrainPeriod() != 5*time.Second {
		t.Errorf("drain %v on PostgreSQL, want 5s", pg.DrainPeriod())
	}
	pg, err = fromEnv(t, map[string]string{"DATABASE_URL": "postgres://db/usermanager", "SHUTDOWN_DRAIN": "0s"})
	if err != nil || pg.DrainPeriod() != 0 {
		t.Errorf("SHUTDOWN_DRAIN=0s on PostgreSQL: drain %v, %v", pg.DrainPeriod(), err)
	}
	c, err = fromEnv(t, map[string]string{"SHUTDOWN_DRAIN": "12s"})
	if err != nil || c.DrainPeriod() != 12*time.Second {
		t.Errorf("SHUTDOWN_DRAIN=12s: drain %v, %v", c.DrainPeriod(), err)
	}
	help := Help()
	for _, name := range []string{"PUBLIC_URL", "CORS_ALLOWED_HEADERS", "SHUTDOWN_DRAIN", "METRICS_ADDR"} {
		if !strings.Contains(help, "  "+name+" ") {
			t.Errorf("--help does not describe %s", name)
		}
	}
}

func TestPublicBaseURL(t *testing.T) {
	t.Parallel()
	cert, key := keyPair(t)
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{}, "http://localhost:8080"},
		{map[string]string{"HTTP_ADDR": "0.0.0.0:9000"}, "http://localhost:9000"},
		{map[string]string{"HTTP_ADDR": "[::]:9000"}, "http://localhost:9000"},
		{map[string]string{"HTTP_ADDR": "127.0.0.1:9000"}, "http://127.0.0.1:9000"},
		{map[string]string{"HTTP_ADDR": "[::1]:9000"}, "http://[::1]:9000"},
		{map[string]string{"HTTP_ADDR": "users.internal:9000"}, "http://users.internal:9000"},
		{map[string]string{"HTTP_ADDR": ":8443", "TLS_CERT_FILE": cert, "TLS_KEY_FILE": key}, "https://localhost:8443"},
		{map[string]string{"PUBLIC_URL": "https://users.example.com/"}, "https://users.example.com"},
		{map[string]string{"PUBLIC_URL": "https://example.com:8443/um//"}, "https://example.com:8443/um"},
		{map[string]string{"PUBLIC_URL": "http://localhost:8080", "HTTP_ADDR": ":9000"}, "http://localhost:8080"},
	} {
		c, err := fromEnv(t, tc.vars)
		if err != nil {
			t.Errorf("%v: %v", tc.vars, err)
			continue
		}
		if got := c.PublicBaseURL(); got != tc.want {
			t.Errorf("%v: PublicBaseURL %q, want %q", tc.vars, got, tc.want)
		}
	}
	// In production PUBLIC_URL is required, and https.
	_, err := fromEnv(t, with(safeProduction(), map[string]string{"PUBLIC_URL": ""}))
	refusedFor(t, err, "PUBLIC_URL must be set")
}

// Load checks the process's environment and returns its warnings.
func TestLoadChecksTheEnvironment(t *testing.T) {
	setAll(t, map[string]string{})
	t.Setenv("ACCESS_TOKEN_TTL", "0s")
	t.Setenv("LOG_LEVEL", "loud")
	t.Setenv("JWT_SECERT", "x")
	_, warnings, err := Load()
	if err == nil || !strings.Contains(err.Error(), "ACCESS_TOKEN_TTL") || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Errorf("Load: %v", err)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), "did you mean JWT_SECRET?") {
		t.Errorf("warnings %q", warnings)
	}
}

// INVITATION_TTL: 7 days by default, at least an hour, described by --help.
func TestInvitationTTL(t *testing.T) {
	t.Parallel()
	c, err := fromEnv(t, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.InvitationTTL != 168*time.Hour {
		t.Errorf("INVITATION_TTL default %v, want 168h", c.InvitationTTL)
	}
	c, err = fromEnv(t, map[string]string{"INVITATION_TTL": "1h"})
	if err != nil || c.InvitationTTL != time.Hour {
		t.Errorf("INVITATION_TTL=1h: %v, %v", c.InvitationTTL, err)
	}
	for _, bad := range []string{"59m", "0", "-1h", "a week"} {
		_, err := fromEnv(t, map[string]string{"INVITATION_TTL": bad})
		if err == nil || !strings.Contains(err.Error(), `INVITATION_TTL: "`+bad+`"`) {
			t.Errorf("INVITATION_TTL=%s: %v", bad, err)
		}
	}
	if !strings.Contains(Help(), "  INVITATION_TTL ") {
		t.Error("--help does not describe INVITATION_TTL")
	}
}
