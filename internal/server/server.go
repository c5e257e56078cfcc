// Package server assembles the HTTP server: the GraphQL endpoint with its
// transports, GraphiQL, and the health endpoints.
package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/rs/cors"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/clinicemr/usermanager/graph"
	"github.com/clinicemr/usermanager/graph/generated"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/auth"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/fanout"
	"github.com/clinicemr/usermanager/internal/graphiql"
	"github.com/clinicemr/usermanager/internal/livesocket"
	"github.com/clinicemr/usermanager/internal/staffcsv"
	"github.com/clinicemr/usermanager/internal/staffimport"
	"github.com/clinicemr/usermanager/internal/telemetry"
	"github.com/clinicemr/usermanager/internal/users"
)

// Options configures the server. The services come ready-made from the
// composition root (internal/app); the server only wires them to HTTP.
type Options struct {
	// DB answers /readyz.
	DB *db.DB
	// Auth authenticates requests and WebSockets.
	Auth *auth.Service
	// Resolver is the GraphQL resolver over the services.
	Resolver *graph.Resolver
	// Media serves pictures and signatures (under users.URLPrefix).
	Media http.Handler
	// AuditExport serves the audit trail's CSV exports (under
	// audit.ExportPrefix).
	AuditExport http.Handler
	// UsersExport serves the users' CSV exports (under
	// staffcsv.ExportPrefix).
	UsersExport http.Handler
	// AllowedOrigins are the origins of browser clients, for CORS and for
	// WebSocket upgrades.
	AllowedOrigins []string
	// AllowedHeaders are the request headers browsers on those origins may
	// send (DefaultAllowedHeaders if empty). The preflight headers of
	// requirePreflight are always allowed.
	AllowedHeaders []string
	// PublicPath is the path of PUBLIC_URL ("/api" in https://x.org/api),
	// where a proxy that does not strip it forwards media and export URLs;
	// they are served there as well as at the root.
	PublicPath string
	// OperationTimeout stops queries and mutations that run longer
	// (default 15s).
	OperationTimeout time.Duration
	// Production sends HSTS and hides field suggestions; GraphiQL and
	// Introspection choose what is served.
	Production    bool
	GraphiQL      bool
	Introspection bool
	// TrustedProxies may set X-Forwarded-For (the load balancers).
	TrustedProxies []netip.Prefix
	// Metrics, when set, counts requests and operations; with
	// ServeMetrics it is also served at /metrics (otherwise the caller
	// serves it on METRICS_ADDR).
	Metrics      *telemetry.Metrics
	ServeMetrics bool
}

// DefaultAllowedHeaders are the request headers browser clients may send
// when CORS_ALLOWED_HEADERS is not set: the API's own, Apollo Client's
// (client awareness), and tracing context (W3C, Sentry).
var DefaultAllowedHeaders = []string{
	"Authorization", "Content-Type", auth.ClinicHeader, "X-Request-Id",
	"apollographql-client-name", "apollographql-client-version",
	"traceparent", "tracestate", "baggage", "sentry-trace",
}

// MaxBodyBytes bounds a GraphQL request body; MaxUploadBytes a multipart
// upload (a 1 MB picture and the operation around it).
const (
	MaxBodyBytes   = 1 << 20
	MaxUploadBytes = 2 << 20
)

// Server is the product's HTTP handler.
type Server struct {
	handler  http.Handler
	db       *db.DB
	draining atomic.Bool
	streams  streams
	// origins are the host patterns a WebSocket's Origin may match.
	origins []string
}

// New builds the server.
func New(opts Options) *Server {
	s := &Server{db: opts.DB, origins: originHosts(opts.AllowedOrigins)}
	gql := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: opts.Resolver}))
	// First, so they run outermost: the span and the timing cover the
	// whole operation, and the metrics see the final answer (TIMEOUT).
	gql.Use(telemetry.GraphQLTracing())
	if opts.Metrics != nil {
		gql.Use(opts.Metrics.GraphQL())
	}
	gql.AddTransport(transport.SSE{KeepAlivePingInterval: 15 * time.Second})
	// Sockets are accepted by trackStreams (detachWebSocket), then served
	// here.
	gql.AddTransport(livesocket.Transport{
		KeepAlive: 15 * time.Second,
		Init:      websocketInit(opts.Auth, &s.streams.stopping),
	})
	gql.AddTransport(transport.Options{})
	gql.AddTransport(transport.GET{})
	// Before POST: answers @defer in parts to clients that accept
	// multipart/mixed (Apollo Client); see defer.go.
	gql.AddTransport(transport.MultipartMixed{Boundary: "graphql"})
	gql.AddTransport(transport.POST{})
	gql.AddTransport(transport.MultipartForm{
		// A picture is under 1 MB (R18); the rest of the form is small.
		// limitBody bounds each request first: MaxUploadBytes, or
		// MaxImportUploadBytes for importUsers (uploadLimit). A file over
		// MaxMemory is spooled to a temporary file, not held in memory.
		MaxUploadSize: MaxImportUploadBytes,
		MaxMemory:     MaxUploadBytes,
	})
	gql.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if opts.Introspection {
		gql.Use(extension.Introspection{})
	}
	gql.SetDisableSuggestion(opts.Production)
	gql.SetParserTokenLimit(MaxQueryTokens)
	gql.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	gql.Use(DefaultLimits)
	gql.AroundFields(boundPageSize)
	gql.Use(newInputCheck[generated.MutationResolver]())
	gql.AroundOperations(refuseUndeliverableDefer)
	gql.AroundOperations(endWithSession(opts.Auth))
	gql.AroundOperations(timeLimit(cmp.Or(opts.OperationTimeout, 15*time.Second)))
	gql.AroundOperations(flagOutages)
	gql.AroundOperations(noteOperation)
	// Innermost: hands one encoding of an event to many subscribers (so no
	// middleware may change a subscription's response).
	gql.AroundOperations(fanout.Middleware)
	gql.SetErrorPresenter(presentError)
	gql.SetRecoverFunc(recoverPanic)

	allowedHeaders := opts.AllowedHeaders
	if len(allowedHeaders) == 0 {
		allowedHeaders = DefaultAllowedHeaders
	}
	api := cors.New(cors.Options{
		AllowedOrigins:   opts.AllowedOrigins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders:   append(slices.Clip(allowedHeaders), PreflightHeaders...),
		ExposedHeaders:   []string{"X-Request-Id", "Retry-After"},
		AllowCredentials: false,
		MaxAge:           600,
	}).Handler(requirePreflight(s.trackStreams(answerOutages(opts.Auth.Middleware(limitBody(markIncremental(gql)))))))

	mux := http.NewServeMux()
	mux.Handle("/graphql", api)
	mux.Handle(users.URLPrefix+"/", opts.Media)
	mux.Handle(audit.ExportPrefix+"/", opts.AuditExport)
	mux.Handle(staffcsv.ExportPrefix+"/", opts.UsersExport)
	mux.Handle(staffimport.TemplatePrefix+"/", staffimport.Files())
	if p := strings.TrimSuffix(opts.PublicPath, "/"); p != "" {
		mux.Handle(p+users.URLPrefix+"/", http.StripPrefix(p, opts.Media))
		mux.Handle(p+audit.ExportPrefix+"/", http.StripPrefix(p, opts.AuditExport))
		mux.Handle(p+staffcsv.ExportPrefix+"/", http.StripPrefix(p, opts.UsersExport))
		mux.Handle(p+staffimport.TemplatePrefix+"/", http.StripPrefix(p, staffimport.Files()))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", s.ready)
	if opts.Metrics != nil && opts.ServeMetrics {
		mux.Handle("/metrics", opts.Metrics.Handler())
	}
	if opts.GraphiQL {
		mux.Handle("/", graphiql.Handler("User Manager", "/graphql"))
	}
	// Tracing outside the request's ID and access log, so that their log
	// lines carry the trace ID.
	s.handler = telemetry.Tracing(withRequestInfo(accessLog(securityHeaders(mux, opts.Production)), opts.TrustedProxies))
	if opts.Metrics != nil {
		s.handler = opts.Metrics.HTTP(s.handler)
	}
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.draining.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if err := s.db.Ping(ctx); err != nil {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// limitBody bounds request bodies. A JSON body is read here, so an oversized
// one is answered 413 and an array of operations (batching, which would
// multiply one request's work and sign-in guesses) is refused with a clear
// message rather than a decoding error that echoes the body.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			limit := uploadLimit(r) // replaces r.Body: read it after
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			refuseRequest(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("the request body is too large: at most %d bytes", MaxBodyBytes))
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Cut off by BoundBodyReads.
			refuseRequest(w, http.StatusRequestTimeout, "the request body arrived too slowly: send it at once")
			return
		case err != nil:
			refuseRequest(w, http.StatusBadRequest, "the request body could not be read")
			return
		case bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("[")):
			refuseRequest(w, http.StatusBadRequest, "batching is not supported: send one operation per request")
			return
		case isJSON(r) && !json.Valid(body):
			// Refused here: gqlgen's own message would quote the body
			// (variables, passwords) back, and some transports log it.
			refuseRequest(w, http.StatusBadRequest, "the request body is not valid JSON")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func isJSON(r *http.Request) bool {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// refuseRequest answers a request refused before GraphQL saw it, in the
// GraphQL error shape.
func refuseRequest(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/graphql-response+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
		"message": message, "extensions": map[string]any{"code": apperr.CodeBadUserInput}}}})
}

// websocketInit authenticates a WebSocket from its connection_init payload
// ({"Authorization": "Bearer <token>", "X-Clinic-Id": "..."}). A refused
// token closes the socket with 4401 (not 1000, which makes clients retry
// forever); a database outage with 1013, "try again later", so clients
// reconnect instead of signing the person out.
func websocketInit(a *auth.Service, stopping *atomic.Bool) func(context.Context, transport.InitPayload) (context.Context, error) {
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, error) {
		ctx, err := shallowInit(ctx, a, payload.Authorization(), payload.GetString(auth.ClinicHeader))
		if e, ok := apperr.AsError(err); ok && e.Code == apperr.CodeUnavailable || err != nil && (stopping.Load() || ctx.Err() != nil) {
			// Not a refused token: the database is out of reach, or the
			// server is stopping (EndStreams cancelled the check).
			return nil, &livesocket.Refusal{Code: websocket.StatusTryAgainLater, Err: err}
		}
		if err != nil {
			return nil, &livesocket.Refusal{Code: livesocket.CodeUnauthorized, Err: err}
		}
		// The socket closes when the session ends (R25), and says so,
		// unless it closes because the server stops (EndStreams).
		watched := a.WatchSession(ctx)
		return unlessRestarting{
			Context: livesocket.WithCloseReason(watched, "the session has ended"), plain: watched, stopping: stopping,
		}, nil
	}
}

// shallowInit is a.Context, run on a goroutine of its own: the token check
// reads the database through deep driver stacks, and a goroutine's stack
// keeps the size of its deepest call while it stays in use, as the one
// serving a WebSocket does, for as long as the socket is open.
func shallowInit(ctx context.Context, a *auth.Service, token, clinic string) (context.Context, error) {
	var (
		err      error
		panicked any
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		ctx, err = a.Context(ctx, token, clinic)
	}()
	<-done
	if panicked != nil {
		panic(panicked) // where it would have been raised
	}
	return ctx, err
}

// endWithSession runs subscriptions under a context that ends with the
// viewer's session (R25), whatever the transport (SSE included).
func endWithSession(a *auth.Service) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if oc := graphql.GetOperationContext(ctx); oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
			ctx = a.WatchSession(ctx)
		}
		return next(ctx)
	}
}

// originHosts turns origins (https://admin.example.com) into the host
// patterns coder/websocket checks the Origin header against.
func originHosts(origins []string) []string {
	var hosts []string
	for _, o := range origins {
		if o == "*" {
			hosts = append(hosts, "*")
			continue
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			hosts = append(hosts, u.Host)
		}
	}
	return hosts
}
