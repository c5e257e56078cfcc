package media_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/media"
)

type grant struct {
	Org int `json:"org"`
}

// A link grants its scope to whoever holds it, until it expires; a changed
// scope, signature or method, or a scope the owner refuses, gets nothing;
// two purposes never share signatures.
func TestDownloadsGrantTheirScope(t *testing.T) {
	now := time.Now()
	var offset atomic.Int64 // the handler reads the clock on another goroutine
	clock := func() time.Time { return now.Add(time.Duration(offset.Load())) }
	d := media.NewDownloads([]byte("0123456789abcdef0123456789abcdef"), "test exports", "https://api.example.org/", "/x", time.Minute, clock)
	valid := func(g *grant) error {
		if g.Org <= 0 {
			return errors.New("no organization")
		}
		return nil
	}
	srv := httptest.NewServer(media.Serve(d, valid, func(w http.ResponseWriter, _ *http.Request, g *grant) {
		_, _ = io.WriteString(w, "org "+string(rune('0'+g.Org)))
	}))
	defer srv.Close()
	get := func(method, link string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+strings.TrimPrefix(link, "https://api.example.org"), nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control %q", method, link, res.Header.Get("Cache-Control"))
		}
		return res.StatusCode, string(b)
	}

	link, expires, err := d.Link(grant{Org: 7})
	if err != nil || !strings.HasPrefix(link, "https://api.example.org/x/") {
		t.Fatalf("Link: %q %v", link, err)
	}
	if d := expires.Sub(now); d < time.Minute || d > 90*time.Second {
		t.Errorf("expires in %v, want 1 to 1.5 minutes", d)
	}
	if status, body := get(http.MethodGet, link); status != http.StatusOK || body != "org 7" {
		t.Errorf("GET: %d %q", status, body)
	}
	if status, _ := get(http.MethodPost, link); status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", status)
	}
	refused, _, _ := d.Link(grant{Org: 0})
	other, _, _ := media.NewDownloads([]byte("0123456789abcdef0123456789abcdef"), "other exports", "", "/x", time.Minute, clock).Link(grant{Org: 7})
	for name, l := range map[string]string{
		"a scope the owner refuses": refused,
		"another purpose's link":    other,
		"an altered signature":      strings.Replace(link, "sig=", "sig=A", 1),
	} {
		if status, _ := get(http.MethodGet, l); status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, status)
		}
	}
	offset.Store(int64(2 * time.Minute))
	if status, _ := get(http.MethodGet, link); status != http.StatusForbidden {
		t.Errorf("expired: %d, want 403", status)
	}
}
