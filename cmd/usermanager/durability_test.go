package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/clinicemr/usermanager/internal/app"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/testdb"
	"github.com/clinicemr/usermanager/internal/users"
)

// Durability (R28): work the server has committed to, an adjustment's
// automatic processing and the email it causes, is done exactly once in
// effect even when the process is killed (kill -9) and restarted.

const durAdmin, durSupport, durAdminEmail = "admin", "support", "admin@sunrise-therapy.example"

// durDB is a database the binary runs on, with the demo data.
type durDB struct {
	// env points the binary at the database (and DATA_DIR, MAIL_OUTBOX_DIR).
	env []string
	// data is DATA_DIR; outbox is where mail goes without SMTP_URL.
	data, outbox string
	// embedded: the binary loads the demo data itself on its first start.
	embedded bool
	password string
}

// demoPassword is the demo accounts' password; on the embedded database,
// once the binary has started.
func (d durDB) demoPassword(t *testing.T) string {
	t.Helper()
	if d.embedded {
		return durDemoPassword(t, d.data)
	}
	return d.password
}

// durSecret signs the PostgreSQL servers' tokens.
const durSecret = "0123456789abcdef0123456789abcdef-test"

// durDatabases runs fn as a subtest on the embedded SQLite database and on
// PostgreSQL (TEST_DATABASE_URL or a throwaway server; skipped when there is
// none unless REQUIRE_POSTGRES=1).
func durDatabases(t *testing.T, fn func(t *testing.T, d durDB)) {
	t.Run("sqlite3", func(t *testing.T) {
		t.Parallel()
		data := t.TempDir()
		fn(t, durDB{env: []string{"DATA_DIR=" + data}, data: data, outbox: filepath.Join(data, "outbox"), embedded: true})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dbURL := testdb.CreatePostgres(t, "cmd_dur")
		cmd := exec.Command(binary, "migrate")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
		// The binary loads the demo data only into the embedded database.
		d, err := db.Open(dbURL, "")
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		a, err := app.New(ctx, d, app.Settings{
			Secret: []byte(durSecret), BlobURL: "mem://", MailOutboxDir: t.TempDir(),
			Resets: users.ResetConfig{Key: []byte(durSecret)},
		})
		if err != nil {
			t.Fatal(err)
		}
		creds, err := demo.Load(ctx, a, t.TempDir())
		_ = a.Stop(ctx)
		d.Close()
		if err != nil || creds == nil {
			t.Fatalf("loading the demo data: %v", err)
		}
		data := t.TempDir()
		outbox := filepath.Join(data, "outbox")
		fn(t, durDB{env: []string{"DATABASE_URL=" + dbURL, "JWT_SECRET=" + durSecret,
			"DATA_DIR=" + data, "MAIL_OUTBOX_DIR=" + outbox}, data: data, outbox: outbox, password: creds.Password})
	})
}

// durDemoPassword reads the demo accounts' password from the file the
// embedded default writes into DATA_DIR.
func durDemoPassword(t *testing.T, data string) string {
	t.Helper()
	creds, err := os.ReadFile(filepath.Join(data, "demo-credentials.txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(creds), "them: ")
	if !ok {
		t.Fatalf("unexpected demo credentials file:\n%s", creds)
	}
	password, _, _ := strings.Cut(after, ")")
	return strings.TrimSpace(password)
}

// durLogin signs in and fails the test if that does not work.
func durLogin(t *testing.T, p *process, login, password string) string {
	t.Helper()
	token := p.login(t, login, password)
	if token == "" {
		t.Fatalf("%s cannot sign in\n%s", login, p.log)
	}
	return token
}

// durGraphQL posts a query with a bearer token, fails the test on any
// GraphQL error, and decodes data into out.
func durGraphQL(t *testing.T, p *process, token, query string, vars map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var r struct {
		Data   json.RawMessage
		Errors []json.RawMessage
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response is not JSON (status %d): %s", res.StatusCode, raw)
	}
	if len(r.Errors) > 0 || len(r.Data) == 0 || string(r.Data) == "null" {
		t.Fatalf("query failed (status %d): %s\nquery: %s", res.StatusCode, raw, strings.TrimSpace(query))
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			t.Fatalf("decoding %s: %v", r.Data, err)
		}
	}
}

func durClinicID(t *testing.T, p *process, token, name string) string {
	t.Helper()
	var out struct {
		Clinics struct {
			Edges []struct{ Node struct{ ID, Name string } }
		}
	}
	durGraphQL(t, p, token, `query($n: String!) { clinics(where: {name: $n}) { edges { node { id name } } } }`,
		map[string]any{"n": name}, &out)
	if len(out.Clinics.Edges) != 1 {
		t.Fatalf("clinic %s: %+v", name, out)
	}
	return out.Clinics.Edges[0].Node.ID
}

func durTotal(t *testing.T, p *process, token, clinicID, class string) int {
	t.Helper()
	var out struct {
		LicenseCounts []struct {
			Class string
			Total int
		}
	}
	durGraphQL(t, p, token, `query($c: ID) { licenseCounts(clinicId: $c) { class total } }`, map[string]any{"c": clinicID}, &out)
	for _, lc := range out.LicenseCounts {
		if lc.Class == class {
			return lc.Total
		}
	}
	t.Fatalf("no %s count: %+v", class, out)
	return 0
}

type durAdjustment struct {
	ID, Status  string
	ProcessedBy *struct{ Username string }
}

// durRequestAdd asks for quantity more licenses of class at a clinic.
func durRequestAdd(t *testing.T, p *process, token, clinicID, class string, quantity int) durAdjustment {
	t.Helper()
	var out struct {
		RequestLicenseAdjustment struct {
			Adjustment *durAdjustment
			UserErrors []struct{ Field, Code, Message string }
		}
	}
	durGraphQL(t, p, token, `mutation($in: RequestLicenseAdjustmentInput!) { requestLicenseAdjustment(input: $in) {
		adjustment { id status } userErrors { field code message } } }`,
		map[string]any{"in": map[string]any{"clinicId": clinicID, "class": class, "kind": "ADD", "quantity": quantity}}, &out)
	a := out.RequestLicenseAdjustment.Adjustment
	if a == nil || a.Status != "PENDING" {
		t.Fatalf("request: %+v", out.RequestLicenseAdjustment)
	}
	return *a
}

func durAdjustmentNow(t *testing.T, p *process, token, id string) durAdjustment {
	t.Helper()
	var out struct{ Node *durAdjustment }
	durGraphQL(t, p, token, `query($id: ID!) { node(id: $id) { ... on LicenseAdjustment { id status processedBy { username } } } }`,
		map[string]any{"id": id}, &out)
	if out.Node == nil {
		t.Fatalf("adjustment %s not found", id)
	}
	return *out.Node
}

// durKill kills the process as kill -9 would: no shutdown of any kind.
func durKill(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func durEventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// durOutbox returns the files in an outbox directory whose subject contains
// subject.
func durOutbox(t *testing.T, dir, subject string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s is not a message: %v", f, err)
		}
		if s, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); strings.Contains(s, subject) {
			out = append(out, f)
		}
	}
	return out
}

// A pending adjustment whose window ends while the server is down (killed
// right after the request) is processed after the restart, once: the totals
// grow by exactly the quantity and the requester gets one email.
func TestKilledProcessFinishesAdjustmentOnce(t *testing.T) {
	t.Parallel()
	durDatabases(t, durKilledProcessFinishesAdjustmentOnce)
}

func durKilledProcessFinishesAdjustmentOnce(t *testing.T, d durDB) {
	env := append(append([]string(nil), d.env...), "LICENSE_ADJUSTMENT_WINDOW=3s", "JOB_POLL_INTERVAL=200ms")
	p := start(t, env...)
	password := d.demoPassword(t)
	token := durLogin(t, p, durAdmin, password)
	downtown := durClinicID(t, p, token, "Sunrise Downtown")
	before := durTotal(t, p, token, downtown, "THERAPIST")
	adj := durRequestAdd(t, p, token, downtown, "THERAPIST", 2)
	durKill(t, p)
	killed := time.Now()

	p = start(t, env...)
	restarted := time.Now()
	token = durLogin(t, p, durAdmin, password)
	durEventually(t, "automatic processing after the restart", 30*time.Second, func() bool {
		return durAdjustmentNow(t, p, token, adj.ID).Status != "PENDING"
	})
	t.Logf("processed %v after the restart, %v after the kill (window 3s)",
		time.Since(restarted).Round(100*time.Millisecond), time.Since(killed).Round(100*time.Millisecond))
	if a := durAdjustmentNow(t, p, token, adj.ID); a.Status != "COMPLETED" || a.ProcessedBy != nil {
		t.Fatalf("adjustment after automatic processing: %+v", a)
	}
	if got := durTotal(t, p, token, downtown, "THERAPIST"); got != before+2 {
		t.Fatalf("THERAPIST total %d, want %d+2", got, before)
	}
	outbox := d.outbox
	const subject = "License adjustment completed"
	durEventually(t, "the completion email", 15*time.Second, func() bool { return len(durOutbox(t, outbox, subject)) > 0 })
	time.Sleep(2 * time.Second)
	if got := durTotal(t, p, token, downtown, "THERAPIST"); got != before+2 {
		t.Fatalf("THERAPIST total %d two seconds later, want %d+2", got, before)
	}
	files := durOutbox(t, outbox, subject)
	if len(files) != 1 {
		t.Fatalf("%d completion emails, want 1: %v", len(files), files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), durAdminEmail) || !strings.Contains(string(b), "Sunrise Downtown") {
		t.Fatalf("completion email:\n%s", b)
	}
	p.stop(t)
}

// durSMTP is an in-process mail server. Its first DATA hangs until
// released, as a mail server that stops answering mid-delivery does.
type durSMTP struct {
	addr    string
	entered chan struct{} // closed when the first DATA has been received
	release chan struct{} // close to end the hung first DATA (with an error)

	mu        sync.Mutex
	sessions  int
	attempts  []durMessage // every DATA received, finished or not
	delivered []durMessage // DATA answered 250
}

type durMessage struct {
	To        []string
	Subject   string
	MessageID string
}

func durStartSMTP(t *testing.T) *durSMTP {
	t.Helper()
	m := &durSMTP{entered: make(chan struct{}), release: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		m.mu.Lock()
		m.sessions++
		m.mu.Unlock()
		return &durSession{srv: m}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		m.unblock()
		_ = srv.Close()
	})
	return m
}

func (m *durSMTP) unblock() {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.release:
	default:
		close(m.release)
	}
}

func (m *durSMTP) snapshot() (attempts, delivered []durMessage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]durMessage(nil), m.attempts...), append([]durMessage(nil), m.delivered...)
}

type durSession struct {
	srv *durSMTP
	to  []string
}

func (s *durSession) Reset()                                    { s.to = nil }
func (s *durSession) Logout() error                             { return nil }
func (s *durSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *durSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }

func (s *durSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable message"}
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	msg := durMessage{To: append([]string(nil), s.to...), Subject: subject, MessageID: parsed.Header.Get("Message-Id")}
	m := s.srv
	m.mu.Lock()
	m.attempts = append(m.attempts, msg)
	first := len(m.attempts) == 1
	m.mu.Unlock()
	if first {
		// The message is in, the answer never comes: the sender is left
		// waiting for "250".
		close(m.entered)
		<-m.release
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "aborted"}
	}
	m.mu.Lock()
	m.delivered = append(m.delivered, msg)
	m.mu.Unlock()
	return nil
}

// A process killed while it is sending an email: after the restart the job
// is rescued and the email delivered, once.
func TestKilledMidSendMailDeliveredOnce(t *testing.T) {
	t.Parallel()
	durDatabases(t, durKilledMidSendMailDeliveredOnce)
}

func durKilledMidSendMailDeliveredOnce(t *testing.T, d durDB) {
	mailSrv := durStartSMTP(t)
	env := append(append([]string(nil), d.env...), "SMTP_URL=smtp://"+mailSrv.addr+"?tls=none",
		"JOB_TIMEOUT=2s", "JOB_RESCUE_AFTER=4s", "JOB_RETRY_BASE=200ms", "JOB_POLL_INTERVAL=200ms")
	p := start(t, env...)
	password := d.demoPassword(t)
	admin := durLogin(t, p, durAdmin, password)
	support := durLogin(t, p, durSupport, password)
	downtown := durClinicID(t, p, admin, "Sunrise Downtown")
	adj := durRequestAdd(t, p, admin, downtown, "THERAPIST", 1)
	var out struct {
		ProcessLicenseAdjustment struct{ Adjustment *durAdjustment }
	}
	durGraphQL(t, p, support, `mutation($in: LicenseAdjustmentInput!) { processLicenseAdjustment(input: $in) { adjustment { id status } } }`,
		map[string]any{"in": map[string]any{"adjustmentId": adj.ID}}, &out)
	if a := out.ProcessLicenseAdjustment.Adjustment; a == nil || a.Status != "COMPLETED" {
		t.Fatalf("process: %+v", out)
	}

	// The send is under way (the mail server holds the message and has not
	// answered): kill the process.
	select {
	case <-mailSrv.entered:
	case <-time.After(15 * time.Second):
		t.Fatalf("no delivery attempt within 15s\n%s", p.log)
	}
	durKill(t, p)
	killed := time.Now()
	mailSrv.unblock()
	attempts, delivered := mailSrv.snapshot()
	if len(attempts) != 1 || len(delivered) != 0 {
		t.Fatalf("before the restart: %d attempts, %d delivered", len(attempts), len(delivered))
	}
	hung := attempts[0]
	if !strings.HasPrefix(hung.MessageID, "<job-") || !strings.Contains(hung.Subject, "License adjustment completed") {
		t.Fatalf("the interrupted message: %+v", hung)
	}

	p = start(t, env...)
	restarted := time.Now()
	durEventually(t, "delivery after the restart", 120*time.Second, func() bool {
		_, delivered := mailSrv.snapshot()
		return len(delivered) > 0
	})
	t.Logf("delivered %v after the restart, %v after the kill (JOB_RESCUE_AFTER=4s)",
		time.Since(restarted).Round(100*time.Millisecond), time.Since(killed).Round(100*time.Millisecond))
	time.Sleep(2 * time.Second)
	attempts, delivered = mailSrv.snapshot()
	if len(delivered) != 1 {
		t.Fatalf("%d deliveries, want exactly 1: %+v", len(delivered), delivered)
	}
	if d := delivered[0]; d.MessageID != hung.MessageID || len(d.To) != 1 || d.To[0] != durAdminEmail || d.Subject != hung.Subject {
		t.Fatalf("delivered %+v, want the interrupted message %+v", d, hung)
	}
	t.Logf("%d DATA attempts in all", len(attempts))
	p.stop(t)
}
