package server

import (
	"cmp"
	"io"
	"net/http"
	"strings"
	"time"
)

// BodyTimeouts bound how long a request body may take to arrive, so
// clients that trickle bodies cannot hold connections (and memory) open
// indefinitely. Zero fields take the defaults.
type BodyTimeouts struct {
	// Body bounds a query or mutation (JSON, at most MaxBodyBytes; in
	// practice a few kilobytes).
	Body time.Duration
	// Upload bounds a multipart upload (at most MaxUploadBytes).
	Upload time.Duration
}

const (
	DefaultBodyTimeout = 10 * time.Second
	// DefaultUploadTimeout lets a full upload (2 MiB) arrive over a
	// 256 kbit/s line, which takes about 66 s.
	DefaultUploadTimeout = 90 * time.Second
)

// BoundBodyReads sets a read deadline on the connection of each request
// with a body, lifted as soon as the body has been read, so the time a
// handler then takes (and a WebSocket or an SSE stream, which outlive any
// fixed bound) is unaffected. This is why http.Server's ReadTimeout, which
// would also end long-lived connections, is not used. A body cut off by the
// deadline is answered 408 (see limitBody) and its connection closed.
//
// Install it around the Server where the http.Server is built.
func BoundBodyReads(next http.Handler, t BodyTimeouts) http.Handler {
	body := cmp.Or(t.Body, DefaultBodyTimeout)
	upload := cmp.Or(t.Upload, DefaultUploadTimeout)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		limit := body
		if strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/") {
			limit = upload
		}
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(limit)) == nil {
			// On a copy: net/http inspects the original request's body
			// after the handler to decide whether the connection may serve
			// another request (not when a read failed).
			r = r.WithContext(r.Context())
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the read deadline once the body is read: after that
// the server reads the connection in the background to notice a client
// that goes away, and a deadline firing there would cancel the request.
type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
