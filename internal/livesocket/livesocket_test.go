package livesocket_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clinicemr/usermanager/internal/fanout"
	"github.com/clinicemr/usermanager/internal/livesocket"
)

// executor stands in for gqlgen's: "query" answers {"ok":true} once;
// "subscription" is a subscription delivered from a fanout.Mailbox, as the
// license counts are; "waiting" is one that waits on a channel, as
// gqlgen's generated code does for other resolvers; "panic" panics;
// anything else fails validation.
type executor struct {
	mu    sync.Mutex
	boxes map[string]*subscription // the latest, by the variable "box"
}

type subscription struct {
	box   *fanout.Mailbox[int]
	ended chan struct{} // closed when the subscription's context ends
}

func newExecutor() *executor { return &executor{boxes: map[string]*subscription{}} }

// subscription returns the latest subscription of box, once there is one.
func (e *executor) subscription(t *testing.T, box string) *subscription {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		s := e.boxes[box]
		e.mu.Unlock()
		if s != nil {
			return s
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no subscription of %q", box)
	return nil
}

func (e *executor) CreateOperationContext(_ context.Context, p *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	kind := ast.Query
	switch p.Query {
	case "query", "panic":
	case "subscription", "waiting":
		kind = ast.Subscription
	default:
		return nil, gqlerror.List{{Message: "Cannot query field", Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}}
	}
	return &graphql.OperationContext{
		RawQuery:  p.Query,
		Variables: p.Variables,
		Operation: &ast.OperationDefinition{Operation: kind, SelectionSet: ast.SelectionSet{&ast.Field{Name: "n"}}},
		RecoverFunc: func(context.Context, any) error {
			return &gqlerror.Error{Message: "internal system error"}
		},
	}, nil
}

func (e *executor) DispatchError(_ context.Context, list gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: list}
}

func (e *executor) DispatchOperation(ctx context.Context, oc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	switch oc.RawQuery {
	case "panic":
		panic("a resolver's bug")
	case "query":
		done := false
		return func(context.Context) *graphql.Response {
			if done {
				return nil
			}
			done = true
			return &graphql.Response{Data: json.RawMessage(`{"ok":true}`)}
		}, ctx
	case "waiting":
		values := make(chan int)
		return func(ctx context.Context) *graphql.Response {
			select {
			case v := <-values:
				return &graphql.Response{Data: fmt.Appendf(nil, `{"n":%d}`, v)}
			case <-ctx.Done():
				return nil
			}
		}, ctx
	}
	var inner context.Context
	handler := fanout.Middleware(ctx, func(ctx context.Context) graphql.ResponseHandler {
		inner = ctx
		s := &subscription{box: fanout.NewMailbox[int](), ended: make(chan struct{})}
		context.AfterFunc(ctx, func() {
			s.box.Close() // as the counts hub, when its subscriber leaves
			close(s.ended)
		})
		name, _ := oc.Variables["box"].(string)
		e.mu.Lock()
		e.boxes[name] = s
		e.mu.Unlock()
		values := fanout.Deliver(ctx, s.box)
		return func(ctx context.Context) *graphql.Response {
			select {
			case v, ok := <-values:
				if !ok {
					return nil
				}
				return &graphql.Response{Data: fmt.Appendf(nil, `{"n":%d}`, v)}
			case <-ctx.Done():
				return nil
			}
		}
	})
	return handler, inner
}

// accepted is a socket the test server accepted.
type accepted struct {
	http.ResponseWriter
	conn  *websocket.Conn
	ended func()
	kept  bool
}

func (a *accepted) WebSocket() *websocket.Conn { return a.conn }
func (a *accepted) Keep() func()               { a.kept = true; return a.ended }

// server serves the transport as internal/server does: the socket is
// accepted first, under a context that outlives the request.
func server(t *testing.T, tr livesocket.Transport, exec graphql.GraphExecutor) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: livesocket.Protocols})
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		a := &accepted{ResponseWriter: w, conn: conn, ended: func() { conn.CloseNow(); cancel() }}
		tr.Do(a, r.WithContext(ctx), exec)
		if !a.kept {
			a.ended()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

type msg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type client struct {
	t    *testing.T
	conn *websocket.Conn
	ctx  context.Context
}

func dial(t *testing.T, srv *httptest.Server, protocol string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{protocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return &client{t: t, conn: conn, ctx: ctx}
}

func (c *client) send(m msg) {
	c.t.Helper()
	if err := wsjson.Write(c.ctx, c.conn, m); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() msg {
	c.t.Helper()
	var m msg
	if err := wsjson.Read(c.ctx, c.conn, &m); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// expect reads the next message, which must be of type want.
func (c *client) expect(want string) msg {
	c.t.Helper()
	m := c.read()
	if m.Type != want {
		c.t.Fatalf("got %s %s, want %s", m.Type, m.Payload, want)
	}
	return m
}

// closedWith reads until the socket closes; it must close with code.
func (c *client) closedWith(code websocket.StatusCode) (reason string, seen []msg) {
	c.t.Helper()
	for {
		var m msg
		err := wsjson.Read(c.ctx, c.conn, &m)
		if err == nil {
			seen = append(seen, m)
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			c.t.Fatalf("closed with %v, want %d (messages %v)", err, code, seen)
		}
		return ce.Reason, seen
	}
}

func (c *client) init() {
	c.t.Helper()
	c.send(msg{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer t"}`)})
	c.expect("connection_ack")
}

func subscribe(id, query, box string) msg {
	p, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"box": box}})
	return msg{ID: id, Type: "subscribe", Payload: p}
}

func TestQueriesAndSubscriptions(t *testing.T) {
	t.Parallel()
	exec := newExecutor()
	c := dial(t, server(t, livesocket.Transport{}, exec), "graphql-transport-ws")
	// A ping may come before connection_init.
	c.send(msg{Type: "ping"})
	c.expect("pong")
	c.init()

	c.send(subscribe("q", "query", ""))
	if m := c.expect("next"); m.ID != "q" || string(m.Payload) != `{"data":{"ok":true}}` {
		t.Fatalf("query: %+v", m)
	}
	c.expect("complete")

	c.send(subscribe("s", "subscription", "a"))
	sub := exec.subscription(t, "a")
	for v := 1; v <= 3; v++ {
		sub.box.Put(fanout.NewEvent(v))
		if m := c.expect("next"); m.ID != "s" || string(m.Payload) != fmt.Sprintf(`{"data":{"n":%d}}`, v) {
			t.Fatalf("event %d: %+v", v, m)
		}
	}
	// The events end (the counts hub's feed failed): complete.
	sub.box.Close()
	if m := c.expect("complete"); m.ID != "s" {
		t.Fatalf("complete: %+v", m)
	}

	// An invalid operation is an error message, which ends it (no
	// complete follows).
	c.send(subscribe("v", "no such field", ""))
	if m := c.expect("error"); m.ID != "v" || !strings.Contains(string(m.Payload), "GRAPHQL_VALIDATION_FAILED") {
		t.Fatalf("invalid operation: %+v", m)
	}
	// Its ID is free once the error is sent.
	c.send(subscribe("v", "query", ""))
	if m := c.expect("next"); m.ID != "v" {
		t.Fatalf("the ID again: %+v", m)
	}
	c.expect("complete")
	// A payload that is not an operation is the client's mistake.
	c.send(msg{ID: "j", Type: "subscribe", Payload: json.RawMessage(`["not", "an", "operation"]`)})
	if m := c.expect("error"); m.ID != "j" || !strings.Contains(string(m.Payload), `"code":"BAD_USER_INPUT"`) {
		t.Fatalf("not an operation: %+v", m)
	}
	// A resolver's panic is an error for its operation; the socket goes on.
	c.send(subscribe("p", "panic", ""))
	if m := c.expect("error"); m.ID != "p" || !strings.Contains(string(m.Payload), "internal system error") {
		t.Fatalf("panic: %+v", m)
	}
	c.send(msg{Type: "ping", Payload: json.RawMessage(`{"x":1}`)})
	if m := c.expect("pong"); string(m.Payload) != `{"x":1}` {
		t.Fatalf("pong: %+v", m)
	}
}

// A client's complete ends its subscription (the counts hub hears it leave),
// sends nothing more for it, and frees its ID at once.
func TestCompleteEndsTheSubscription(t *testing.T) {
	t.Parallel()
	exec := newExecutor()
	c := dial(t, server(t, livesocket.Transport{}, exec), "graphql-transport-ws")
	c.init()
	c.send(subscribe("1", "subscription", "first"))
	first := exec.subscription(t, "first")
	first.box.Put(fanout.NewEvent(1))
	c.expect("next")

	c.send(msg{ID: "1", Type: "complete"})
	c.send(subscribe("1", "subscription", "again"))
	select {
	case <-first.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription did not end")
	}
	again := exec.subscription(t, "again")
	first.box.Put(fanout.NewEvent(99)) // ignored: it ended
	again.box.Put(fanout.NewEvent(2))
	if m := c.expect("next"); m.ID != "1" || string(m.Payload) != `{"data":{"n":2}}` {
		t.Fatalf("after resubscribing: %+v", m)
	}

	// A subscription whose resolver waits on a channel ends as well.
	c.send(subscribe("w", "waiting", ""))
	c.send(msg{ID: "w", Type: "complete"})
	c.send(subscribe("q", "query", ""))
	if m := c.expect("next"); m.ID != "q" {
		t.Fatalf("a message for a completed subscription: %+v", m)
	}
}

// A slow subscriber gets the newest event, not every one, and never two
// executions of its subscription at once.
func TestEventsCoalesceForASlowSubscriber(t *testing.T) {
	t.Parallel()
	exec := newExecutor()
	c := dial(t, server(t, livesocket.Transport{}, exec), "graphql-transport-ws")
	c.init()
	c.send(subscribe("s", "subscription", "a"))
	sub := exec.subscription(t, "a")
	for v := 1; v <= 1000; v++ {
		sub.box.Put(fanout.NewEvent(v))
	}
	last := 0
	for last != 1000 {
		m := c.expect("next")
		var r struct{ Data struct{ N int } }
		if err := json.Unmarshal(m.Payload, &r); err != nil || r.Data.N <= last {
			t.Fatalf("after %d: %s (%v)", last, m.Payload, err)
		}
		last = r.Data.N
	}
}

func TestProtocolMistakesClose(t *testing.T) {
	t.Parallel()
	refuse := func(ctx context.Context, payload transport.InitPayload) (context.Context, error) {
		if payload["Authorization"] == "forbidden" {
			return nil, &livesocket.Refusal{Code: 4403, Err: errors.New("no access")}
		}
		if payload["Authorization"] != "Bearer t" {
			return nil, errors.New("the token is not valid")
		}
		return ctx, nil
	}
	srv := server(t, livesocket.Transport{Init: refuse, InitTimeout: 200 * time.Millisecond}, newExecutor())
	cases := []struct {
		name string
		code websocket.StatusCode
		run  func(c *client)
	}{
		{"a bad token", livesocket.CodeUnauthorized, func(c *client) {
			c.send(msg{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer x"}`)})
		}},
		{"a refusal's own code", 4403, func(c *client) {
			c.send(msg{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"forbidden"}`)})
		}},
		{"no connection_init in time", livesocket.CodeInitTimeout, func(*client) {}},
		{"subscribe before connection_init", livesocket.CodeUnauthorized, func(c *client) {
			c.send(subscribe("1", "query", ""))
		}},
		{"a payload that is not an object", livesocket.CodeBadMessage, func(c *client) {
			c.send(msg{Type: "connection_init", Payload: json.RawMessage(`"x"`)})
		}},
		{"connection_init twice", livesocket.CodeRepeatedInit, func(c *client) {
			c.init()
			c.send(msg{Type: "connection_init"})
		}},
		{"an ID in use", livesocket.CodeDuplicateID, func(c *client) {
			c.init()
			c.send(subscribe("1", "subscription", "dup"))
			c.send(subscribe("1", "subscription", "dup"))
		}},
		{"no ID", livesocket.CodeBadMessage, func(c *client) {
			c.init()
			c.send(subscribe("", "query", ""))
		}},
		{"an unknown message", livesocket.CodeBadMessage, func(c *client) {
			c.init()
			c.send(msg{Type: "start", ID: "1"}) // graphql-ws's, not this protocol's
		}},
		{"not JSON", livesocket.CodeBadMessage, func(c *client) {
			c.init()
			if err := c.conn.Write(c.ctx, websocket.MessageText, []byte("{")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, srv, "graphql-transport-ws")
			tc.run(c)
			c.closedWith(tc.code)
		})
	}
}

// graphql-ws (subscriptions-transport-ws): start, data, stop, keep-alives,
// connection_terminate, and the reason a socket ends.
func TestLegacyProtocol(t *testing.T) {
	t.Parallel()
	exec := newExecutor()
	sessions := make(chan context.CancelFunc, 1)
	init := func(ctx context.Context, _ transport.InitPayload) (context.Context, error) {
		ctx, end := context.WithCancel(ctx)
		sessions <- end
		return livesocket.WithCloseReason(ctx, "the session has ended"), nil
	}
	srv := server(t, livesocket.Transport{Init: init, KeepAlive: 20 * time.Millisecond}, exec)

	c := dial(t, srv, "graphql-ws")
	c.send(msg{Type: "connection_init"})
	c.expect("connection_ack")
	c.expect("ka")
	c.expect("ka") // the timer's
	endSession := <-sessions
	p, _ := json.Marshal(map[string]any{"query": "subscription", "variables": map[string]any{"box": "legacy"}})
	c.send(msg{ID: "1", Type: "start", Payload: p})
	sub := exec.subscription(t, "legacy")
	sub.box.Put(fanout.NewEvent(7))
	for {
		m := c.read()
		if m.Type == "ka" {
			continue
		}
		if m.Type != "data" || string(m.Payload) != `{"data":{"n":7}}` {
			t.Fatalf("data: %+v", m)
		}
		break
	}
	// The session ends: the client is told why, and the socket closes.
	endSession()
	reason, seen := c.closedWith(websocket.StatusNormalClosure)
	if reason != "the session has ended" {
		t.Errorf("close reason %q", reason)
	}
	told := false
	for _, m := range seen {
		told = told || m.Type == "connection_error" && strings.Contains(string(m.Payload), "the session has ended")
	}
	if !told {
		t.Errorf("no connection_error before the close: %v", seen)
	}

	c2 := dial(t, srv, "graphql-ws")
	c2.send(msg{Type: "connection_init"})
	c2.expect("connection_ack")
	<-sessions
	c2.send(msg{Type: "connection_terminate"})
	c2.closedWith(websocket.StatusNormalClosure)
}

// A subscriber costs the socket's reader and no goroutine of its own: its
// events wake it.
func TestASubscriberHasNoGoroutine(t *testing.T) {
	exec := newExecutor()
	srv := server(t, livesocket.Transport{}, exec)
	before := runtime.NumGoroutine()
	const n = 50
	clients := make([]*client, n)
	for i := range clients {
		c := dial(t, srv, "graphql-transport-ws")
		c.init()
		c.send(subscribe("1", "subscription", fmt.Sprint(i)))
		exec.subscription(t, fmt.Sprint(i)).box.Put(fanout.NewEvent(i))
		c.expect("next")
		clients[i] = c
	}
	// One reader per socket, plus net/http's goroutines of the test
	// server's and client's connections, which both sides have (the
	// server's exits when the socket is hijacked).
	deadline := time.Now().Add(5 * time.Second)
	for {
		extra := runtime.NumGoroutine() - before
		if extra <= n+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines for %d subscribers", extra, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// All still live.
	for i, c := range clients {
		exec.subscription(t, fmt.Sprint(i)).box.Put(fanout.NewEvent(1000 + i))
		if m := c.expect("next"); string(m.Payload) != fmt.Sprintf(`{"data":{"n":%d}}`, 1000+i) {
			t.Fatalf("subscriber %d: %+v", i, m)
		}
	}
}

// A client that breaks the WebSocket protocol before connection_init (an
// unmasked frame) and then says nothing is closed, not left holding the
// server's goroutine and connection.
func TestABrokenFrameBeforeInitCloses(t *testing.T) {
	t.Parallel()
	srv := server(t, livesocket.Transport{}, newExecutor())
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	handshake := "GET / HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
	if _, err := conn.Write([]byte(handshake)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	res, err := http.ReadResponse(r, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", res, err)
	}
	if _, err := conn.Write([]byte{0x81, 0x00}); err != nil { // a client's frame must be masked
		t.Fatal(err)
	}
	// The server may send a close frame; then it must close the connection
	// (after waiting for an answer that never comes).
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("the connection stayed open: %v", err)
	}
}

func TestSupportsWebSocketUpgradesOnly(t *testing.T) {
	t.Parallel()
	for upgrade, want := range map[string]bool{"websocket": true, "WebSocket": true, "h2c": false, "websocket, foo": false, "": false} {
		r := httptest.NewRequest(http.MethodGet, "/graphql", nil)
		r.Header.Set("Upgrade", upgrade)
		if got := (livesocket.Transport{}).Supports(r); got != want {
			t.Errorf("Upgrade %q: Supports %v, want %v", upgrade, got, want)
		}
	}
}
