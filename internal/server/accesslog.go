package server

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/clinicemr/usermanager/internal/requestinfo"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// accessLog writes one structured line per request when it ends: method,
// path (never the query string, which holds GET variables and media
// signatures), status, duration, bytes, client address, and for GraphQL the
// operation's name and type and the viewer's ID. Variables, tokens and
// bodies are never logged. The request ID is added by the log handler
// (requestinfo.LogHandler). Health probes are logged at debug level.
func accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		entry := &accessEntry{}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), accessKey{}, entry)))

		// What the line says is read now: a detached WebSocket's line waits
		// for the socket to close, and must not keep the request and its
		// response (net/http's buffers, the headers) alive until then.
		ctx := r.Context()
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			level = slog.LevelDebug
		}
		if !slog.Default().Enabled(ctx, level) {
			return // nothing to build the line for (probes at info level)
		}
		path := r.URL.Path
		if len(path) > 200 {
			path = path[:200] + "…"
		}
		method, status, bytes := r.Method, rec.status(), rec.bytes
		clientIP := requestinfo.From(ctx).ClientIP
		entry.writeWhenEnded(func() {
			attrs := []slog.Attr{
				slog.String("method", method),
				slog.String("path", path),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
				slog.Int64("bytes", bytes),
				slog.String("client_ip", clientIP),
			}
			attrs = append(attrs, entry.attrs()...)
			slog.LogAttrs(ctx, level, "request", attrs...)
		})
	})
}

// detachAccessLine tells accessLog that the request of ctx goes on after
// its handler returns (a WebSocket served from a goroutine of its own): its
// line, with its duration and operations, is written when end is called.
func detachAccessLine(ctx context.Context) (end func()) {
	e, ok := ctx.Value(accessKey{}).(*accessEntry)
	if !ok {
		return func() {}
	}
	e.mu.Lock()
	e.detached = true
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		write := e.write
		e.ended, e.write = true, nil
		e.mu.Unlock()
		if write != nil {
			write()
		}
	}
}

// writeWhenEnded runs write now, or, for a detached request still going on,
// when it ends.
func (e *accessEntry) writeWhenEnded(write func()) {
	e.mu.Lock()
	if e.detached && !e.ended {
		e.write = write
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	write()
}

type accessKey struct{}

// accessEntry collects what the GraphQL layer learns about a request for
// its access log line. A WebSocket carries many operations, concurrently:
// the line then counts them.
type accessEntry struct {
	mu         sync.Mutex
	operation  string
	opType     string
	operations int
	viewerID   int
	// detached: the request goes on after its handler (detachAccessLine);
	// ended: it has ended since; write: its line, waiting for the end.
	detached, ended bool
	write           func()
}

func (e *accessEntry) attrs() []slog.Attr {
	e.mu.Lock()
	defer e.mu.Unlock()
	var attrs []slog.Attr
	switch {
	case e.operations == 1:
		attrs = append(attrs, slog.String("operation", e.operation), slog.String("operation_type", e.opType))
	case e.operations > 1:
		attrs = append(attrs, slog.Int("operations", e.operations))
	}
	if e.viewerID != 0 {
		attrs = append(attrs, slog.Int("viewer_id", e.viewerID))
	}
	return attrs
}

// noteOperation tells the request's access log line which operation ran
// and for whom.
func noteOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if e, ok := ctx.Value(accessKey{}).(*accessEntry); ok {
		oc := graphql.GetOperationContext(ctx)
		e.mu.Lock()
		e.operations++
		e.operation = oc.OperationName
		if oc.Operation != nil {
			e.opType = string(oc.Operation.Operation)
			if e.operation == "" {
				e.operation = oc.Operation.Name
			}
		}
		if e.operation == "" {
			e.operation = "anonymous"
		}
		if v := viewer.FromContext(ctx); v != nil {
			e.viewerID = v.UserID
		}
		e.mu.Unlock()
	}
	return next(ctx)
}

// statusRecorder remembers the status and size of a response. It keeps
// streaming (Flush) and WebSocket upgrades (Hijack, Unwrap) working.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

func (r *statusRecorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil && r.code == 0 {
		r.code = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
