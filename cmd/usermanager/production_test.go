package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Production mode (PRODUCTION=true) refuses unsafe settings before it does
// anything, naming every problem, and with safe ones serves no GraphiQL,
// no introspection and no demo data, with HSTS.

// prodSettings are the variables these tests set; inherited values of them
// are dropped so that the machine's environment cannot change the outcome.
var prodSettings = []string{"PRODUCTION", "JWT_SECRET", "CORS_ALLOWED_ORIGINS", "TLS_TERMINATION",
	"TLS_CERT_FILE", "TLS_KEY_FILE", "DATABASE_URL", "DATA_DIR", "HTTP_ADDR", "GRAPHIQL", "INTROSPECTION",
	"TRUSTED_PROXIES", "DEMO_DATA", "PUBLIC_URL"}

func prodEnviron(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, s := range prodSettings {
			keep = keep && name != s
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

func prodSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestProdRefusesUnsafeSettings(t *testing.T) {
	t.Parallel()
	good := prodSecret(t)
	const (
		noSecret = "JWT_SECRET must be set"
		weak     = "JWT_SECRET is too weak"
		cors     = "CORS_ALLOWED_ORIGINS must list"
		tls      = "declare TLS"
		proxies  = "TRUSTED_PROXIES must list"
		proxy    = "TLS_TERMINATION=proxy"
		trusted  = "TRUSTED_PROXIES=10.0.0.0/8"
	)
	all := []string{noSecret, weak, cors, tls, proxies}
	cases := []struct {
		name string
		env  []string
		want []string
		// secret must not be echoed.
		secret string
	}{
		{"nothing set", nil, []string{noSecret, tls}, ""},
		{"every problem at once", []string{"JWT_SECRET=short-secret-1", "CORS_ALLOWED_ORIGINS=https://admin.example.com,*"},
			[]string{weak, cors, tls}, "short-secret-1"},
		{"a long secret of few characters", []string{"JWT_SECRET=" + strings.Repeat("ab12", 10), proxy, trusted},
			[]string{weak}, strings.Repeat("ab12", 10)},
		{"a 31-byte secret", []string{"JWT_SECRET=" + good[:31], proxy, trusted}, []string{weak}, good[:31]},
		{"CORS for every origin", []string{"JWT_SECRET=" + good, proxy, trusted, "CORS_ALLOWED_ORIGINS=*"},
			[]string{cors}, good},
		{"no TLS declared", []string{"JWT_SECRET=" + good}, []string{tls}, good},
		{"a proxy but no trusted proxies", []string{"JWT_SECRET=" + good, proxy}, []string{proxies}, good},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, "serve")
			cmd.Env = prodEnviron(append([]string{"PRODUCTION=true", "DATA_DIR=" + data, "HTTP_ADDR=" + freeAddr(t)}, tc.env...)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			started := time.Now()
			err := cmd.Run()
			took := time.Since(started)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("serve did not fail: %v\n%s%s", err, stdout.String(), stderr.String())
			}
			t.Logf("exit %d after %v: %s", exit.ExitCode(), took.Round(time.Millisecond), strings.TrimSpace(stderr.String()))
			if took > 5*time.Second {
				t.Errorf("refusing took %v", took)
			}
			for _, problem := range all {
				listed := strings.Contains(stderr.String(), problem)
				wanted := false
				for _, w := range tc.want {
					wanted = wanted || w == problem
				}
				if listed != wanted {
					t.Errorf("problem %q listed = %v, want %v:\n%s", problem, listed, wanted, stderr.String())
				}
			}
			if tc.secret != "" && strings.Contains(stdout.String()+stderr.String(), tc.secret) {
				t.Errorf("the refused JWT_SECRET was printed")
			}
			// Nothing was done: no generated secret, no database.
			entries, _ := os.ReadDir(data)
			if len(entries) > 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("a refused start left files in DATA_DIR: %v", names)
			}
		})
	}
}

func TestProdStartsWithSafeSettings(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	secret := prodSecret(t)
	p := start(t, prodEnviron("PRODUCTION=true", "JWT_SECRET="+secret, "TLS_TERMINATION=proxy",
		"TRUSTED_PROXIES=127.0.0.1", "CORS_ALLOWED_ORIGINS=https://admin.example.com", "DATA_DIR="+data,
		"PUBLIC_URL=https://users.example.com")...)
	base := "http://" + p.addr
	for _, path := range []string{"/", "/graphql?query=%7B__typename%7D", "/healthz"} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		// GET queries need a header that forces a CORS preflight (CSRF).
		req.Header.Set("Apollo-Require-Preflight", "true")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if path == "/" && res.StatusCode != http.StatusNotFound {
			t.Errorf("GET / (GraphiQL) in production: status %d, want 404", res.StatusCode)
		}
		if path != "/" && res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", path, res.StatusCode)
		}
		if hsts := res.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("GET %s: no HSTS (%q)", path, hsts)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: security headers missing: %v", path, res.Header)
		}
	}

	body, _ := json.Marshal(map[string]any{"query": `{ __schema { types { name } } }`})
	res, err := http.Post(base+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Data   json.RawMessage
		Errors []json.RawMessage
	}
	_ = json.NewDecoder(res.Body).Decode(&answer)
	res.Body.Close()
	if len(answer.Errors) == 0 || strings.Contains(string(answer.Data), `"types"`) {
		t.Errorf("introspection answered in production: %s %s", answer.Data, answer.Errors)
	}

	// No demo organization: its administrator does not exist.
	if strings.Contains(p.log.String(), "loaded the demo organization") {
		t.Error("production loaded the demo data")
	}
	if _, err := os.Stat(filepath.Join(data, "demo-credentials.txt")); err == nil {
		t.Error("production wrote demo credentials")
	}
	if strings.Contains(p.log.String(), secret) {
		t.Error("the JWT secret is in the log")
	}
	if _, err := os.Stat(filepath.Join(data, "jwt-secret")); err == nil {
		t.Error("production generated a signing secret although JWT_SECRET is set")
	}
	p.stop(t)
}
