package apitest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/coder/websocket"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// Issue 10 item 6: while the database is unreachable a signed-in request
// gets UNAVAILABLE (503 with Retry-After), never UNAUTHENTICATED (SPAs sign
// people out on that), login gets UNAVAILABLE rather than an internal error,
// and the same token works again once the database is back.
//
// PostgreSQL only: the server reaches it through a TCP proxy the test cuts,
// as a stopped server or a lost network would. The embedded SQLite database
// is a file opened in process, with no connection to lose; closing its
// *sql.DB is a shutdown, not an outage.
func TestOutageIsNotASignOut(t *testing.T) {
	t.Parallel()
	var proxy *outageProxy
	env := apitest.New(t, dialect.Postgres, apitest.Options{PostgresURL: func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.Port() == "" {
			t.Skipf("PostgreSQL URL %q has no TCP address to proxy", raw)
		}
		proxy = startOutageProxy(t, u.Host)
		u.Host = proxy.addr
		return u.String()
	}})
	admin := env.LoginDemo(demo.AdminUsername)
	const viewerQuery = `{ viewer { username } }`
	admin.MustDo(viewerQuery, nil, nil)

	proxy.cut()
	wantUnavailable := func(what string, r *apitest.Response) {
		t.Helper()
		if slices.Contains(r.Codes(), "UNAUTHENTICATED") {
			t.Fatalf("%s during the outage: UNAUTHENTICATED would sign the user out: %s", what, r.Body)
		}
		if r.Code() != "UNAVAILABLE" || r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s during the outage: status %d, Retry-After %q, codes %v, want 503 with Retry-After and UNAVAILABLE: %s",
				what, r.Status, r.Header.Get("Retry-After"), r.Codes(), r.Body)
		}
	}
	wantUnavailable("viewer", admin.Do(viewerQuery, nil))
	wantUnavailable("users", admin.Do(`{ users(first: 5) { edges { node { username } } } }`, nil))
	wantUnavailable("login", env.Anonymous().Do(`mutation($l: String!, $p: String!) {
		login(input: {login: $l, password: $p}) { accessToken userErrors { code } } }`,
		map[string]any{"l": demo.AdminUsername, "p": env.Password}))
	// A WebSocket signing in now is told to try again later (1013), not
	// that its token is bad (4401, on which clients sign out).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, msg, err := wsSignIn(ctx, t, env, admin.Token)
	if status := websocket.CloseStatus(err); status != websocket.StatusTryAgainLater {
		t.Fatalf("WebSocket during the outage: close status %d (err %v, message %+v), want 1013", status, err, msg)
	}
	// Answers that need no database still work.
	if r := env.Anonymous().Do(`{ __typename }`, nil); r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("__typename during the outage: %d %s", r.Status, r.Body)
	}

	proxy.restore()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := admin.Do(viewerQuery, nil)
		if r.Status == 200 && len(r.Errors) == 0 {
			break
		}
		if slices.Contains(r.Codes(), "UNAUTHENTICATED") {
			t.Fatalf("after the outage the token was refused: %s", r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not recover within 30s: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	env.LoginDemo(demo.AdminUsername)
}

// outageProxy forwards TCP connections to a database server until cut.
// Cut, nothing listens on its address (new connections are refused) and the
// connections it carried are closed.
type outageProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func startOutageProxy(t *testing.T, target string) *outageProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &outageProxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *outageProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				client.Close()
				continue
			}
			if !p.track(client, server) {
				continue
			}
			go p.pipe(client, server)
			go p.pipe(server, client)
		}
	}()
}

// track registers a forwarded pair, or closes it if the proxy was cut
// meanwhile.
func (p *outageProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

func (p *outageProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (p *outageProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore listens on the same address again (retrying while the system
// still holds it).
func (p *outageProxy) restore() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return
		}
		if time.Now().After(deadline) || !errors.Is(err, syscall.EADDRINUSE) {
			p.t.Fatalf("listening on %s again: %v", p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
