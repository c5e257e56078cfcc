package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Downloads hands out and serves short-lived signed links to generated
// files (the audit and staff exports). What a link grants, its scope, is
// JSON carried in the link's path and covered by the signature, so the
// link needs no Authorization header and nothing is kept on the server.
type Downloads struct {
	signer Signer
	prefix string // where Handler is mounted, e.g. "/audit-export"
	base   string // PUBLIC_URL + prefix: where links point
}

// NewDownloads signs links with a key derived from mediaKey and purpose, so
// that no two kinds of link (or a picture's) share signatures. Links last
// at least ttl, start with publicURL ("" gives relative links) and are
// served under prefix.
func NewDownloads(mediaKey []byte, purpose, publicURL, prefix string, ttl time.Duration, now func() time.Time) Downloads {
	m := hmac.New(sha256.New, mediaKey)
	m.Write([]byte(purpose))
	return Downloads{signer: Signer{Secret: m.Sum(nil), TTL: ttl, Now: now}, prefix: prefix,
		base: strings.TrimSuffix(publicURL, "/") + prefix}
}

// Link returns a signed link granting scope, and when it stops working.
func (d Downloads) Link(scope any) (string, time.Time, error) {
	raw, err := json.Marshal(scope)
	if err != nil {
		return "", time.Time{}, err
	}
	link, expires := d.signer.URLExpiring(d.base, base64.RawURLEncoding.EncodeToString(raw))
	return link, expires, nil
}

// Serve returns the handler of d's links: GET and HEAD only (405
// otherwise); 403 for a missing, altered or expired signature, or a scope
// that does not decode into a T that valid accepts; else serve writes the
// file for the scope. Answers are never cached, sniffed or referred.
func Serve[T any](d Downloads, valid func(*T) error, serve func(w http.ResponseWriter, r *http.Request, scope *T)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		key, _ := strings.CutPrefix(r.URL.Path, d.prefix+"/")
		q := r.URL.Query()
		scope := new(T)
		if !d.signer.Verify(key, q.Get("exp"), q.Get("sig")) || decodeScope(key, scope, valid) != nil {
			http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
			return
		}
		serve(w, r, scope)
	})
}

func decodeScope[T any](key string, scope *T, valid func(*T) error) error {
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, scope); err != nil {
		return err
	}
	return valid(scope)
}
