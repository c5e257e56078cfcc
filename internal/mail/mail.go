// Package mail sends the product's email: over SMTP when SMTP_URL is set,
// otherwise into an outbox directory (and a line in the log) so that a
// newcomer on the embedded default can read what would have been sent.
//
// Mail is always sent by a job (SendArgs, SendWorker) inserted in the same
// transaction as the change that causes it (R28): it is retried with backoff
// until the mail server takes it, across restarts and outages.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one email, plain text.
type Message struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// Sender delivers messages. id is stable across retries of one message and
// becomes its Message-ID, so a retried send is recognisable as a duplicate.
type Sender interface {
	Send(ctx context.Context, id string, m Message) error
}

// Open returns the SMTP sender for smtpURL, or the outbox in outboxDir when
// smtpURL is empty.
//
// smtpURL is smtp://[user:password@]host[:port][?tls=mandatory|opportunistic|none]
// (STARTTLS; port 587 by default, tls=mandatory by default) or
// smtps://[user:password@]host[:port] (implicit TLS, port 465).
func Open(smtpURL, from, outboxDir string) (Sender, error) {
	if smtpURL == "" {
		if err := os.MkdirAll(outboxDir, 0o700); err != nil {
			return nil, fmt.Errorf("mail: creating the outbox: %w", err)
		}
		return &Outbox{Dir: outboxDir, From: from}, nil
	}
	return NewSMTP(smtpURL, from)
}

// SMTP sends through a mail server.
type SMTP struct {
	From string
	host string
	opts []gomail.Option
}

// NewSMTP parses smtpURL (see Open).
func NewSMTP(smtpURL, from string) (*SMTP, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("mail: SMTP_URL must look like smtp://user:password@host:587")
	}
	opts := []gomail.Option{gomail.WithTimeout(30 * time.Second)}
	port := 587
	switch u.Scheme {
	case "smtp":
		policy := gomail.TLSMandatory
		switch u.Query().Get("tls") {
		case "", "mandatory":
		case "opportunistic":
			policy = gomail.TLSOpportunistic
		case "none":
			policy = gomail.NoTLS
		default:
			return nil, fmt.Errorf("mail: SMTP_URL tls= must be mandatory, opportunistic or none")
		}
		opts = append(opts, gomail.WithTLSPolicy(policy))
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("mail: SMTP_URL scheme must be smtp or smtps, not %q", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("mail: SMTP_URL port %q is not a number", p)
		}
	}
	opts = append(opts, gomail.WithPort(port), gomail.WithTLSConfig(&tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}))
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	if _, err := gomail.NewClient(u.Hostname(), opts...); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return &SMTP{From: from, host: u.Hostname(), opts: opts}, nil
}

// Send delivers m, or returns the mail server's error so the job retries.
func (s *SMTP) Send(ctx context.Context, id string, m Message) error {
	msg, err := build(s.From, id, m)
	if err != nil {
		return err
	}
	// go-mail applies ctx only while dialling; each later SMTP command is
	// bounded by WithTimeout. Bound them by the job's deadline, so an
	// attempt never outlives JOB_TIMEOUT (and is never rescued and sent
	// twice while still running).
	opts := s.opts
	if deadline, ok := ctx.Deadline(); ok {
		opts = append(slices.Clip(s.opts), gomail.WithTimeout(max(time.Until(deadline), time.Second)))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return err
	}
	client, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("mail: connecting: %w", err)
	}
	// QUIT fails on a server that stopped answering and then leaves the
	// socket open; closing it here always releases it.
	defer client.Close()
	if err := c.SendWithSMTPClient(client, msg); err != nil {
		return fmt.Errorf("mail: sending: %w", err)
	}
	return c.CloseWithSMTPClient(client)
}

// Outbox writes each message to Dir as <id>.eml and logs its recipient and
// subject (never its body, which may hold a reset link).
type Outbox struct {
	Dir  string
	From string
}

// Send writes m; writing the same id again replaces the file, so a retried
// message is still one file.
func (o *Outbox) Send(_ context.Context, id string, m Message) error {
	msg, err := build(o.From, id, m)
	if err != nil {
		return err
	}
	name := filepath.Join(o.Dir, safeName(id)+".eml")
	tmp, err := os.CreateTemp(o.Dir, ".mail-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := msg.WriteTo(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	slog.Info("mail written to the outbox (no SMTP_URL set)", "to", m.To, "subject", m.Subject, "file", name)
	return nil
}

func build(from, id string, m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail: sender address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail: recipient address: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(id + "@usermanager")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

func safeName(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, id)
}
