package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// testSchema is a small executable schema that runs its query fields
// through the resolver middleware as generated code does.
type testSchema struct {
	schema *ast.Schema
	events chan string // subscription events; closing it ends the streams

	mu      sync.Mutex
	traceID string // TraceID seen by the hello resolver
}

func newTestSchema() *testSchema {
	return &testSchema{
		schema: gqlparser.MustLoadSchema(&ast.Source{Input: `
			type Query { hello: String! fail: String broken: String down: String }
			type Subscription { tick: String! }
		`}),
		events: make(chan string, 10),
	}
}

func (s *testSchema) executable() graphql.ExecutableSchema {
	return &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return s.schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 1, true
		},
		ExecFunc: s.exec,
	}
}

func (s *testSchema) exec(ctx context.Context) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation.Operation == ast.Subscription {
		return func(ctx context.Context) *graphql.Response {
			select {
			case <-ctx.Done():
				return nil
			case v, ok := <-s.events:
				if !ok {
					return nil
				}
				b, _ := json.Marshal(map[string]string{"tick": v})
				return &graphql.Response{Data: b}
			}
		}
	}
	done := false
	return func(ctx context.Context) *graphql.Response {
		if done {
			return nil
		}
		done = true
		data := map[string]any{}
		for _, sel := range oc.Operation.SelectionSet {
			f := sel.(*ast.Field)
			fctx := graphql.WithFieldContext(ctx, &graphql.FieldContext{
				Object: "Query", Field: graphql.CollectedField{Field: f}, IsResolver: true,
			})
			res, err := oc.ResolverMiddleware(fctx, func(ctx context.Context) (any, error) { return s.resolve(ctx, f.Name) })
			if err != nil {
				graphql.AddError(fctx, err)
			}
			data[f.Alias] = res
		}
		b, _ := json.Marshal(data)
		return &graphql.Response{Data: b}
	}
}

func (s *testSchema) resolve(ctx context.Context, field string) (any, error) {
	switch field {
	case "hello":
		s.mu.Lock()
		s.traceID = TraceID(ctx)
		s.mu.Unlock()
		return "world", nil
	case "fail":
		return nil, apperr.BadInput("bad input")
	case "broken":
		return nil, errors.New("boom")
	case "down":
		return nil, apperr.Unavailable()
	}
	return nil, nil
}

// presentError gives errors their code as internal/server does.
func presentError(ctx context.Context, err error) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	if e, ok := apperr.AsError(err); ok {
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		gqlErr.Extensions["code"] = e.Code
	}
	return gqlErr
}

// newServer serves s over POST with the extensions.
func (s *testSchema) newServer(exts ...graphql.HandlerExtension) *handler.Server {
	srv := handler.New(s.executable())
	srv.AddTransport(transport.POST{})
	for _, e := range exts {
		srv.Use(e)
	}
	srv.SetErrorPresenter(presentError)
	return srv
}

// post sends query to h and returns the answer's status and body.
func post(t *testing.T, h http.Handler, query string, header http.Header) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
