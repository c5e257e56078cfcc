package main_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/clinicemr/usermanager/internal/auth"
	"github.com/clinicemr/usermanager/internal/config"
	_ "github.com/clinicemr/usermanager/internal/media" // registers the bucket drivers the binary opens
	"github.com/clinicemr/usermanager/internal/testdb"
)

// These tests build the binary and use it as an operator would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "usermanager-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "usermanager")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building usermanager: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	testdb.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

type process struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	addr string
}

// syncBuffer collects a process's output, written by exec's copying
// goroutine while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t *testing.T, env ...string) *process {
	t.Helper()
	addr := freeAddr(t)
	p := &process{log: &syncBuffer{}, addr: addr}
	p.cmd = exec.Command(binary, "serve")
	p.cmd.Env = append(os.Environ(), append(env, "HTTP_ADDR="+addr)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _, _ = p.cmd.Process.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready:\n%s", p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects a clean exit (graceful shutdown).
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", p.log)
	}
}

func (p *process) login(t *testing.T, login, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { accessToken userErrors { code } } }`,
		"variables": map[string]any{"l": login, "p": password},
	})
	res, err := http.Post("http://"+p.addr+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data struct{ Login struct{ AccessToken *string } }
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Data.Login.AccessToken == nil {
		return ""
	}
	return *out.Data.Login.AccessToken
}

// The README's first command: an empty embedded database gets the demo
// practice, logs how to sign in, serves GraphiQL, and the demo admin signs in.
func TestServeEmbeddedWithDemoData(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := start(t, "DATA_DIR="+data)
	if !strings.Contains(p.log.String(), "loaded the demo organization") {
		t.Fatalf("no sign-in hint in the log:\n%s", p.log)
	}
	creds, err := os.ReadFile(filepath.Join(data, "demo-credentials.txt"))
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSuffix(strings.SplitN(string(creds), "them: ", 2)[1], ")\n")
	password = strings.SplitN(password, ")", 2)[0]
	if strings.Contains(p.log.String(), password) {
		t.Fatal("the demo password was written to the log")
	}
	if p.login(t, "admin", password) == "" {
		t.Fatal("the demo administrator cannot sign in")
	}
	res, err := http.Get("http://" + p.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	_, _ = page.ReadFrom(res.Body)
	res.Body.Close()
	if !strings.Contains(page.String(), "graphiql") || strings.Contains(page.String(), "https://") {
		t.Fatalf("GraphiQL page missing or not self-contained")
	}
	p.stop(t)

	// A second start keeps the data and does not load the demo again.
	p = start(t, "DATA_DIR="+data)
	if strings.Contains(p.log.String(), "loaded the demo organization") {
		t.Fatal("demo data loaded twice")
	}
	if p.login(t, "admin", password) == "" {
		t.Fatal("the demo administrator cannot sign in after a restart (signing secret or data lost)")
	}
	p.stop(t)
}

func TestCreateSupport(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	run := func(stdin string, env []string, args ...string) (string, error) {
		cmd := exec.Command(binary, append([]string{"create-support"}, args...)...)
		cmd.Env = append(os.Environ(), append(env, "DATA_DIR="+data)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	const password = "Correct-Horse-Battery-9!"
	if out, err := run(password+"\n", nil, "--username", "ops", "--email", "ops@example.com"); err != nil {
		t.Fatalf("create-support from stdin: %v\n%s", err, out)
	}
	if out, err := run("", []string{"USERMANAGER_PASSWORD=" + password}, "--username", "OPS", "--email", "ops2@example.com"); err == nil || !strings.Contains(out, "USERNAME_TAKEN") {
		t.Fatalf("duplicate username accepted: %v\n%s", err, out)
	}
	if out, err := run("", []string{"USERMANAGER_PASSWORD=password"}, "--username", "ops3", "--email", "ops3@example.com"); err == nil || !strings.Contains(out, "WEAK_PASSWORD") {
		t.Fatalf("weak password accepted: %v\n%s", err, out)
	}
	if out, err := run("", nil, "--username", "ops4"); err == nil {
		t.Fatalf("missing --email accepted:\n%s", out)
	}
	p := start(t, "DATA_DIR="+data, "DEMO_DATA=false")
	if p.login(t, "ops@example.com", password) == "" {
		t.Fatal("the Support account cannot sign in")
	}
	p.stop(t)
}

// On PostgreSQL: serve refuses to start without a shared signing secret,
// migrate applies the versioned migrations, and serve then works.
func TestMigrateAndServePostgres(t *testing.T) {
	t.Parallel()
	dbURL := testdb.CreatePostgres(t, "cmd_test")
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "HTTP_ADDR="+freeAddr(t))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "JWT_SECRET") {
		t.Fatalf("serve without JWT_SECRET on PostgreSQL: %v\n%s", err, out)
	}
	cmd = exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "HTTP_ADDR="+freeAddr(t), "JWT_SECRET=0123456789abcdef0123456789abcdef-test")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "usermanager migrate") {
		t.Fatalf("serve on an unmigrated database: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 2 { // migrating twice is harmless
		cmd = exec.CommandContext(ctx, binary, "migrate")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
	}
	const password = "Correct-Horse-Battery-9!"
	cmd = exec.CommandContext(ctx, binary, "create-support", "--username", "ops", "--email", "ops@example.com")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "USERMANAGER_PASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create-support: %v\n%s", err, out)
	}
	p := start(t, "DATABASE_URL="+dbURL, "JWT_SECRET=0123456789abcdef0123456789abcdef-test")
	if !strings.Contains(p.log.String(), "can rewrite the audit trail") {
		t.Errorf("serve as the owner does not warn that it can rewrite the audit trail:\n%s", p.log)
	}
	if p.login(t, "ops", password) == "" {
		t.Fatal("the Support account cannot sign in on PostgreSQL")
	}
	p.stop(t)
}

// On PostgreSQL, serve runs as the application role that `migrate
// --app-role` creates and grants: it starts (reading the migration state),
// signs a user in and makes changes, each recorded in the audit trail, while
// the audit trail stays out of its reach (internal/db tests the refusals).
func TestServePostgresAsAppRole(t *testing.T) {
	t.Parallel()
	dbURL := testdb.CreatePostgres(t, "cmd_app_role")
	owner, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Close() })
	var mayCreateRoles bool
	if err := owner.QueryRow(`SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&mayCreateRoles); err != nil {
		t.Fatal(err)
	}
	if !mayCreateRoles {
		t.Skip("the test PostgreSQL role may not create roles (it needs CREATEROLE)")
	}
	// Roles belong to the whole server: a name of this process's own, and
	// dropped at the end (after the server below has stopped).
	role := fmt.Sprintf("usermanager_app_cmd_%d", os.Getpid())
	t.Cleanup(func() {
		for _, stmt := range []string{`DROP OWNED BY ` + role, `DROP ROLE ` + role} {
			if _, err := owner.Exec(stmt); err != nil {
				t.Logf("cleaning up: %s: %v", stmt, err)
				return
			}
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role) // the test server trusts local connections: no password
	appURL := u.String()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run([]string{"DATA_DIR=" + t.TempDir()}, "migrate", "--app-role", role); err == nil || !strings.Contains(out, "PostgreSQL") {
		t.Errorf("migrate --app-role on the embedded database: %v\n%s", err, out)
	}
	// Before migrate grants it, the role does not exist.
	if out, err := run([]string{"DATABASE_URL=" + appURL, "JWT_SECRET=0123456789abcdef0123456789abcdef-test", "HTTP_ADDR=" + freeAddr(t)}, "serve"); err == nil {
		t.Fatalf("serve as a role migrate has not created:\n%s", out)
	}
	for range 2 { // granting twice is harmless
		if out, err := run([]string{"DATABASE_URL=" + dbURL}, "migrate", "--app-role", role); err != nil {
			t.Fatalf("migrate --app-role: %v\n%s", err, out)
		}
	}
	// APP_ROLE does the same as the option.
	if out, err := run([]string{"DATABASE_URL=" + dbURL, "APP_ROLE=" + role}, "migrate"); err != nil {
		t.Fatalf("migrate with APP_ROLE: %v\n%s", err, out)
	}
	const password = "Correct-Horse-Battery-9!"
	if out, err := run([]string{"DATABASE_URL=" + dbURL, "USERMANAGER_PASSWORD=" + password},
		"create-support", "--username", "ops", "--email", "ops@example.com"); err != nil {
		t.Fatalf("create-support: %v\n%s", err, out)
	}

	p := start(t, "DATABASE_URL="+appURL, "JWT_SECRET=0123456789abcdef0123456789abcdef-test", "DATA_DIR="+t.TempDir())
	if strings.Contains(p.log.String(), "can rewrite the audit trail") {
		t.Errorf("serve as the application role warns that it can rewrite the audit trail:\n%s", p.log)
	}
	token := p.login(t, "ops", password)
	if token == "" {
		t.Fatalf("Support cannot sign in with serve running as the application role:\n%s", p.log)
	}
	var created struct {
		CreateOrganization struct {
			Administrator *struct{ Status string }
			UserErrors    []struct{ Code string }
		}
	}
	p.graphql(t, token, `mutation($in: CreateOrganizationInput!) { createOrganization(input: $in) {
		administrator { status } userErrors { code } } }`, map[string]any{"in": map[string]any{
		"name": "Bayside PT", "clinicName": "Bayside Main",
		"licenses": []map[string]any{{"class": "THERAPIST", "quantity": 2}, {"class": "CLERICAL", "quantity": 1}},
		"administrator": map[string]any{"username": "bayside.admin", "email": "admin@bayside.example",
			"password": password, "firstName": "Pat", "lastName": "Lee"},
	}}, &created)
	if a := created.CreateOrganization; a.Administrator == nil || len(a.UserErrors) > 0 {
		t.Fatalf("createOrganization as the application role: %+v\n%s", a, p.log)
	}
	if p.login(t, "bayside.admin", password) == "" {
		t.Fatalf("the new administrator cannot sign in:\n%s", p.log)
	}
	p.stop(t)

	var signIns, organizations int
	if err := owner.QueryRow(`SELECT COUNT(*) FILTER (WHERE action = 'SIGN_IN_SUCCEEDED'),
		COUNT(*) FILTER (WHERE action = 'ORGANIZATION_CREATED') FROM audit_events`).Scan(&signIns, &organizations); err != nil {
		t.Fatal(err)
	}
	if signIns != 2 || organizations != 1 {
		t.Errorf("the audit trail holds %d sign-ins and %d organizations created, want 2 and 1", signIns, organizations)
	}
}

// graphql posts a GraphQL operation with the bearer token and decodes its
// data into out, failing the test on GraphQL errors.
func (p *process) graphql(t *testing.T, token, query string, variables map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": variables})
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var answer struct {
		Data   json.RawMessage
		Errors []json.RawMessage
	}
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	if len(answer.Errors) > 0 {
		t.Fatalf("GraphQL errors: %s\n%s", answer.Errors, p.log)
	}
	if err := json.Unmarshal(answer.Data, out); err != nil {
		t.Fatal(err)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"serve", "migrate", "create-support", "DATABASE_URL", "DATA_DIR", "HTTP_ADDR", "JWT_SECRET"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
	if err := exec.Command(binary, "frobnicate").Run(); err == nil {
		t.Error("an unknown command succeeded")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// seed loads a practice into the embedded database; its administrator signs
// in with the printed password and finds the staff, and bad input is refused
// with a clear message.
func TestSeed(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := exec.Command(binary, append([]string{"seed"}, args...)...)
		cmd.Env = append(os.Environ(), "DATA_DIR="+data)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("--users", "300", "--clinics", "3")
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Sign in as seed\.admin with the password (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("seed printed no password:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--users", "-1"}, "between 0 and"},
		{[]string{"--clinics", "0"}, "between 1 and"},
		{[]string{"--users", "10"}, "is taken"},
		{[]string{"--users", "ten"}, "invalid value"},
	} {
		if out, err := run(c.args...); err == nil || !strings.Contains(out, c.want) {
			t.Errorf("seed %v: %v, want a refusal mentioning %q:\n%s", c.args, err, c.want, out)
		}
	}

	// The seeded counts agree with the rows; one changed behind the
	// triggers' back is reported, and repaired.
	check := func(args ...string) (string, error) {
		cmd := exec.Command(binary, append([]string{"licenses", "check"}, args...)...)
		cmd.Env = append(os.Environ(), "DATA_DIR="+data)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(); err != nil || !strings.Contains(out, "agree") {
		t.Fatalf("licenses check after seeding: %v\n%s", err, out)
	}
	file, err := sql.Open("sqlite", filepath.Join(data, "usermanager.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Exec(`UPDATE license_counts SET in_use = in_use - 1 WHERE id = (SELECT MIN(id) FROM license_counts)`); err != nil {
		t.Fatal(err)
	}
	file.Close()
	if out, err := check(); err == nil || !strings.Contains(out, "differs: organization") || !strings.Contains(out, "--repair") {
		t.Fatalf("licenses check of a changed count: %v\n%s", err, out)
	}
	if out, err := check("--repair"); err != nil || !strings.Contains(out, "repaired") {
		t.Fatalf("licenses check --repair: %v\n%s", err, out)
	}
	if out, err := check(); err != nil {
		t.Fatalf("licenses check after the repair: %v\n%s", err, out)
	}

	p := start(t, "DATA_DIR="+data)
	token := p.login(t, "seed.admin", m[1])
	if token == "" {
		t.Fatalf("the seeded administrator cannot sign in:\n%s", p.log)
	}
	body, _ := json.Marshal(map[string]any{"query": `{
		all: users(first: 1) { totalCount }
		found: users(first: 5, filter: {name: "Oyelaran"}) { totalCount edges { node { lastName status clinics { name } } } }
		licenseCounts { class total inUse }
	}`})
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var answer struct {
		Data struct {
			All   struct{ TotalCount int }
			Found struct {
				TotalCount int
				Edges      []struct{ Node struct{ LastName string } }
			}
			LicenseCounts []struct {
				Class        string
				Total, InUse int
			}
		}
		Errors []json.RawMessage
	}
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil || len(answer.Errors) > 0 {
		t.Fatalf("%v %s", err, answer.Errors)
	}
	if answer.Data.All.TotalCount != 301 {
		t.Errorf("the administrator sees %d users, want 300 staff and themself", answer.Data.All.TotalCount)
	}
	if answer.Data.Found.TotalCount == 0 || answer.Data.Found.Edges[0].Node.LastName != "Oyelaran" {
		t.Errorf("searching the seeded staff: %+v", answer.Data.Found)
	}
	inUse := 0
	for _, c := range answer.Data.LicenseCounts {
		if c.InUse > c.Total {
			t.Errorf("%s: %d licenses in use of %d", c.Class, c.InUse, c.Total)
		}
		inUse += c.InUse
	}
	if inUse < 200 {
		t.Errorf("%d licenses in use: the seeded staff are about 70%% active", inUse)
	}
	p.stop(t)
}

// audit verify on the embedded database: serve seals the trail within
// seconds, verify passes, and after a record is changed behind the
// triggers' back it fails naming that record.
func TestAuditVerify(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "DATA_DIR="+data, "USERMANAGER_PASSWORD=Audit-Verify-Pass-42!")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("seed", "--users", "50", "--clinics", "2"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	p := start(t, "DATA_DIR="+data)
	if p.login(t, "seed.admin", "Audit-Verify-Pass-42!") == "" || p.login(t, "seed.admin", "wrong") != "" {
		t.Fatalf("signing in:\n%s", p.log)
	}
	// serve seals every 5 seconds.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := run("audit", "verify")
		if err != nil {
			t.Fatalf("audit verify while serving: %v\n%s", err, out)
		}
		if strings.Contains(out, "; 0 not sealed yet") && strings.Contains(out, "intact") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not seal the trail within 20s:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	p.stop(t)

	out, err := run("audit", "verify")
	m := regexp.MustCompile(`organization (\d+): (\d+) records, head [0-9a-f]{64}`).FindStringSubmatch(out)
	if err != nil || m == nil || m[2] == "0" {
		t.Fatalf("audit verify after serve: %v\n%s", err, out)
	}

	file, err := sql.Open("sqlite", filepath.Join(data, "usermanager.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var victim int
	if err := file.QueryRow(`SELECT audit_event_id FROM audit_seals WHERE organization_id = ? AND seq = 2`, m[1]).Scan(&victim); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`DROP TRIGGER audit_events_no_update`,
		fmt.Sprintf(`UPDATE audit_events SET client_ip = '198.51.100.7' WHERE id = %d`, victim),
	} {
		if _, err := file.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	out, err = run("audit", "verify")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 ||
		!strings.Contains(out, fmt.Sprintf("audit record %d (link 2", victim)) || !strings.Contains(out, "content was changed") {
		t.Fatalf("audit verify after a record was changed: %v, want exit 1 naming record %d:\n%s", err, victim, out)
	}
}

// cleanEnviron is the test process's environment without any of the
// server's variables, and with extra.
func cleanEnviron(extra ...string) []string {
	known := map[string]bool{}
	for _, name := range config.Variables() {
		known[name] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !known[name] {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// runBinary runs the binary with args and env (on top of cleanEnviron) and
// returns its standard output and error and its exit status.
func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = cleanEnviron(env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("%v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// emptyDir fails the test if dir holds anything: the command created
// nothing (no database, no secret).
func emptyDir(t *testing.T, dir string, what string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Errorf("%s left files in DATA_DIR: %v", what, names)
	}
}

// Every command's --help prints its help and exits 0 without reading the
// configuration or opening anything; a wrong command line exits 2, also
// before anything is opened.
func TestCommandHelpDoesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "--help"}, "--app-role"},
		{[]string{"migrate", "-h"}, "usermanager migrate"},
		{[]string{"serve", "--help"}, "usermanager [serve]"},
		{[]string{"create-support", "--help"}, "-username"},
		{[]string{"seed", "-help"}, "-clinics"},
		{[]string{"licenses", "--help"}, "usermanager licenses check"},
		{[]string{"licenses", "check", "--help"}, "-repair"},
		{[]string{"audit", "--help"}, "usermanager audit seal"},
		{[]string{"audit", "verify", "--help"}, "-checkpoints"},
		{[]string{"audit", "seal", "-h"}, "usermanager audit seal"},
		{[]string{"help", "migrate"}, "--app-role"},
		{[]string{"version", "--help"}, "usermanager version"},
	} {
		data := t.TempDir()
		// A configuration that would be refused: help does not read it.
		stdout, stderr, code := runBinary(t, []string{"DATA_DIR=" + data, "ACCESS_TOKEN_TTL=0s"}, tc.args...)
		if code != 0 || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, tc.want) {
			t.Errorf("%v: exit %d, want 0 and help mentioning %q:\n%s%s", tc.args, code, tc.want, stdout, stderr)
		}
		emptyDir(t, data, strings.Join(tc.args, " "))
	}
	for _, args := range [][]string{
		{"migrate", "extra"},
		{"migrate", "--no-such-flag"},
		{"seed", "--users", "ten"},
		{"create-support"},
		{"create-support", "--username", "ops"},
		{"licenses"},
		{"licenses", "count"},
		{"audit"},
		{"audit", "verify", "--checkpoints"},
		{"serve", "now"},
		{"version", "extra"},
		{"frobnicate"},
	} {
		data := t.TempDir()
		stdout, stderr, code := runBinary(t, []string{"DATA_DIR=" + data}, args...)
		if code != 2 || !strings.Contains(stderr, "Usage:") {
			t.Errorf("%v: exit %d, want 2 and the usage:\n%s%s", args, code, stdout, stderr)
		}
		emptyDir(t, data, strings.Join(args, " "))
	}
}

// version needs no configuration and no database.
func TestVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "--version"} {
		data := t.TempDir()
		stdout, stderr, code := runBinary(t, []string{"DATA_DIR=" + data, "ACCESS_TOKEN_TTL=0s", "DATABASE_URL=postgres://127.0.0.1:1/none"}, arg)
		if code != 0 || !strings.HasPrefix(stdout, "usermanager ") || !strings.Contains(stdout, "\ncommit:") ||
			!strings.Contains(stdout, "\nbuilt:") || !strings.Contains(stdout, runtime.Version()) {
			t.Errorf("%s: exit %d:\n%s%s", arg, code, stdout, stderr)
		}
		emptyDir(t, data, arg)
	}

	// Set at build time.
	bin := filepath.Join(t.TempDir(), "usermanager")
	ldflags := "-X main.version=v9.8.7 -X main.commit=0123abcd -X main.buildTime=2026-01-02T03:04:05Z"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building with %s: %v\n%s", ldflags, err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"usermanager v9.8.7\n", "commit:     0123abcd\n", "built:      2026-01-02T03:04:05Z\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version does not say %q:\n%s", want, out)
		}
	}
}

// A wrong configuration is refused before anything starts: every problem
// is listed, one per line, naming its variable; nothing is created.
func TestServeRefusesABadConfiguration(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	stdout, stderr, code := runBinary(t, []string{"DATA_DIR=" + data,
		"ACCESS_TOKEN_TTL=0s", "LOG_LEVEL=loud", "HTTP_ADDR=nonsense"}, "serve")
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"\n  - ACCESS_TOKEN_TTL: \"0s\" must be at least 1s\n",
		"\n  - LOG_LEVEL: \"loud\" must be",
		"\n  - HTTP_ADDR: \"nonsense\" must be host:port",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the refusal does not list %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "AccessTokenTTL") {
		t.Errorf("the refusal names a Go field:\n%s", stderr)
	}
	emptyDir(t, data, "a refused serve")
}

// What can only be found out by trying (the address is taken, the
// certificate does not load) also fails before the database is opened and
// the demo data loaded.
func TestServeFailsBeforeLoadingDemoData(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"HTTP_ADDR=" + taken.Addr().String()}, "HTTP_ADDR: listen tcp " + taken.Addr().String()},
		{[]string{"HTTP_ADDR=" + freeAddr(t), "TLS_CERT_FILE=" + missing, "TLS_KEY_FILE=" + missing}, "TLS_CERT_FILE: "},
	} {
		data := t.TempDir()
		stdout, stderr, code := runBinary(t, append(tc.env, "DATA_DIR="+data), "serve")
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 1 and %q:\n%s%s", tc.env, code, tc.want, stdout, stderr)
		}
		if strings.Contains(stderr, "loaded the demo organization") || strings.Contains(stderr, "msg=ready") {
			t.Errorf("%v: started before failing:\n%s", tc.env, stderr)
		}
		emptyDir(t, data, "a failed serve")
	}
}

// Misspelt variables are warned about in the log.
func TestWarnsAboutMisspeltVariables(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	stdout, stderr, code := runBinary(t, []string{"DATA_DIR=" + data, "JWT_SECERT=" + strings.Repeat("s3cr3t", 8),
		"USERMANAGER_PASWORD=x"}, "migrate")
	if code != 0 {
		t.Fatalf("migrate: exit %d:\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"level=WARN msg=\"JWT_SECERT is set but not read: did you mean JWT_SECRET?\"",
		"did you mean USERMANAGER_PASSWORD?"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no warning %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "s3cr3t") {
		t.Error("the misspelt secret's value was printed")
	}
}

// The configuration's defaults agree with the packages they configure.
func TestConfigAgreesWithThePackages(t *testing.T) {
	t.Parallel()
	f, _ := reflect.TypeOf(config.Config{}).FieldByName("CORSAllowedHeaders")
	if !slices.Contains(strings.Split(f.Tag.Get("envDefault"), ","), auth.ClinicHeader) {
		t.Errorf("CORS_ALLOWED_HEADERS' default %q lacks %s", f.Tag.Get("envDefault"), auth.ClinicHeader)
	}
	schemes := blob.DefaultURLMux().BucketSchemes()
	slices.Sort(schemes)
	want := slices.Sorted(slices.Values(config.BlobSchemes))
	if !slices.Equal(schemes, want) {
		t.Errorf("the binary opens buckets %v, config.BlobSchemes accepts %v", schemes, want)
	}
}
