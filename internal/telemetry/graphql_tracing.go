package telemetry

import (
	"context"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// GraphQLTracing is the executor extension that traces GraphQL: a span per
// operation, named "<type> <name>" (graphql.operation.type and .name;
// status Error when the answer carries errors, with their codes in
// graphql.error.codes), and below it a span per resolver — a field computed
// by a resolver function, not a struct field or method, and not
// introspection. Use it first, so that its span covers the other
// extensions. Off (no SetupTracing), it only calls through.
//
// Error messages are not recorded: they may hold personal data. The log
// has them, under the request ID and the trace ID.
func GraphQLTracing(opts ...Option) graphql.HandlerExtension {
	t, _, on := tracer(opts)
	return graphqlTracing{tracer: t, on: on}
}

type graphqlTracing struct {
	tracer trace.Tracer
	on     bool
}

var (
	_ graphql.OperationInterceptor = graphqlTracing{}
	_ graphql.FieldInterceptor     = graphqlTracing{}
)

func (graphqlTracing) ExtensionName() string                   { return "OpenTelemetryTracing" }
func (graphqlTracing) Validate(graphql.ExecutableSchema) error { return nil }

func (g graphqlTracing) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if !g.on {
		return next(ctx)
	}
	name, typ := operationOf(ctx)
	if len(name) > maxOperationNameLen {
		name = name[:maxOperationNameLen]
	}
	spanName := typ
	if name != "" {
		spanName += " " + name
	}
	attrs := []attribute.KeyValue{attribute.String("graphql.operation.type", typ)}
	if name != "" {
		attrs = append(attrs, attribute.String("graphql.operation.name", name))
	}
	ctx, span := g.tracer.Start(ctx, spanName, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	if !span.IsRecording() {
		return next(ctx)
	}
	subscription := typ == "subscription"
	var (
		mu    sync.Mutex
		codes []string
		once  sync.Once
	)
	end := func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			if len(codes) > 0 {
				span.SetAttributes(attribute.StringSlice("graphql.error.codes", codes))
				span.SetStatus(errorStatus, codes[0])
			}
			span.End()
		})
	}
	stop := context.AfterFunc(ctx, end)
	handler := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := handler(ctx)
		if resp != nil && len(resp.Errors) > 0 {
			mu.Lock()
			for _, e := range resp.Errors {
				code, _ := e.Extensions["code"].(string)
				if code == "" {
					code = apperr.CodeInternal
				}
				if len(codes) < 10 && !contains(codes, code) {
					codes = append(codes, code)
				}
			}
			mu.Unlock()
		}
		if resp == nil || (!subscription && (resp.HasNext == nil || !*resp.HasNext)) {
			stop()
			end()
		}
		return resp
	}
}

const errorStatus = codes.Error

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (g graphqlTracing) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	if !g.on {
		return next(ctx)
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver || strings.HasPrefix(fc.Field.Name, "__") || !trace.SpanFromContext(ctx).IsRecording() {
		return next(ctx)
	}
	ctx, span := g.tracer.Start(ctx, fc.Object+"."+fc.Field.Name, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("graphql.field.parent", fc.Object),
			attribute.String("graphql.field.name", fc.Field.Name),
			attribute.String("graphql.field.path", fc.Path().String()),
		))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		// The code the client sees is decided later (the error
		// presenter); here only an apperr's own code is known.
		desc := "resolver error"
		if e, ok := apperr.AsError(err); ok {
			desc = e.Code
		}
		span.SetAttributes(attribute.String("error.type", errorType(err)))
		span.SetStatus(codes.Error, desc)
	}
	return res, err
}
