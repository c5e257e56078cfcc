package config

import (
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
)

// A strong secret: 48 random bytes, base64.
const strongSecret = "q3Jx0v7Yb2kP9sLw4NfT1hGmZ8cRuE5aVdKoIy6XeBnQpWtA"

// fromEnv reads a configuration from vars alone (not the process's
// environment, so these tests can run in parallel) and applies the
// production checks, as Load does.
func fromEnv(t *testing.T, vars map[string]string) (*Config, error) {
	t.Helper()
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		t.Fatalf("parsing %v: %v", vars, err)
	}
	return &c, c.checkProduction()
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
	for name, vars := range map[string]map[string]string{
		"behind a proxy": safeProduction(),
		"several proxies and origins": with(safeProduction(), map[string]string{
			"TRUSTED_PROXIES":      "10.0.0.0/8,192.168.1.7",
			"CORS_ALLOWED_ORIGINS": "https://admin.example.com,https://admin2.example.com",
		}),
		"own certificate": with(safeProduction(), map[string]string{
			"TLS_TERMINATION": "", "TRUSTED_PROXIES": "",
			"TLS_CERT_FILE": "/etc/usermanager/cert.pem", "TLS_KEY_FILE": "/etc/usermanager/key.pem",
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
	refusedFor(t, err, "JWT_SECRET is too weak", "CORS_ALLOWED_ORIGINS", "declare TLS")
	if n := strings.Count(err.Error(), "\n  - "); n != 3 {
		t.Errorf("%d problems listed, want 3: %q", n, err)
	}
	_, err = fromEnv(t, map[string]string{"PRODUCTION": "true", "TLS_TERMINATION": "proxy"})
	refusedFor(t, err, "JWT_SECRET must be set", "TRUSTED_PROXIES")
}

// Outside production the same settings are a first run's, and accepted;
// the demo organization is loaded and GraphiQL served.
func TestDevelopmentAcceptsDefaults(t *testing.T) {
	t.Parallel()
	c, err := fromEnv(t, map[string]string{"CORS_ALLOWED_ORIGINS": "*", "JWT_SECRET": "short"})
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
	_, err := Load()
	refusedFor(t, err, "JWT_SECRET must be set", "CORS_ALLOWED_ORIGINS", "declare TLS")
}

func TestLoadAcceptsSafeProduction(t *testing.T) {
	setAll(t, safeProduction())
	c, err := Load()
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
		"TLS_CERT_FILE", "TLS_KEY_FILE", "TRUSTED_PROXIES", "GRAPHIQL", "INTROSPECTION"} {
		t.Setenv(k, vars[k])
	}
}
