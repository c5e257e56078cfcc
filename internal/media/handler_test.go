package media_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/clinicemr/usermanager/internal/media"
)

type fixture struct {
	store  *media.Store
	clock  *clock
	signer media.Signer
	h      http.Handler
	key    string
	img    media.Image
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	s, err := media.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := &clock{time.Unix(1_700_000_000, 0)}
	f := &fixture{store: s, clock: c, key: media.NewKey(media.KindPicture, 42), img: validPNG(t)}
	f.signer = media.Signer{Secret: secret, TTL: 10 * time.Minute, Now: c.Now}
	if err := s.Put(ctx, f.key, f.img); err != nil {
		t.Fatal(err)
	}
	f.h = media.Handler(s, f.signer, "/media")
	return f
}

func (f *fixture) do(method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func TestHandlerServes(t *testing.T) {
	f := newFixture(t)
	u := f.signer.URL("/media", f.key)
	_, exp, _ := parse(t, "/media", u)
	e, _ := strconv.ParseInt(exp, 10, 64)
	f.clock.t = f.clock.t.Add(2 * time.Minute)
	wantMaxAge := e - f.clock.t.Unix()

	w := f.do("GET", u)
	if w.Code != http.StatusOK {
		t.Fatalf("GET = %d %s", w.Code, w.Body)
	}
	if !bytes.Equal(w.Body.Bytes(), f.img.Data) {
		t.Error("body differs from the stored image")
	}
	want := map[string]string{
		"Content-Type":            "image/png",
		"Content-Length":          strconv.Itoa(len(f.img.Data)),
		"Cache-Control":           "private, max-age=" + strconv.FormatInt(wantMaxAge, 10),
		"ETag":                    `"` + f.key + `"`,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if w.Header().Get("Last-Modified") == "" {
		t.Error("no Last-Modified")
	}

	head := f.do("HEAD", u)
	if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") != want["Content-Length"] {
		t.Errorf("HEAD = %d, %d bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}

	for _, inm := range []string{want["ETag"], "W/" + want["ETag"], `"other", ` + want["ETag"], "*"} {
		nm := f.do("GET", u, "If-None-Match", inm)
		if nm.Code != http.StatusNotModified || nm.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: %d, %d bytes", inm, nm.Code, nm.Body.Len())
		}
		if nm.Header().Get("ETag") != want["ETag"] || !strings.HasPrefix(nm.Header().Get("Cache-Control"), "private, max-age=") {
			t.Errorf("304 headers: %v", nm.Header())
		}
	}
	if other := f.do("GET", u, "If-None-Match", `"pictures/42/ffffffffffffffff"`); other.Code != http.StatusOK {
		t.Errorf("If-None-Match of another tag: %d", other.Code)
	}
}

func TestHandlerRefuses(t *testing.T) {
	f := newFixture(t)
	u := f.signer.URL("/media", f.key)
	_, exp, sig := parse(t, "/media", u)
	missing := media.NewKey(media.KindPicture, 42)

	tests := []struct {
		name, method, target string
		header               []string
		advance              time.Duration
		want                 int
	}{
		{"no signature", "GET", "/media/" + f.key, nil, 0, http.StatusForbidden},
		{"bad signature", "GET", "/media/" + f.key + "?exp=" + exp + "&sig=AAAA" + sig[4:], nil, 0, http.StatusForbidden},
		{"signature of another key", "GET", "/media/" + missing + "?exp=" + exp + "&sig=" + sig, nil, 0, http.StatusForbidden},
		{"exp extended", "GET", "/media/" + f.key + "?exp=9" + exp + "&sig=" + sig, nil, 0, http.StatusForbidden},
		{"expired", "GET", u, nil, 16 * time.Minute, http.StatusForbidden},
		{"expired, If-None-Match", "GET", u, []string{"If-None-Match", `"` + f.key + `"`}, 16 * time.Minute, http.StatusForbidden},
		{"missing", "GET", f.signer.URL("/media", missing), nil, 0, http.StatusNotFound},
		{"missing, If-None-Match", "GET", f.signer.URL("/media", missing), []string{"If-None-Match", "*"}, 0, http.StatusNotFound},
		{"POST", "POST", u, nil, 0, http.StatusMethodNotAllowed},
		{"PUT", "PUT", u, nil, 0, http.StatusMethodNotAllowed},
		{"DELETE", "DELETE", u, nil, 0, http.StatusMethodNotAllowed},
		{"traversal ../x", "GET", f.signer.URL("/media", "../x"), nil, 0, http.StatusNotFound},
		{"traversal in a key", "GET", f.signer.URL("/media", "pictures/42/../../../etc/passwd"), nil, 0, http.StatusNotFound},
		{"encoded traversal", "GET", "/media/pictures/42/%2e%2e%2f%2e%2e%2fetc%2fpasswd?exp=" + exp + "&sig=" + sig, nil, 0, http.StatusNotFound},
		{"other prefix", "GET", strings.Replace(u, "/media/", "/other/", 1), nil, 0, http.StatusNotFound},
		{"key and more", "GET", strings.Replace(u, "?", "/x?", 1), nil, 0, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.t = time.Unix(1_700_000_000, 0).Add(tc.advance)
			w := f.do(tc.method, tc.target, tc.header...)
			if w.Code != tc.want {
				t.Fatalf("%s %s = %d, want %d", tc.method, tc.target, w.Code, tc.want)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("error headers: %v", w.Header())
			}
			if tc.want == http.StatusMethodNotAllowed && w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", w.Header().Get("Allow"))
			}
			if bytes.Contains(w.Body.Bytes(), f.img.Data[:8]) {
				t.Error("the image leaked in an error")
			}
		})
	}
}

// Whatever else wrote the bucket, only image types are served as such.
func TestHandlerContentTypeAllowlist(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	s := media.NewStore(b)
	defer s.Close()
	key := media.NewKey(media.KindPicture, 1)
	if err := b.WriteAll(ctx, key, []byte("<script>alert(1)</script>"), nil); err != nil {
		t.Fatal(err)
	}
	sg := media.Signer{Secret: secret}
	w := httptest.NewRecorder()
	media.Handler(s, sg, "/media").ServeHTTP(w, httptest.NewRequest("GET", sg.URL("/media", key), nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/octet-stream" {
		t.Errorf("%d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// Mounted on a ServeMux as the doc says, over a real server.
func TestHandlerMounted(t *testing.T) {
	f := newFixture(t)
	f.signer.Now = nil // real clock: the server's requests happen now
	mux := http.NewServeMux()
	mux.Handle("/media/", media.Handler(f.store, f.signer, "/media"))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + f.signer.URL("/media", f.key))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("GET = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(srv.URL + "/media/pictures/42/..%2f..%2fetc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Errorf("traversal = %d", resp.StatusCode)
	}
}
