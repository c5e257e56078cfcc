package media

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// servable are the only content types served as such; anything else in the
// bucket goes out as application/octet-stream.
var servable = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
}

// Handler serves GET and HEAD <prefix>/<key>?exp=…&sig=… with the URLs
// signer.URL(prefix, key) makes: 403 for a missing, bad or expired
// signature, 404 for a key that is not stored (or could not be, see
// ValidKey), 405 for other methods, else the image with
// Cache-Control: private, max-age=<seconds until exp>, an ETag (the key is
// immutable) and 304 on a matching If-None-Match.
//
// Mount it on the prefix itself, e.g. mux.Handle("/media/", media.Handler(store, signer, "/media")):
// it reads the whole path, not one stripped by http.StripPrefix.
func Handler(store *Store, signer Signer, prefix string) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'")
		h.Set("Referrer-Policy", "no-referrer")

		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			fail(w, http.StatusMethodNotAllowed)
			return
		}
		key, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok || !ValidKey(key) {
			fail(w, http.StatusNotFound)
			return
		}
		q := r.URL.Query()
		exp, ok := signer.verify(key, q.Get("exp"), q.Get("sig"))
		if !ok {
			fail(w, http.StatusForbidden)
			return
		}

		ctx := r.Context()
		etag := `"` + key + `"`
		maxAge := int64(exp.Sub(signer.now()) / time.Second)
		cache := func() {
			h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(max(maxAge, 0), 10))
			h.Set("ETag", etag)
		}

		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
			found, err := store.exists(ctx, key)
			switch {
			case err != nil:
				internal(w, r, key, err)
			case !found:
				fail(w, http.StatusNotFound)
			default:
				cache()
				w.WriteHeader(http.StatusNotModified)
			}
			return
		}

		data, ctype, mod, err := store.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			fail(w, http.StatusNotFound)
			return
		}
		if err != nil {
			internal(w, r, key, err)
			return
		}
		if !servable[ctype] {
			ctype = "application/octet-stream"
		}
		cache()
		h.Set("Content-Type", ctype)
		h.Set("Content-Length", strconv.Itoa(len(data)))
		if !mod.IsZero() {
			h.Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
		}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(data)
		}
	})
}

func fail(w http.ResponseWriter, code int) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(code), code)
}

func internal(w http.ResponseWriter, r *http.Request, key string, err error) {
	slog.ErrorContext(r.Context(), "media: serving an image failed", "key", key, "err", err)
	fail(w, http.StatusInternalServerError)
}

// etagMatch implements If-None-Match's weak comparison (RFC 9110 13.1.2):
// "*" or any listed tag, with or without W/, equal to etag.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
