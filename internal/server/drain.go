package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Shutting down without dropping anyone (SHUTDOWN_DRAIN):
//
//  1. Drain: /readyz answers 503, so the load balancer stops sending new
//     requests here, while every request, new or open, is still served.
//  2. EndStreams: open WebSockets are closed as a restart (a normal
//     closure, not "the session has ended"), so graphql-ws clients
//     reconnect, through the load balancer, to an instance that stays;
//     SSE streams end. New streams are refused with 503 and Retry-After.
//  3. http.Server.Shutdown lets in-flight queries and mutations finish.

// Drain makes /readyz fail so load balancers stop sending new requests
// while the server shuts down.
func (s *Server) Drain() { s.draining.Store(true) }

// EndStreams closes every open WebSocket and SSE stream and refuses new
// ones. Queries and mutations in flight are not touched.
func (s *Server) EndStreams() {
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	s.streams.stopping.Store(true)
	for _, cancel := range s.streams.open {
		cancel()
	}
	clear(s.streams.open)
}

// streams are the open long-lived requests (WebSocket, SSE).
type streams struct {
	mu       sync.Mutex
	next     int
	open     map[int]context.CancelFunc
	stopping atomic.Bool
}

// trackStreams runs each WebSocket and SSE request under a context that
// EndStreams cancels. A WebSocket is accepted here and served on from a
// goroutine of its own (detachWebSocket).
func (s *Server) trackStreams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		webSocket := isWebSocketUpgrade(r)
		if !webSocket && !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			next.ServeHTTP(w, r)
			return
		}
		parent := r.Context()
		if webSocket {
			parent = context.WithoutCancel(parent) // it outlives this request (detachWebSocket)
		}
		ctx, cancel := context.WithCancel(parent)
		id, ok := s.streams.add(cancel)
		if !ok {
			cancel()
			w.Header().Set("Retry-After", "1")
			refuseRequest(w, http.StatusServiceUnavailable, "this server is restarting: connect again")
			return
		}
		done := func() {
			s.streams.remove(id)
			cancel()
		}
		if webSocket {
			s.detachWebSocket(ctx, w, r, next, done)
			return
		}
		defer done()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// add registers an open stream's cancel, unless the server is stopping.
func (st *streams) add(cancel context.CancelFunc) (id int, ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopping.Load() {
		return 0, false
	}
	if st.open == nil {
		st.open = map[int]context.CancelFunc{}
	}
	st.next++
	st.open[st.next] = cancel
	return st.next, true
}

// remove forgets a stream that ended.
func (st *streams) remove(id int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.open, id)
}

// unlessRestarting is a WebSocket's context whose close reason ("the
// session has ended", sent as a connection error before the socket closes)
// disappears once the server stops: a restart must not read as a sign-out.
type unlessRestarting struct {
	context.Context // with the close reason
	plain           context.Context
	stopping        *atomic.Bool
}

func (c unlessRestarting) Value(key any) any {
	if c.stopping.Load() {
		return c.plain.Value(key)
	}
	return c.Context.Value(key)
}
