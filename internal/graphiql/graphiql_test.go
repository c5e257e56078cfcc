package graphiql_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/clinicemr/usermanager/internal/graphiql"
)

// newServer mounts the handler the way the application does.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot) // stands in for the API
	})
	mux.Handle("/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

var assetRef = regexp.MustCompile(`/graphiql/assets/[^"'\s<>)]+`)

func TestPageAndAssets(t *testing.T) {
	srv := newServer(t, graphiql.Handler("User Manager", "/graphql"))

	resp, page := get(t, srv.URL+"/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET /: Content-Type %q, want text/html", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET /: Cache-Control %q, want no-cache", cc)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "" {
		t.Errorf("GET /: unexpected Content-Security-Policy %q", csp)
	}
	html := string(page)
	if !strings.Contains(strings.ToLower(html), "<!doctype html>") {
		t.Error("page is not an HTML document")
	}
	if m := regexp.MustCompile(`(?i)https?://`).FindString(html); m != "" {
		t.Errorf("page references an absolute http(s) URL (%q); everything must be served locally", m)
	}
	for _, want := range []string{
		"<title>User Manager</title>",
		`"endpoint":"/graphql"`,
		"GraphiQL.createFetcher",
		"graphqlWs.createClient",
		"connectionParams",
		"graphiql:headers",
		"isHeadersEditorEnabled: true",
		"shouldPersistHeaders: true",
		"mutation Login",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page does not contain %q", want)
		}
	}

	refs := assetRef.FindAllString(html, -1)
	var js, css int
	for _, ref := range refs {
		var want string
		switch path.Ext(ref) {
		case ".js":
			js++
			want = "text/javascript"
		case ".css":
			css++
			want = "text/css"
		default:
			t.Errorf("unexpected asset reference %q", ref)
			continue
		}
		resp, body := get(t, srv.URL+ref, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", ref, resp.StatusCode)
			continue
		}
		if len(body) == 0 {
			t.Errorf("GET %s: empty body", ref)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: Content-Type %q, want %s", ref, ct, want)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
			t.Errorf("GET %s: Cache-Control %q has no max-age", ref, cc)
		}
	}
	// react, react-dom, graphql-ws, graphiql + the stylesheet.
	if js != 4 || css != 1 {
		t.Errorf("page references %d scripts and %d stylesheets (%v), want 4 and 1", js, css, refs)
	}
}

func TestNotFound(t *testing.T) {
	srv := newServer(t, graphiql.Handler("User Manager", "/graphql"))
	for _, p := range []string{
		"/nope",
		"/index.html",
		"/graphiql",
		"/graphiql/assets/",
		"/graphiql/assets/nope.js",
		"/graphiql/assets/sub/graphiql-3.8.3.min.js",
		"/graphiql/assets/..%2Fgraphiql.go",
	} {
		resp, _ := get(t, srv.URL+p, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, resp.StatusCode)
		}
	}
	// The API endpoint registered on the same mux is not shadowed.
	if resp, _ := get(t, srv.URL+"/graphql", nil); resp.StatusCode != http.StatusTeapot {
		t.Errorf("GET /graphql: status %d, want the API's 418", resp.StatusCode)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	srv := newServer(t, graphiql.Handler("User Manager", "/graphql"))
	resp, err := http.Post(srv.URL+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", resp.StatusCode)
	}
}

func TestAssetCachingAndGzip(t *testing.T) {
	srv := newServer(t, graphiql.Handler("User Manager", "/graphql"))
	url := srv.URL + "/graphiql/assets/graphiql-3.8.3.min.js"

	// Explicit identity request: the transport must not negotiate gzip.
	resp, plain := get(t, url, map[string]string{"Accept-Encoding": "identity"})
	if resp.StatusCode != http.StatusOK || len(plain) == 0 {
		t.Fatalf("GET identity: status %d, %d bytes", resp.StatusCode, len(plain))
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("identity request got Content-Encoding %q", ce)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("versioned asset Cache-Control %q", cc)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if resp, _ := get(t, url, map[string]string{"Accept-Encoding": "identity", "If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: status %d, want 304", resp.StatusCode)
	}

	// Setting Accept-Encoding by hand makes the transport return the raw body.
	resp, gz := get(t, url, map[string]string{"Accept-Encoding": "gzip"})
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("gzip request got Content-Encoding %q", ce)
	}
	if len(gz) >= len(plain) {
		t.Errorf("gzip body %d bytes, not smaller than %d", len(gz), len(plain))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unz, plain) {
		t.Error("gunzipped body differs from the identity body")
	}

	// Unversioned files (licenses) get a shorter cache lifetime.
	resp, body := get(t, srv.URL+"/graphiql/assets/LICENSE-graphiql.txt", nil)
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("GET license: status %d, %d bytes", resp.StatusCode, len(body))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=86400" {
		t.Errorf("unversioned asset Cache-Control %q", cc)
	}
}

func TestOptionsEscaped(t *testing.T) {
	srv := newServer(t, graphiql.New(graphiql.Options{
		Title:        `<Users & "Co">`,
		Endpoint:     "/api/graphql",
		DefaultQuery: "{ me { id } } </script><script>alert(1)</script>",
	}))
	_, page := get(t, srv.URL+"/", nil)
	html := string(page)
	if !strings.Contains(html, "<title>&lt;Users &amp; &#34;Co&#34;&gt;</title>") {
		t.Error("title not HTML-escaped")
	}
	if !strings.Contains(html, `"endpoint":"/api/graphql"`) {
		t.Error("custom endpoint missing")
	}
	if strings.Contains(html, "<script>alert(1)") || strings.Contains(html, "mutation Login") {
		t.Error("default query not replaced or not escaped")
	}
}
