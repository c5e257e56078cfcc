// Package livesocket serves GraphQL over WebSocket, in both protocols
// clients speak: graphql-transport-ws (the graphql-ws library, Apollo
// Client 3.5+, GraphiQL) and graphql-ws (subscriptions-transport-ws, older
// Apollo and Relay clients).
//
// It is a gqlgen transport, as gqlgen's own transport.Websocket, built to
// keep a live subscriber small (issue #16: ten thousand on one instance):
//
//   - A socket has one goroutine, which reads it. A message is handled on a
//     goroutine of its own, so that the reader's stack stays shallow.
//   - A subscription delivered through a fanout.Mailbox has no goroutine
//     waiting for its events: the mailbox wakes the socket (fanout.Waker),
//     which runs the subscription's handler once per event on a short-lived
//     goroutine. Other subscriptions are run by a goroutine that waits, as
//     in gqlgen.
//   - The socket closes when its context ends (context.AfterFunc), and the
//     graphql-ws keep-alive is a timer, not a goroutine.
package livesocket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
)

// Protocols are the subprotocols served, in order of preference.
var Protocols = []string{legacyProtocol, transportProtocol}

const (
	// transportProtocol is graphql-ws's protocol:
	// https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
	transportProtocol = "graphql-transport-ws"
	// legacyProtocol is subscriptions-transport-ws's (also what a client
	// that names none gets):
	// https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md
	legacyProtocol = "graphql-ws"
)

// Close codes of graphql-transport-ws, used for both protocols.
const (
	CodeBadMessage      websocket.StatusCode = 4400
	CodeUnauthorized    websocket.StatusCode = 4401
	CodeInitTimeout     websocket.StatusCode = 4408
	CodeDuplicateID     websocket.StatusCode = 4409
	CodeRepeatedInit    websocket.StatusCode = 4429
	defaultInitTimeout                       = 10 * time.Second
	defaultWriteTimeout                      = 10 * time.Second
	defaultReadLimit                         = 1 << 20
)

// Transport is the gqlgen transport. A request it is handed must carry an
// accepted WebSocket (Accepted): the server accepts sockets itself, before
// gqlgen, to let go of the HTTP request early.
type Transport struct {
	// Init authenticates a socket from its connection_init payload and
	// returns the context its operations run under; the socket closes
	// when that context ends (a session's end, a restart). An error
	// refuses the socket, with the close code of a Refusal (4401 if the
	// error is not one).
	Init func(ctx context.Context, payload transport.InitPayload) (context.Context, error)
	// KeepAlive is the interval of graphql-ws "ka" messages (none if 0).
	// graphql-transport-ws clients ping when they want to.
	KeepAlive time.Duration
	// InitTimeout closes a socket that has not sent connection_init
	// (4408); default 10s.
	InitTimeout time.Duration
	// WriteTimeout closes a socket whose client does not take a message
	// within it; default 10s.
	WriteTimeout time.Duration
	// ReadLimit bounds a client's message; default 1 MB.
	ReadLimit int64
}

// Accepted is the http.ResponseWriter of a request whose WebSocket the
// server accepted.
type Accepted interface {
	http.ResponseWriter
	// WebSocket is the accepted connection.
	WebSocket() *websocket.Conn
	// Keep tells the server that the socket is served on after Do
	// returns, by a goroutine of the transport's; it calls ended when the
	// socket closes. Without Keep, the socket ends when Do returns.
	Keep() (ended func())
}

// Waiter is an Accepted whose connection can be waited on before it is
// read, in a shallower call than a read: a socket's reader is parked there
// most of its life, so its stack is smaller.
type Waiter interface {
	// Buffered tells whether bytes were read from the connection and not
	// yet taken; called only while the socket's reader is the
	// connection's only reader.
	Buffered() bool
	// WaitReadable returns when the connection has bytes to read, is
	// closed, or cannot be waited on.
	WaitReadable()
}

// Refusal is an Init error with the close code to send.
type Refusal struct {
	Code websocket.StatusCode
	Err  error
}

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

type closeReasonKey struct{}

// WithCloseReason makes reason the close reason of a socket whose context
// (from Init) is ctx, when ctx ends; graphql-ws clients are also sent it
// as a connection_error. Without one, the reason is "terminated".
func WithCloseReason(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, closeReasonKey{}, reason)
}

var _ graphql.Transport = Transport{}

// Supports tells whether r is a WebSocket upgrade (another Upgrade, such
// as h2c, is left to the other transports).
func (Transport) Supports(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// Do authenticates the socket (connection_init), then leaves it to a
// goroutine of its own that starts shallow: the goroutine running Do went
// through every HTTP middleware and the token check, and a goroutine's
// stack keeps the size of its deepest call for as long as it lives.
func (t Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	a, ok := w.(Accepted)
	if !ok {
		// Not a WebSocket the server could accept (a malformed handshake).
		http.Error(w, "not a valid WebSocket handshake", http.StatusBadRequest)
		return
	}
	conn := a.WebSocket()
	conn.SetReadLimit(cmpOr(t.ReadLimit, defaultReadLimit))
	s := &socket{
		t:      &t,
		conn:   conn,
		exec:   exec,
		legacy: conn.Subprotocol() != transportProtocol,
		ops:    map[string]*operation{},
	}
	ctx, ok := s.init(r.Context())
	if !ok {
		if s.isClosing() {
			s.drainReads() // until the close handshake ends
		}
		return
	}
	s.waiter, _ = a.(Waiter)
	ended := a.Keep()
	go s.serve(ctx, ended)
}

// socket is one client's connection.
type socket struct {
	t      *Transport
	conn   *websocket.Conn
	exec   graphql.GraphExecutor
	waiter Waiter // nil: wait in the read
	legacy bool   // graphql-ws, not graphql-transport-ws
	// ctx is Init's context.
	ctx  context.Context
	done func() // the server's end of the socket (Accepted.Keep)

	mu        sync.Mutex
	ops       map[string]*operation // running, by the client's ID
	closing   bool                  // the close handshake was started
	over      bool                  // the socket was read to its end
	keepAlive *time.Timer
}

// message is a protocol message, in either protocol.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// serve reads the socket's messages until it closes; ended runs then.
func (s *socket) serve(ctx context.Context, ended func()) {
	s.ctx = ctx
	s.done = ended
	context.AfterFunc(s.ctx, s.contextEnded)
	if s.legacy && s.t.KeepAlive > 0 {
		s.mu.Lock()
		s.keepAlive = time.AfterFunc(s.t.KeepAlive, s.sendKeepAlive)
		s.mu.Unlock()
	}
	s.readNext()
}

// readNext reads and handles one message, then leaves the next to a new
// goroutine: the one that waits for a message, mostly idle for hours,
// then has the smallest stack there is, not one grown by handling the
// last message (the runtime shrinks a stack only to twice what it uses).
func (s *socket) readNext() {
	defer func() {
		if v := recover(); v != nil {
			slog.ErrorContext(s.ctx, "panic reading a WebSocket", "panic", v, "stack", string(debug.Stack()))
			s.end()
		}
	}()
	s.waitReadable()
	m, err := s.read()
	start := graphql.Now()
	switch {
	case errors.Is(err, errBadMessage):
		s.close(CodeBadMessage, "invalid message")
		s.drainReads()
		s.end()
		return
	case err != nil:
		s.end() // closed, by either side
		return
	}
	if !s.handle(m, start) {
		s.drainReads()
		s.end()
		return
	}
	go s.readNext()
}

// waitReadable waits for the next message's first bytes, if s.waiter can.
func (s *socket) waitReadable() {
	if s.waiter == nil {
		return
	}
	s.mu.Lock()
	// Once closing, the close handshake reads too: leave the waiting to
	// the read, which takes turns with it.
	wait := !s.closing && !s.waiter.Buffered()
	s.mu.Unlock()
	if wait {
		s.waiter.WaitReadable()
	}
}

// end runs once the socket is closed and read to its end: its operations
// end too.
func (s *socket) end() {
	s.mu.Lock()
	ops := s.ops
	s.ops = map[string]*operation{}
	s.over = true
	if s.keepAlive != nil {
		s.keepAlive.Stop()
	}
	s.mu.Unlock()
	for _, op := range ops {
		op.stop()
	}
	s.done()
}

// handle answers one message after connection_init; false ends the socket.
func (s *socket) handle(m message, start time.Time) bool {
	switch m.Type {
	case "subscribe", "start":
		if (m.Type == "start") != s.legacy {
			break
		}
		if m.ID == "" {
			s.close(CodeBadMessage, "the message has no id")
			return false
		}
		op, ok := s.register(m.ID)
		if !ok {
			s.close(CodeDuplicateID, "Subscriber for "+truncate(m.ID, 80)+" already exists")
			return false
		}
		go op.run(m.Payload, start)
		return true
	case "complete", "stop":
		if (m.Type == "stop") != s.legacy {
			break
		}
		s.stop(m.ID)
		return true
	case "ping":
		if s.legacy {
			break
		}
		s.send(message{Type: "pong", Payload: m.Payload})
		return true
	case "pong":
		if s.legacy {
			break
		}
		return true
	case "connection_init":
		s.close(CodeRepeatedInit, "Too many initialisation requests")
		return false
	case "connection_terminate":
		if !s.legacy {
			break
		}
		s.close(websocket.StatusNormalClosure, "terminated")
		return false
	}
	s.sendConnectionError("unexpected message " + truncate(m.Type, 40))
	s.close(CodeBadMessage, "unexpected message")
	return false
}

// init waits for connection_init and authenticates the socket.
func (s *socket) init(ctx context.Context) (context.Context, bool) {
	timeout := time.AfterFunc(cmpOr(s.t.InitTimeout, defaultInitTimeout), func() {
		s.close(CodeInitTimeout, "Connection initialisation timeout")
	})
	// A restart (EndStreams) closes a socket that is yet to send it.
	restart := context.AfterFunc(ctx, func() { s.close(websocket.StatusNormalClosure, "terminated") })
	m, err := s.read()
	// Pings may come first (graphql-transport-ws allows them at any time),
	// and the completion of nothing.
	for err == nil && !s.legacy && (m.Type == "ping" || m.Type == "pong" || m.Type == "complete") ||
		err == nil && s.legacy && m.Type == "stop" {
		if m.Type == "ping" {
			s.send(message{Type: "pong", Payload: m.Payload})
		}
		m, err = s.read()
	}
	if !timeout.Stop() || !restart() {
		return nil, false
	}
	switch {
	case errors.Is(err, errBadMessage):
		s.sendConnectionError("invalid message")
		s.close(CodeBadMessage, "invalid message")
		return nil, false
	case err != nil:
		if websocket.CloseStatus(err) == -1 {
			// Not the client's close: a frame that breaks the WebSocket
			// protocol, or a message over the read limit.
			s.close(websocket.StatusProtocolError, "invalid frame")
		}
		return nil, false
	case m.Type == "connection_terminate" && s.legacy:
		s.close(websocket.StatusNormalClosure, "terminated")
		return nil, false
	case m.Type == "subscribe" || m.Type == "start":
		s.sendConnectionError("connection_init must come first")
		s.close(CodeUnauthorized, "Unauthorized")
		return nil, false
	case m.Type != "connection_init":
		s.sendConnectionError("unexpected message " + truncate(m.Type, 40))
		s.close(CodeBadMessage, "unexpected message")
		return nil, false
	}
	var payload transport.InitPayload
	if len(m.Payload) > 0 && !bytes.Equal(m.Payload, []byte("null")) {
		if err := json.Unmarshal(m.Payload, &payload); err != nil {
			s.sendConnectionError("the connection_init payload must be an object")
			s.close(CodeBadMessage, "the connection_init payload must be an object")
			return nil, false
		}
	}
	if s.t.Init != nil {
		ctx, err = s.t.Init(ctx, payload)
		if err != nil {
			code := CodeUnauthorized
			var r *Refusal
			if errors.As(err, &r) {
				code = r.Code
			}
			s.sendConnectionError(err.Error())
			s.close(code, truncate(err.Error(), 120))
			return nil, false
		}
	}
	s.send(message{Type: "connection_ack"})
	if s.legacy {
		s.send(message{Type: "ka"})
	}
	return ctx, true
}

var errBadMessage = errors.New("not a protocol message")

// read reads the next message.
func (s *socket) read() (message, error) {
	_, data, err := s.conn.Read(context.Background())
	if err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		return message{}, errBadMessage
	}
	return m, nil
}

// drainReads reads until the close handshake the server started ends, or
// closes the connection if that takes longer than the handshake may.
func (s *socket) drainReads() {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	for {
		if _, _, err := s.conn.Read(ctx); err != nil {
			return
		}
	}
}

// drainTimeout bounds drainReads: coder/websocket waits 5s for the
// client's answer to a close.
const drainTimeout = 10 * time.Second

// register adds an operation, unless its ID is taken.
func (s *socket) register(id string) (*operation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.ops[id]; taken {
		return nil, false
	}
	ctx, cancel := context.WithCancel(s.ctx)
	op := &operation{socket: s, id: id, ctx: ctx, cancel: cancel}
	s.ops[id] = op
	return op, true
}

// stop ends an operation the client no longer wants; its ID is free at once.
func (s *socket) stop(id string) {
	s.mu.Lock()
	op := s.ops[id]
	delete(s.ops, id)
	s.mu.Unlock()
	if op != nil {
		op.stoppedByClient.Store(true)
		op.stop()
	}
}

// forget drops an operation that ended.
func (s *socket) forget(op *operation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ops[op.id] == op {
		delete(s.ops, op.id)
	}
}

// contextEnded closes the socket when its context ends: the client left,
// its session ended, or the server stops.
func (s *socket) contextEnded() {
	s.mu.Lock()
	if s.keepAlive != nil {
		s.keepAlive.Stop()
	}
	s.mu.Unlock()
	reason, _ := s.ctx.Value(closeReasonKey{}).(string)
	if reason != "" {
		s.sendConnectionError(reason)
	} else {
		reason = "terminated"
	}
	s.close(websocket.StatusNormalClosure, truncate(reason, maxReason))
}

func (s *socket) sendKeepAlive() {
	s.send(message{Type: "ka"})
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing && !s.over {
		s.keepAlive.Reset(s.t.KeepAlive)
	}
}

// close starts the close handshake, once; the reader sees its end.
func (s *socket) close(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	// Close waits for the client's answer (at most 5s): not here.
	go func() { _ = s.conn.Close(code, reason) }()
}

func (s *socket) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// send writes a message; a client that does not take it in WriteTimeout
// is cut off.
func (s *socket) send(m message) {
	data, err := json.Marshal(m)
	if err != nil {
		return
	}
	s.write(data)
}

func (s *socket) write(data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), cmpOr(s.t.WriteTimeout, defaultWriteTimeout))
	defer cancel()
	_ = s.conn.Write(ctx, websocket.MessageText, data)
}

// sendConnectionError tells a graphql-ws client why the socket closes
// (graphql-transport-ws has no such message: the close reason says it).
func (s *socket) sendConnectionError(text string) {
	if !s.legacy || s.isClosing() {
		return
	}
	payload, _ := json.Marshal(map[string]string{"message": text})
	s.send(message{Type: "connection_error", Payload: payload})
}

// maxReason is the longest close reason a close frame holds, in bytes.
const maxReason = 123

// truncate cuts s to at most n bytes, on a character's boundary (a close
// reason that is not UTF-8 makes browsers fail the connection).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func cmpOr[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}
