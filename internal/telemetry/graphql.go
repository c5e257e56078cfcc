package telemetry

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// Outcomes of a GraphQL operation, from its errors' extensions.code.
const (
	outcomeOK            = "ok"
	outcomeClientError   = "client_error"   // any code the client caused (BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, validation...)
	outcomeTimeout       = "timeout"        // TIMEOUT: stopped by the operation time limit
	outcomeUnavailable   = "unavailable"    // UNAVAILABLE: the database is unreachable
	outcomeInternalError = "internal_error" // INTERNAL_SERVER_ERROR, or no code at all
)

// severity orders outcomes: an operation takes its worst error's.
var severity = map[string]int{
	outcomeOK: 0, outcomeClientError: 1, outcomeTimeout: 2, outcomeUnavailable: 3, outcomeInternalError: 4,
}

// classify is the outcome of an answer's errors.
func classify(errs gqlerror.List) string {
	worst := outcomeOK
	for _, e := range errs {
		o := outcomeOf(e)
		if severity[o] > severity[worst] {
			worst = o
		}
	}
	return worst
}

func outcomeOf(e *gqlerror.Error) string {
	code, _ := e.Extensions["code"].(string)
	switch code {
	case "", apperr.CodeInternal:
		return outcomeInternalError
	case apperr.CodeUnavailable:
		return outcomeUnavailable
	case "TIMEOUT":
		return outcomeTimeout
	}
	return outcomeClientError
}

// Bounds on the operation label: longer names, and new names once this
// many are known, count as "other".
const (
	maxOperationNameLen = 64
	maxOperationNames   = 500
)

type nameSet struct {
	mu   sync.RWMutex
	seen map[string]struct{}
	max  int
}

func newNameSet(max int) *nameSet { return &nameSet{seen: map[string]struct{}{}, max: max} }

// label is the operation label of name.
func (s *nameSet) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	if len(name) > maxOperationNameLen || !isName(name) {
		return "other"
	}
	s.mu.RLock()
	_, ok := s.seen[name]
	s.mu.RUnlock()
	if ok {
		return name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[name]; !ok {
		if len(s.seen) >= s.max {
			return "other"
		}
		s.seen[name] = struct{}{}
	}
	return name
}

// isName reports whether s is a GraphQL name (/[_A-Za-z][_0-9A-Za-z]*/).
func isName(s string) bool {
	for i, c := range []byte(s) {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// operationOf is an operation's name and type ("unknown" before the
// document is parsed and the operation found).
func operationOf(ctx context.Context) (name, typ string) {
	if !graphql.HasOperationContext(ctx) {
		return "", "unknown"
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil {
		return "", "unknown"
	}
	return oc.Operation.Name, string(oc.Operation.Operation)
}

// GraphQL is the executor extension behind the graphql_* metrics. Use it
// before the other extensions (the first one used is the outermost), so
// that it sees the final answer, time limit included.
//
// A query or mutation is counted and timed when its answer (its last part,
// with @defer) is produced; a subscription is counted when its stream
// ends, with the worst outcome among its events, and is not timed. A
// request refused before execution (parse or validation errors) is counted
// with type "unknown" unless its operation was found.
func (m *Metrics) GraphQL() graphql.HandlerExtension { return graphqlMetrics{m} }

type graphqlMetrics struct{ m *Metrics }

var (
	_ graphql.OperationInterceptor = graphqlMetrics{}
	_ graphql.ResponseInterceptor  = graphqlMetrics{}
)

func (graphqlMetrics) ExtensionName() string                   { return "PrometheusMetrics" }
func (graphqlMetrics) Validate(graphql.ExecutableSchema) error { return nil }

// dispatchedKey marks the context of an operation that InterceptOperation
// counts, so that InterceptResponse counts only refused requests.
type dispatchedKey struct{}

func (g graphqlMetrics) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	name, typ := operationOf(ctx)
	label := g.m.names.label(name)
	start := graphql.GetOperationContext(ctx).Stats.OperationStart
	if start.IsZero() {
		start = time.Now()
	}
	subscription := typ == "subscription"
	if subscription {
		g.m.activeSubscriptions.Inc()
	}
	var (
		mu    sync.Mutex
		worst = outcomeOK
		once  sync.Once
	)
	finish := func() {
		once.Do(func() {
			mu.Lock()
			outcome := worst
			mu.Unlock()
			g.m.operations.WithLabelValues(label, typ, outcome).Inc()
			if subscription {
				g.m.activeSubscriptions.Dec()
			} else {
				g.m.operationDuration.WithLabelValues(label, typ).Observe(time.Since(start).Seconds())
			}
		})
	}
	// A transport may stop asking for answers without reaching the end of
	// the stream (an SSE client gone, a WebSocket closed): the end of the
	// operation's context finishes it then.
	stop := context.AfterFunc(ctx, finish)
	handler := next(context.WithValue(ctx, dispatchedKey{}, true))
	return func(ctx context.Context) *graphql.Response {
		resp := handler(ctx)
		if resp != nil && len(resp.Errors) > 0 {
			o := classify(resp.Errors)
			mu.Lock()
			if severity[o] > severity[worst] {
				worst = o
			}
			mu.Unlock()
		}
		if resp == nil || (!subscription && (resp.HasNext == nil || !*resp.HasNext)) {
			stop()
			finish()
		}
		return resp
	}
}

func (g graphqlMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || ctx.Value(dispatchedKey{}) != nil {
		return resp
	}
	// Refused before execution (executor.DispatchError).
	name, typ := operationOf(ctx)
	label := "unknown"
	if typ != "unknown" {
		label = g.m.names.label(name)
	}
	g.m.operations.WithLabelValues(label, typ, classify(resp.Errors)).Inc()
	return resp
}
