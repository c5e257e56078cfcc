package apitest_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/emersion/go-smtp"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// mjMessage is one message an mjSMTP server accepted (DATA answered 250).
type mjMessage struct {
	From      string
	To        []string
	Subject   string
	HeaderTo  string
	MessageID string
	Raw       []byte
}

// mjSMTP is an in-process mail server that keeps what it accepts.
type mjSMTP struct {
	srv *smtp.Server
	mu  sync.Mutex
	got []mjMessage
}

// mjStartSMTP serves SMTP on addr (host:port) until the test ends.
func mjStartSMTP(t *testing.T, addr string) *mjSMTP {
	t.Helper()
	m := &mjSMTP{}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mjSession{srv: m}, nil }))
	m.srv.Domain = "localhost"
	m.srv.AllowInsecureAuth = true
	m.srv.ReadTimeout, m.srv.WriteTimeout = 10*time.Second, 10*time.Second
	m.srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening for SMTP on %s: %v", addr, err)
	}
	go func() { _ = m.srv.Serve(l) }()
	t.Cleanup(func() { _ = m.srv.Close() })
	return m
}

// messages returns the accepted messages whose subject contains subject.
func (m *mjSMTP) messages(subject string) []mjMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mjMessage
	for _, msg := range m.got {
		if strings.Contains(msg.Subject, subject) {
			out = append(out, msg)
		}
	}
	return out
}

type mjSession struct {
	srv  *mjSMTP
	from string
	to   []string
}

func (s *mjSession) Reset()        { s.from, s.to = "", nil }
func (s *mjSession) Logout() error { return nil }
func (s *mjSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mjSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mjSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable message: " + err.Error()}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	if err != nil {
		subject = parsed.Header.Get("Subject")
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.got = append(s.srv.got, mjMessage{From: s.from, To: append([]string(nil), s.to...), Subject: subject,
		HeaderTo: parsed.Header.Get("To"), MessageID: parsed.Header.Get("Message-Id"), Raw: raw})
	return nil
}

// mjFreeAddr returns a local address nothing listens on (for now).
func mjFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// mjMailJob is the state of the queue's send_email job rows.
type mjMailJob struct {
	ID       int64
	State    string
	Attempt  int
	Errors   string
	HasError bool
}

func mjMailJobs(t *testing.T, env *apitest.Env) []mjMailJob {
	t.Helper()
	errs := "json(errors)"
	if env.Dialect == dialect.Postgres {
		errs = "array_to_string(errors, ' ')"
	}
	rows, err := env.DB.SQL.QueryContext(context.Background(),
		`SELECT id, state, attempt, COALESCE(`+errs+`, ''), CASE WHEN errors IS NULL THEN 0 ELSE 1 END
		FROM river_job WHERE kind = 'send_email' ORDER BY id`)
	if err != nil {
		t.Fatalf("reading the mail jobs: %v", err)
	}
	defer rows.Close()
	var out []mjMailJob
	for rows.Next() {
		var j mjMailJob
		var has int
		if err := rows.Scan(&j.ID, &j.State, &j.Attempt, &j.Errors, &has); err != nil {
			t.Fatal(err)
		}
		j.HasError = has == 1
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// R28: mail recorded while the mail server is down is retried and delivered
// once it is back, exactly once.
func TestMailSurvivesSMTPOutage(t *testing.T) {
	t.Parallel()
	for _, d := range apitest.Dialects {
		t.Run(d, func(t *testing.T) { mjMailSurvivesSMTPOutage(t, d) })
	}
}

func mjMailSurvivesSMTPOutage(t *testing.T, dialectName string) {
	// The port of the mail server, which is not running yet.
	addr := mjFreeAddr(t)
	env := apitest.New(t, dialectName, apitest.Options{
		SMTPURL: "smtp://" + addr + "?tls=none", JobRetryBase: 200 * time.Millisecond})
	admin := env.LoginDemo(demo.AdminUsername)
	support := env.LoginDemo(demo.SupportUsername)
	downtown := stClinicID(t, admin, "Sunrise Downtown")

	// The mail server is down while Support completes an adjustment.
	add := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "ADD", "quantity": 2})
	if add.Adjustment == nil {
		t.Fatalf("request: %+v", add)
	}
	done, _ := adjAct(t, support, "processLicenseAdjustment", add.Adjustment.ID, nil)
	if done.Adjustment == nil || done.Adjustment.Status != "COMPLETED" {
		t.Fatalf("process: %+v", done)
	}
	processed := time.Now()
	// At least one attempt failed (connection refused) and the job waits
	// to be retried, not given up.
	adjEventually(t, "a failed attempt to send the completion email", 10*time.Second, func() bool {
		jobs := mjMailJobs(t, env)
		return len(jobs) == 1 && jobs[0].Attempt >= 1 && jobs[0].HasError && jobs[0].State != "running"
	})
	if d := time.Until(processed.Add(1500 * time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
	jobs := mjMailJobs(t, env)
	if len(jobs) != 1 || jobs[0].State == "completed" || jobs[0].State == "discarded" || jobs[0].State == "cancelled" ||
		!strings.Contains(jobs[0].Errors, "refused") {
		t.Fatalf("mail job while the mail server is down: %+v", jobs)
	}
	t.Logf("mail job during the outage: state %s, attempt %d", jobs[0].State, jobs[0].Attempt)

	// The mail server comes back: the message arrives, once.
	srv := mjStartSMTP(t, addr)
	back := time.Now()
	const completed = "License adjustment completed"
	adjEventually(t, "the completion email after the outage", 15*time.Second, func() bool {
		return len(srv.messages(completed)) > 0
	})
	t.Logf("delivered %v after the mail server came back", time.Since(back).Round(10*time.Millisecond))
	time.Sleep(2 * time.Second)
	got := srv.messages(completed)
	if len(got) != 1 {
		t.Fatalf("%d completion emails, want exactly 1: %+v", len(got), got)
	}
	msg := got[0]
	if len(msg.To) != 1 || msg.To[0] != "admin@sunrise-therapy.example" || !strings.Contains(msg.HeaderTo, "admin@sunrise-therapy.example") ||
		!strings.Contains(msg.Subject, "Sunrise Downtown") || !strings.HasPrefix(msg.MessageID, "<job-") {
		t.Fatalf("completion email: to %v (header %q), subject %q, Message-ID %q", msg.To, msg.HeaderTo, msg.Subject, msg.MessageID)
	}
	// River records the completion shortly after the send returns (its
	// completer batches them): wait for it rather than assume it.
	adjEventually(t, "the mail job completed after delivery", 10*time.Second, func() bool {
		jobs := mjMailJobs(t, env)
		return len(jobs) == 1 && jobs[0].State == "completed"
	})
	if jobs := mjMailJobs(t, env); len(jobs) != 1 || jobs[0].State != "completed" {
		t.Fatalf("mail job after delivery: %+v", jobs)
	}

	// A rejected adjustment: exactly one rejection email, and nothing
	// more of the first.
	rej := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "STUDENT", "kind": "ADD", "quantity": 1})
	if rej.Adjustment == nil {
		t.Fatalf("request: %+v", rej)
	}
	rejected, _ := adjAct(t, support, "rejectLicenseAdjustment", rej.Adjustment.ID, map[string]any{"reason": "No signed order form"})
	if rejected.Adjustment == nil || rejected.Adjustment.Status != "REJECTED" {
		t.Fatalf("reject: %+v", rejected)
	}
	const rejectedSubject = "License adjustment rejected"
	adjEventually(t, "the rejection email", 15*time.Second, func() bool {
		return len(srv.messages(rejectedSubject)) > 0
	})
	time.Sleep(2 * time.Second)
	if got := srv.messages(rejectedSubject); len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "admin@sunrise-therapy.example" ||
		!strings.Contains(string(got[0].Raw), "No signed order form") {
		t.Fatalf("rejection emails: %+v", got)
	}
	if all := srv.messages(""); len(all) != 2 {
		t.Fatalf("%d emails in all, want 2", len(all))
	}
}
