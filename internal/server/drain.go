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
// EndStreams cancels.
func (s *Server) trackStreams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isWebSocketUpgrade(r) && !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		s.streams.mu.Lock()
		if s.streams.stopping.Load() {
			s.streams.mu.Unlock()
			w.Header().Set("Retry-After", "1")
			refuseRequest(w, http.StatusServiceUnavailable, "this server is restarting: connect again")
			return
		}
		if s.streams.open == nil {
			s.streams.open = map[int]context.CancelFunc{}
		}
		s.streams.next++
		id := s.streams.next
		s.streams.open[id] = cancel
		s.streams.mu.Unlock()
		defer func() {
			s.streams.mu.Lock()
			delete(s.streams.open, id)
			s.streams.mu.Unlock()
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
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
