package server

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"

	"github.com/coder/websocket"

	"github.com/clinicemr/usermanager/internal/livesocket"
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
//   - The transport (internal/livesocket) then serves it with one goroutine,
//     parked between messages in waitReadable (a readiness wait, shallower
//     than a read), and subscriptions that are woken by their events.

// socketBufferSize is the size of each WebSocket's read and write buffers.
const socketBufferSize = 256

// detachWebSocket accepts a WebSocket (checking its Origin against
// s.origins) and serves it with next on a goroutine of its own, under ctx,
// which is not the request's: net/http cancels that one when this returns.
// done runs when the socket's serving ends.
func (s *Server) detachWebSocket(ctx context.Context, w http.ResponseWriter, r *http.Request, next http.Handler, done func()) {
	buffers := &smallBuffers{ResponseWriter: w}
	conn, err := websocket.Accept(buffers, r, &websocket.AcceptOptions{
		Subprotocols:   livesocket.Protocols,
		OriginPatterns: s.origins,
	})
	if err != nil {
		done() // Accept answered: 403 for a foreign origin, 400 for a bad handshake
		return
	}
	r = r.WithContext(ctx)
	logLine := detachAccessLine(ctx)
	ended := func() {
		// Closed already when the transport served it (this ends
		// nothing under way); not when a middleware refused it.
		_ = conn.CloseNow()
		done()
		logLine()
	}
	go func() {
		// Not buffers itself, which holds net/http's response, its
		// request and buffers.
		accepted := &acceptedSocket{conn: conn, ended: ended, raw: buffers.conn, reader: buffers.reader}
		defer func() {
			// Out of net/http's reach, a panic is caught here: the
			// socket closes, the server goes on.
			if v := recover(); v != nil {
				slog.ErrorContext(ctx, "panic serving a WebSocket", "panic", v, "stack", string(debug.Stack()))
			}
			if !accepted.kept {
				ended()
			}
		}()
		next.ServeHTTP(accepted, r)
	}()
}

// smallBuffers hands coder/websocket a hijacked connection with buffers of
// socketBufferSize instead of net/http's, which stay with the request. It
// keeps the connection and its reader, for acceptedSocket.WaitReadable.
type smallBuffers struct {
	http.ResponseWriter
	conn   net.Conn
	reader *bufio.Reader
}

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
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
	w.conn, w.reader = conn, reader
	return conn, bufio.NewReadWriter(reader, bufio.NewWriterSize(conn, socketBufferSize)), nil
}

// acceptedSocket is the http.ResponseWriter of a detached WebSocket: the
// transport (livesocket) finds the accepted connection in it. The response
// was the handshake's; nothing else is written.
type acceptedSocket struct {
	conn  *websocket.Conn
	ended func()
	kept  bool // the transport serves it on, and calls ended
	// raw is the hijacked connection, read through reader.
	raw    net.Conn
	reader *bufio.Reader
}

var (
	_ livesocket.Accepted = (*acceptedSocket)(nil)
	_ livesocket.Waiter   = (*acceptedSocket)(nil)
)

func (a *acceptedSocket) Buffered() bool { return a.reader.Buffered() > 0 }

// WaitReadable waits until the client's connection has bytes to read, in
// a call shallower than a read (waitReadable); it returns at once when it
// cannot wait that way (TLS).
func (a *acceptedSocket) WaitReadable() { waitReadable(a.raw) }

func (a *acceptedSocket) WebSocket() *websocket.Conn { return a.conn }

func (a *acceptedSocket) Keep() func() {
	a.kept = true
	return a.ended
}

// Header is empty: headers after the handshake go nowhere.
func (a *acceptedSocket) Header() http.Header       { return http.Header{} }
func (a *acceptedSocket) Write([]byte) (int, error) { return 0, http.ErrHijacked }
func (a *acceptedSocket) WriteHeader(int)           {}
