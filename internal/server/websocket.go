package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
)

// A live subscriber is mostly idle memory, so a WebSocket is served in a way
// that keeps little of it (issue #16: 10,000 subscribers on one instance):
//
//   - It is accepted by detachWebSocket, which then returns: net/http lets go
//     of the request, its 4 KB read and write buffers and the goroutine that
//     ran it through every middleware, whose stack stays as large as the
//     deepest call it ever made. The connection is served by a new goroutine
//     that starts below the stream tracking (answerOutages, auth, gqlgen).
//   - Its own read and write buffers are small (socketBufferSize): GraphQL
//     messages are small, and a larger message is read or written straight
//     through.
//   - connection_init's token check, which reads the database through deep
//     driver stacks, runs on a goroutine of its own (shallowInit).

// socketBufferSize is the size of each WebSocket's read and write buffers.
const socketBufferSize = 512

// webSocketProtocols are the subprotocols offered, in gqlgen's order of
// preference: graphql-ws (subscriptions-transport-ws) and
// graphql-transport-ws (graphql-ws, the library).
var webSocketProtocols = []string{"graphql-ws", "graphql-transport-ws"}

// detachWebSocket accepts a WebSocket (checking its Origin against
// s.origins) and serves it with next on a goroutine of its own, under ctx,
// which is not the request's: net/http cancels that one when this returns.
// done runs when the socket's serving ends.
func (s *Server) detachWebSocket(ctx context.Context, w http.ResponseWriter, r *http.Request, next http.Handler, done func()) {
	conn, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
		Subprotocols:   webSocketProtocols,
		OriginPatterns: s.origins,
	})
	if err != nil {
		done() // Accept answered: 403 for a foreign origin, 400 for a bad handshake
		return
	}
	r = r.WithContext(ctx)
	logLine := detachAccessLine(ctx)
	go func() {
		defer logLine()
		defer done()
		accepted := &acceptedSocket{conn: conn}
		defer func() {
			// Out of net/http's reach, a panic is caught here: the
			// socket closes, the server goes on.
			if v := recover(); v != nil {
				slog.ErrorContext(ctx, "panic serving a WebSocket", "panic", v, "stack", string(debug.Stack()))
			}
			// gqlgen leaves some sockets open when it stops serving them
			// (a connection_init it cannot read): none outlives this.
			if !accepted.closing() {
				_ = conn.CloseNow()
			}
		}()
		next.ServeHTTP(accepted, r)
	}()
}

// smallBuffers hands coder/websocket a hijacked connection with buffers of
// socketBufferSize instead of net/http's, which stay with the request.
type smallBuffers struct{ http.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the client sent after its handshake, already read by net/http,
	// are read first (Peek puts them in the new reader's buffer, where
	// coder/websocket looks for them).
	pending, _ := rw.Reader.Peek(rw.Reader.Buffered())
	reader := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(pending)), conn), max(socketBufferSize, len(pending)))
	if _, err := reader.Peek(len(pending)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(reader, bufio.NewWriterSize(conn, socketBufferSize)), nil
}

// acceptedSocket is the http.ResponseWriter of a detached WebSocket: gqlgen
// finds the accepted connection in it (acceptedSockets). The response was
// the handshake's; nothing else is written.
type acceptedSocket struct {
	conn   *websocket.Conn
	header http.Header
	// socket is what gqlgen was handed (acceptedSockets), nil until then.
	socket atomic.Pointer[socket]
}

// closing tells whether gqlgen started the socket's close handshake.
func (a *acceptedSocket) closing() bool {
	s := a.socket.Load()
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (a *acceptedSocket) Header() http.Header {
	if a.header == nil {
		a.header = http.Header{}
	}
	return a.header
}

func (a *acceptedSocket) Write([]byte) (int, error) { return 0, http.ErrHijacked }
func (a *acceptedSocket) WriteHeader(int)           {}

// acceptedSockets is gqlgen's WebsocketImplementation for sockets that
// detachWebSocket accepted.
type acceptedSockets struct{}

func (acceptedSockets) Accept(w http.ResponseWriter, _ *http.Request, _ transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	a, ok := w.(*acceptedSocket)
	if !ok {
		return nil, errors.New("a WebSocket must be accepted by detachWebSocket")
	}
	s := &socket{conn: a.conn}
	a.socket.Store(s)
	return s, nil
}

// socket is a coder/websocket connection as gqlgen's transport uses it.
type socket struct {
	conn *websocket.Conn

	mu      sync.Mutex
	closing bool // a close handshake was started: Close leaves it to finish
}

func (s *socket) Subprotocol() string { return s.conn.Subprotocol() }

func (s *socket) SetReadLimit(limit int64) { s.conn.SetReadLimit(limit) }

// NextReader reads the next message. A peer's normal close is
// transport.ErrWebsocketClosed, which gqlgen does not report as an error.
func (s *socket) NextReader() (int, io.Reader, error) {
	kind, data, err := s.conn.Read(context.Background())
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd:
			return int(kind), nil, transport.ErrWebsocketClosed
		}
		return int(kind), nil, err
	}
	return int(kind), bytes.NewReader(data), nil
}

func (s *socket) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.conn.Write(context.Background(), websocket.MessageText, data)
}

// WriteClose starts the close handshake and returns: it waits for the
// peer's answer (up to coder/websocket's timeout) on a goroutine of its own.
func (s *socket) WriteClose(code int, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closing = true
		go func() { _ = s.conn.Close(websocket.StatusCode(code), reason) }()
	}
	return nil
}

// Close drops the connection, unless a close handshake is under way.
func (s *socket) Close() error {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return nil
	}
	return s.conn.CloseNow()
}
