package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/clinicemr/usermanager/internal/requestinfo"
)

// withRequestInfo gives each request an ID, returned in X-Request-Id and
// written with every log line and audit record about it, and records the
// client's address and user agent. A well-formed X-Request-Id from the
// client or a proxy in front is kept, so one ID follows the request through
// every hop.
func withRequestInfo(next http.Handler, trusted []netip.Prefix) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !wellFormedRequestID(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		ctx := requestinfo.With(r.Context(), requestinfo.Info{
			ClientIP: clientIP(r, trusted), UserAgent: r.UserAgent(), RequestID: id,
		})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// MaxRequestIDLength bounds an incoming X-Request-Id (a UUID is 36).
const MaxRequestIDLength = 128

// wellFormedRequestID accepts IDs as proxies and clients make them (UUIDs,
// hex, base64url, "req-123:4") and nothing that could forge a log line:
// 1 to 128 letters, digits and - _ . : / + =.
func wellFormedRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.:/+=", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func requestID(ctx context.Context) string { return requestinfo.From(ctx).RequestID }

// clientIP is the address of the client: the peer, or, when the peer is a
// trusted proxy (TRUSTED_PROXIES), the nearest address in X-Forwarded-For
// that is not a trusted proxy. Addresses a client wrote itself further left
// are ignored, so nobody can pick the address that sign-in throttling and
// the audit trail see.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(trusted) == 0 || !isTrusted(host, trusted) {
		return host
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, part := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(hops[i])
		if err != nil {
			return host
		}
		if !isTrusted(addr.String(), trusted) {
			return addr.String()
		}
	}
	return host
}

func isTrusted(host string, trusted []netip.Prefix) bool {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
