package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"

	"github.com/clinicemr/usermanager/internal/requestinfo"
)

// withRequestInfo gives each request an ID, returned in X-Request-Id and
// written with every log line and audit record about it, and records the
// client's address and user agent.
func withRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		ctx := requestinfo.With(r.Context(), requestinfo.Info{
			ClientIP: clientIP(r), UserAgent: r.UserAgent(), RequestID: id,
		})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func requestID(ctx context.Context) string { return requestinfo.From(ctx).RequestID }

// clientIP is the peer address. Behind a proxy it is the proxy's; trusting
// X-Forwarded-For needs a configured list of proxies (not yet offered).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
