package server

import (
	"context"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// @defer is delivered in parts by the transports that can send more than
// one answer: multipart/mixed over HTTP POST (Apollo Client asks for it with
// "Accept: multipart/mixed;deferSpec=20220824"), SSE and WebSocket. Plain
// GET and POST answer once; a deferred operation over them would stop after
// its first part, so it is refused with a message that says what to do.

type incrementalKey struct{}

// markIncremental notes whether the request's transport delivers
// incremental parts, for refuseUndeliverableDefer.
func markIncremental(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if deliversParts(r) {
			r = r.WithContext(context.WithValue(r.Context(), incrementalKey{}, true))
		}
		next.ServeHTTP(w, r)
	})
}

func deliversParts(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if isWebSocketUpgrade(r) || strings.Contains(accept, "text/event-stream") {
		return true
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	// What transport.MultipartMixed serves.
	return r.Method == http.MethodPost && strings.Contains(accept, "multipart/mixed") && mediaType == "application/json"
}

// deferMessage tells a client how to receive deferred parts.
const deferMessage = `@defer needs a transport that delivers parts: POST with ` +
	`"Accept: multipart/mixed;deferSpec=20220824, application/json" (Apollo Client sends it for @defer), ` +
	`SSE (Accept: text/event-stream) or a WebSocket (graphql-transport-ws)`

// refuseUndeliverableDefer refuses an operation that defers part of its
// answer on a transport that answers once.
func refuseUndeliverableDefer(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if incremental, _ := ctx.Value(incrementalKey{}).(bool); incremental || oc.Operation == nil {
		return next(ctx)
	}
	if defers(oc.Operation.SelectionSet, oc.Variables, map[string]bool{}) {
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message: deferMessage, Extensions: map[string]any{"code": apperr.CodeBadUserInput},
		}}})
	}
	return next(ctx)
}

// defers reports whether a selection set uses @defer (not turned off with
// if: false), in its fragments too.
func defers(set ast.SelectionSet, vars map[string]any, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if defers(s.SelectionSet, vars, seen) {
				return true
			}
		case *ast.InlineFragment:
			if deferOn(s.Directives, vars) || defers(s.SelectionSet, vars, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if deferOn(s.Directives, vars) {
				return true
			}
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				if defers(s.Definition.SelectionSet, vars, seen) {
					return true
				}
			}
		}
	}
	return false
}

func deferOn(directives ast.DirectiveList, vars map[string]any) bool {
	d := directives.ForName("defer")
	if d == nil {
		return false
	}
	on, ok := d.ArgumentMap(vars)["if"].(bool)
	return !ok || on
}
