package server

import (
	"net/http"
	"strings"
)

// PreflightHeaders are the headers that mark a request as one a browser
// sends only after a CORS preflight (which refuses other origins): Apollo
// Server's and GraphQL Yoga's names, so their clients work unchanged.
var PreflightHeaders = []string{"Apollo-Require-Preflight", "X-Apollo-Operation-Name", "GraphQL-Preflight"}

// csrfMessage says how to get through requirePreflight.
const csrfMessage = `this request was refused as a possible cross-site request forgery: ` +
	`send the header "Apollo-Require-Preflight: true" (or X-Apollo-Operation-Name, or GraphQL-Preflight) ` +
	`with GET requests, uploads (multipart/form-data) and other form or text bodies; ` +
	`POST with "Content-Type: application/json" needs no extra header`

// requirePreflight refuses a GraphQL request a browser page of any origin
// could send without a CORS preflight (a "simple" request: GET, or POST of
// a form or text body), unless it carries a header that forces one. CORS
// only hides the answer of such a request from the page; the operation
// would still run (an anonymous requestPasswordReset, say). This is
// Apollo Server's CSRF prevention. OPTIONS (preflights) and WebSocket
// upgrades (origin-checked by the WebSocket transport) pass.
func requirePreflight(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions || isWebSocketUpgrade(r) || preflighted(r) {
			next.ServeHTTP(w, r)
			return
		}
		refuseRequest(w, http.StatusBadRequest, csrfMessage)
	})
}

// preflighted reports whether a browser would have preflighted r: it
// carries a non-empty preflight header, or a Content-Type other than the
// three a page may send freely. The type is read leniently (a browser that
// fails to parse one preflights it anyway).
func preflighted(r *http.Request) bool {
	for _, h := range PreflightHeaders {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	essence, _, _ := strings.Cut(ct, ";")
	switch strings.ToLower(strings.TrimSpace(essence)) {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return false
	}
	return true
}

// isWebSocketUpgrade: pages cannot set Upgrade themselves; only the
// WebSocket API does, and it sends Origin.
func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
