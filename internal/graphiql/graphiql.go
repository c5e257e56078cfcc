// Package graphiql serves a self-contained GraphiQL IDE page.
//
// Every JavaScript and CSS file the page needs (GraphiQL 3, React 18,
// ReactDOM 18 and the graphql-ws client) is embedded in the binary with
// go:embed and served by this package, so the IDE works with no internet
// access; nothing is loaded from a CDN. Versions and licenses of the embedded
// files are listed in assets/VERSIONS.txt.
//
// Usage:
//
//	mux := http.NewServeMux()
//	mux.Handle("/graphql", apiHandler)                          // HTTP + WebSocket endpoint
//	mux.Handle("/", graphiql.Handler("User Manager", "/graphql")) // IDE page + its assets
//
// The handler answers "/" with the HTML page and AssetsPrefix+"<file>"
// ("/graphiql/assets/<file>") with the embedded assets; every other path gets
// 404. The page refers to its assets with absolute paths, so the handler must
// be mounted at the root of the server's path space as shown above (requests
// for the API endpoint itself are routed to the API by the more specific mux
// pattern). Use New with Options to change the default query shown in the
// editor.
//
// The page builds its fetcher with GraphiQL.createFetcher: queries and
// mutations are POSTed to the endpoint (made absolute from the page's
// location), subscriptions run over a WebSocket (graphql-transport-ws
// protocol, ws:// or wss:// matching the page's scheme) through a graphql-ws
// client. The headers editor is enabled and persisted; the WebSocket client
// sends the Authorization header from the headers editor as the
// connection_init payload, {"Authorization": "Bearer <token>"}.
package graphiql

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
)

// AssetsPrefix is the URL path under which the embedded assets are served.
const AssetsPrefix = "/graphiql/assets/"

// DefaultQuery is the text put in the query editor when the browser has no
// saved GraphiQL state yet. It shows how to sign in.
const DefaultQuery = `# Sign in, then copy accessToken into the Headers tab as {"Authorization": "Bearer <token>"}
mutation Login {
  login(input: {login: "admin", password: "..."}) {
    accessToken
    userErrors { field message code }
  }
}
`

// Names of the embedded files the page loads (see assets/VERSIONS.txt).
const (
	cssFile      = "graphiql-3.8.3.min.css"
	reactFile    = "react-18.3.1.production.min.js"
	reactDOMFile = "react-dom-18.3.1.production.min.js"
	graphqlWSJS  = "graphql-ws-5.16.2.min.js"
	graphiqlJS   = "graphiql-3.8.3.min.js"
)

// Options configures the page served by New.
type Options struct {
	// Title is the HTML page title. Empty means "GraphiQL".
	Title string
	// Endpoint is the GraphQL endpoint, usually a path such as "/graphql";
	// it is resolved against the page's URL in the browser, and its ws:// or
	// wss:// equivalent is used for subscriptions. Empty means "/graphql".
	Endpoint string
	// DefaultQuery is shown in the editor when the browser has no saved
	// GraphiQL state. Empty means the package's DefaultQuery.
	DefaultQuery string
}

// Handler returns an http.Handler serving the GraphiQL page titled title,
// talking to the GraphQL endpoint endpoint (e.g. "/graphql"), with
// DefaultQuery in the editor. It is New(Options{Title: title, Endpoint: endpoint}).
// Mount it at "/": mux.Handle("/", graphiql.Handler("User Manager", "/graphql")).
func Handler(title, endpoint string) http.Handler {
	return New(Options{Title: title, Endpoint: endpoint})
}

// New returns an http.Handler serving the GraphiQL page configured by opts
// at "/" and the embedded assets under AssetsPrefix. Any other path gets
// 404; methods other than GET and HEAD get 405. Mount it at "/".
func New(opts Options) http.Handler {
	if opts.Title == "" {
		opts.Title = "GraphiQL"
	}
	if opts.Endpoint == "" {
		opts.Endpoint = "/graphql"
	}
	if opts.DefaultQuery == "" {
		opts.DefaultQuery = DefaultQuery
	}
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, pageData{
		Title: opts.Title,
		CSS:   AssetsPrefix + cssFile,
		Scripts: []string{
			AssetsPrefix + reactFile,
			AssetsPrefix + reactDOMFile,
			AssetsPrefix + graphqlWSJS,
			AssetsPrefix + graphiqlJS,
		},
		Config: pageConfig{Endpoint: opts.Endpoint, DefaultQuery: opts.DefaultQuery},
	})
	if err != nil {
		// The template and its data are fixed; this cannot fail at run time.
		panic("graphiql: rendering page: " + err.Error())
	}
	return &handler{page: buf.Bytes(), assets: loadAssets()}
}

type handler struct {
	page   []byte
	assets map[string]*asset
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var a *asset
	switch {
	case p == "/":
	case strings.HasPrefix(p, AssetsPrefix):
		a = h.assets[strings.TrimPrefix(p, AssetsPrefix)]
		if a == nil {
			http.NotFound(w, r)
			return
		}
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	if a == nil {
		hd.Set("Content-Type", "text/html; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.page))
		return
	}
	a.serve(w, r)
}

// asset is one embedded file with its precomputed response metadata.
type asset struct {
	data         []byte
	contentType  string
	cacheControl string
	etag         string

	gzOnce sync.Once
	gz     []byte // gzip-compressed data, or nil if not worth it
}

var (
	//go:embed assets
	assetsFS embed.FS

	assetsOnce sync.Once
	assetsMap  map[string]*asset

	// versionedName matches file names carrying a version, e.g. "react-18.3.1...".
	versionedName = regexp.MustCompile(`-\d+\.\d+\.\d+[.-]`)
)

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".txt": "text/plain; charset=utf-8",
	".md":  "text/plain; charset=utf-8",
}

// loadAssets indexes the embedded files once; all handlers share the result.
func loadAssets() map[string]*asset {
	assetsOnce.Do(func() {
		assetsMap = make(map[string]*asset)
		entries, err := fs.ReadDir(assetsFS, "assets")
		if err != nil {
			panic("graphiql: reading embedded assets: " + err.Error())
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			data, err := assetsFS.ReadFile("assets/" + e.Name())
			if err != nil {
				panic("graphiql: reading embedded asset: " + err.Error())
			}
			ct, ok := contentTypes[path.Ext(e.Name())]
			if !ok {
				ct = "application/octet-stream"
			}
			cc := "public, max-age=86400"
			if versionedName.MatchString(e.Name()) {
				cc = "public, max-age=31536000, immutable"
			}
			sum := sha256.Sum256(data)
			assetsMap[e.Name()] = &asset{
				data:         data,
				contentType:  ct,
				cacheControl: cc,
				etag:         `"` + hex.EncodeToString(sum[:12]) + `"`,
			}
		}
	})
	return assetsMap
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", a.cacheControl)
	body, etag := a.data, a.etag
	if strings.HasPrefix(a.contentType, "text/") {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			if gz := a.gzipped(); gz != nil {
				body = gz
				etag = strings.TrimSuffix(a.etag, `"`) + `-gz"`
				hd.Set("Content-Encoding", "gzip")
			}
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// gzipped compresses the asset on first use and caches the result.
func (a *asset) gzipped() []byte {
	a.gzOnce.Do(func() {
		if len(a.data) < 1024 {
			return
		}
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return
		}
		if _, err := zw.Write(a.data); err != nil {
			return
		}
		if err := zw.Close(); err != nil {
			return
		}
		if buf.Len() < len(a.data) {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.ToLower(params), " ", "")
			if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				return false
			}
			return true
		}
	}
	return false
}

type pageConfig struct {
	Endpoint     string `json:"endpoint"`
	DefaultQuery string `json:"defaultQuery"`
}

type pageData struct {
	Title   string
	CSS     string
	Scripts []string
	Config  pageConfig
}

// pageTemplate is the IDE page. html/template escapes Title for HTML and
// encodes Config as a JSON object literal inside the script.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{.CSS}}">
<style>
html, body { height: 100%; margin: 0; overflow: hidden; }
#graphiql { height: 100vh; }
</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL&hellip;</div>
<noscript>GraphiQL needs JavaScript.</noscript>
{{range .Scripts}}<script src="{{.}}"></script>
{{end}}<script>
(function () {
  "use strict";
  var config = {{.Config}};

  // The endpoint made absolute from the page's location, and its WebSocket twin.
  var httpURL = new URL(config.endpoint, window.location.href);
  var wsURL = new URL(httpURL.href);
  wsURL.protocol = httpURL.protocol === "https:" ? "wss:" : "ws:";

  // Headers GraphiQL passed with the latest operation (the headers editor's
  // current content); null until the first operation runs.
  var lastHeaders = null;

  // The headers editor content GraphiQL persists in localStorage
  // (shouldPersistHeaders), stored as a JSON string.
  function storedHeaders() {
    try {
      var raw = window.localStorage.getItem("graphiql:headers");
      var parsed = raw ? JSON.parse(raw) : null;
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch (e) {
      return {};
    }
  }

  function authorization() {
    var headers = lastHeaders || storedHeaders();
    for (var key in headers) {
      if (Object.prototype.hasOwnProperty.call(headers, key) &&
          key.toLowerCase() === "authorization" &&
          typeof headers[key] === "string" && headers[key] !== "") {
        return headers[key];
      }
    }
    return null;
  }

  // graphql-transport-ws client; it connects lazily (when a subscription
  // starts) and reads the token at every connect.
  var wsClient = graphqlWs.createClient({
    url: wsURL.href,
    lazy: true,
    connectionParams: function () {
      var auth = authorization();
      return auth ? { Authorization: auth } : {};
    }
  });

  var baseFetcher = GraphiQL.createFetcher({
    url: httpURL.href,
    subscriptionUrl: wsURL.href,
    wsClient: wsClient
  });

  function fetcher(params, opts) {
    if (opts && opts.headers && typeof opts.headers === "object") {
      lastHeaders = opts.headers;
    }
    return baseFetcher(params, opts);
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: config.defaultQuery,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultEditorToolsVisibility: "headers"
  }));
})();
</script>
</body>
</html>
`))
