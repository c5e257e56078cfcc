package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// securityHeaders sets the headers every response carries. The API and
// media answers may not be framed, sniffed, cached by shared caches or run
// as a document; the GraphiQL page gets a policy that lets its own scripts
// run and talk to the API. HSTS is sent in production, where TLS is
// declared.
func securityHeaders(next http.Handler, production bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if production {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		switch {
		case r.URL.Path == "/graphql":
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			h.Set("Cache-Control", "no-store")
		case strings.HasPrefix(r.URL.Path, "/media/") || r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		default:
			h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; "+
				"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "+
				"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		}
		next.ServeHTTP(w, r)
	})
}

// timeLimit stops a query or mutation that runs longer than d: its
// resolvers' context ends and the answer says so (code TIMEOUT).
// Subscriptions are long-lived by design and not limited.
func timeLimit(d time.Duration) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
			return next(ctx)
		}
		opCtx, cancel := context.WithTimeout(ctx, d)
		handler := next(opCtx)
		timedOut := false
		return func(ctx context.Context) *graphql.Response {
			if timedOut {
				return nil
			}
			resp := handler(ctx)
			// Past the deadline gqlgen answers nothing (nil) or the errors
			// of the resolvers it stopped; either way, say why, once.
			if (resp == nil || len(resp.Errors) > 0) && errors.Is(opCtx.Err(), context.DeadlineExceeded) {
				timedOut = true
				resp = &graphql.Response{}
				resp.Errors = gqlerror.List{{
					Message:    fmt.Sprintf("the operation took longer than %v and was stopped", d),
					Extensions: map[string]any{"code": "TIMEOUT"},
				}}
			}
			// An answer with @defer comes in parts (HasNext): the time
			// limit covers them all and ends with the last.
			if resp == nil || resp.HasNext == nil || !*resp.HasNext {
				cancel()
			}
			return resp
		}
	}
}
