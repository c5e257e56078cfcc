package server

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// RetryAfterSeconds is the Retry-After of an UNAVAILABLE answer: long
// enough not to hammer a recovering database, short enough for a blip.
const RetryAfterSeconds = "5"

// outageKey marks a request whose answer carries UNAVAILABLE.
type outageKey struct{}

// answerOutages gives a GraphQL answer that carries an UNAVAILABLE error
// HTTP status 503 with Retry-After, so clients, proxies and monitoring see
// an outage for what it is. gqlgen's transports write 200 themselves;
// flagOutages (an operation middleware) marks the request, and the
// response writer here turns that 200 into 503. WebSocket upgrades and SSE
// streams are left alone: their status is long written when errors come.
func answerOutages(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebSocketUpgrade(r) || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			next.ServeHTTP(w, r)
			return
		}
		flag := new(atomic.Bool)
		ow := &outageWriter{ResponseWriter: w, outage: flag}
		next.ServeHTTP(ow, r.WithContext(context.WithValue(r.Context(), outageKey{}, flag)))
	})
}

// flagOutages marks the request when the operation's answer carries an
// UNAVAILABLE error, for answerOutages.
func flagOutages(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	handler := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := handler(ctx)
		if resp == nil {
			return nil
		}
		for _, e := range resp.Errors {
			if code, _ := e.Extensions["code"].(string); code == apperr.CodeUnavailable {
				if flag, ok := ctx.Value(outageKey{}).(*atomic.Bool); ok {
					flag.Store(true)
				}
				break
			}
		}
		return resp
	}
}

type outageWriter struct {
	http.ResponseWriter
	outage *atomic.Bool
	wrote  bool
}

func (w *outageWriter) WriteHeader(status int) {
	if !w.wrote && status == http.StatusOK && w.outage.Load() {
		w.Header().Set("Retry-After", RetryAfterSeconds)
		status = http.StatusServiceUnavailable
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *outageWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (read
// deadlines, flushing).
func (w *outageWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *outageWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}
