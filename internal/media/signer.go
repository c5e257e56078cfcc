package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// DefaultTTL is the lifetime of a signed URL when Signer.TTL is not set.
const DefaultTTL = 15 * time.Minute

var sigEncoding = base64.RawURLEncoding.Strict()

// Signer makes and checks short-lived signed URLs of stored images.
//
// A URL is valid from the moment it is handed out for at least TTL and less
// than 1.5×TTL: its expiry is rounded up to a multiple of TTL/2, so every
// request in the same TTL/2 window gets the very same URL and the browser's
// cache keeps working across GraphQL queries.
type Signer struct {
	// Secret is the HMAC-SHA256 key: 32 random bytes, kept apart from other
	// secrets (such as the JWT one). Without a secret, Verify refuses all.
	Secret []byte
	// TTL is the minimum lifetime of a URL; DefaultTTL if zero or negative.
	TTL time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

func (s Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// expiry returns the Unix second at which a URL handed out at now expires.
func (s Signer) expiry(now time.Time) int64 {
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	ttlSec := int64((ttl + time.Second - 1) / time.Second)
	window := max(ttlSec/2, 1)
	t := now.Unix()
	if now.Nanosecond() > 0 {
		t++ // round now up too, so a URL always lives at least TTL
	}
	exp := t + ttlSec
	if r := exp % window; r != 0 {
		exp += window - r
	}
	return exp
}

// URL returns prefix + "/" + key + "?exp=<unix seconds>&sig=<signature>",
// the signature being the base64url (unpadded) HMAC-SHA256 of "key|exp".
// prefix is where Handler is mounted ("/media", or an absolute
// "https://api.example.org/media"); a trailing slash is ignored.
func (s Signer) URL(prefix, key string) string {
	link, _ := s.URLExpiring(prefix, key)
	return link
}

// URLExpiring is URL, and when the URL stops working.
func (s Signer) URLExpiring(prefix, key string) (string, time.Time) {
	unix := s.expiry(s.now())
	exp := strconv.FormatInt(unix, 10)
	return strings.TrimSuffix(prefix, "/") + "/" + key + "?exp=" + exp + "&sig=" + s.sign(key, exp), time.Unix(unix, 0)
}

func (s Signer) sign(key, exp string) string { return sigEncoding.EncodeToString(s.mac(key, exp)) }

func (s Signer) mac(key, exp string) []byte {
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte(key + "|" + exp))
	return m.Sum(nil)
}

// Verify reports whether sig is the signature of key and exp and exp is
// still in the future. The signature is compared in constant time.
func (s Signer) Verify(key, exp, sig string) bool {
	_, ok := s.verify(key, exp, sig)
	return ok
}

// verify also returns the expiry, for Cache-Control.
func (s Signer) verify(key, exp, sig string) (time.Time, bool) {
	if len(s.Secret) == 0 || len(exp) == 0 || len(exp) > 18 || len(sig) > 64 {
		return time.Time{}, false
	}
	for i := 0; i < len(exp); i++ {
		if exp[i] < '0' || exp[i] > '9' {
			return time.Time{}, false
		}
	}
	got, err := sigEncoding.DecodeString(sig)
	if err != nil {
		return time.Time{}, false
	}
	if !hmac.Equal(got, s.mac(key, exp)) {
		return time.Time{}, false
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	t := time.Unix(e, 0)
	if !s.now().Before(t) {
		return time.Time{}, false
	}
	return t, true
}
