package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// scope names the instrumentation in the spans it makes.
const scope = "github.com/clinicemr/usermanager/internal/telemetry"

// defaultServiceName is service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES says otherwise.
const defaultServiceName = "usermanager"

// tracingOn is set by SetupTracing once it has installed a provider.
var tracingOn atomic.Bool

// TracingEnabled reports whether SetupTracing turned tracing on.
func TracingEnabled() bool { return tracingOn.Load() }

// SetupTracing configures tracing from the standard OTEL_* environment
// variables and returns the function that flushes and stops it.
//
// Tracing is off (and shutdown does nothing) unless OTEL_TRACES_EXPORTER
// names otlp and/or console, or is unset while OTEL_EXPORTER_OTLP_ENDPOINT
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off. OTLP goes over http/protobuf unless
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL is grpc;
// the exporters read the other OTEL_EXPORTER_OTLP_* variables (endpoint,
// headers, TLS, timeout) themselves, the SDK reads OTEL_TRACES_SAMPLER(_ARG)
// and OTEL_BSP_*, and the resource OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES (service.name defaults to "usermanager").
//
// On, it sets the global TracerProvider and the W3C trace context and
// baggage propagator. Call it before building the handlers and the
// database wrapper (Tracing, GraphQLTracing, TraceDriver), which are
// no-ops when tracing is off.
func SetupTracing(ctx context.Context) (shutdown func(context.Context) error, err error) {
	off := func(context.Context) error { return nil }
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return off, nil
	}
	names, err := tracesExporters()
	if err != nil || len(names) == 0 {
		return off, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", defaultServiceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // last: the environment overrides the default name
	)
	if err != nil {
		return off, fmt.Errorf("tracing: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	var exporters []sdktrace.SpanExporter
	for _, name := range names {
		exp, err := newExporter(ctx, name)
		if err != nil {
			for _, e := range exporters {
				_ = e.Shutdown(ctx)
			}
			return off, err
		}
		exporters = append(exporters, exp)
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator())
	tracingOn.Store(true)
	return tp.Shutdown, nil
}

// tracesExporters are the exporters the environment asks for.
func tracesExporters() ([]string, error) {
	v := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))
	if v == "" {
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
			return []string{"otlp"}, nil
		}
		return nil, nil
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		switch n = strings.ToLower(strings.TrimSpace(n)); n {
		case "none":
			return nil, nil
		case "otlp", "console":
			names = append(names, n)
		default:
			return nil, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER=%q is not supported: use otlp, console or none", n)
		}
	}
	return names, nil
}

func newExporter(ctx context.Context, name string) (sdktrace.SpanExporter, error) {
	if name == "console" {
		return stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
	}
	protocol := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if protocol == "" {
		protocol = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch protocol {
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	case "grpc":
		return otlptracegrpc.New(ctx)
	}
	return nil, fmt.Errorf("tracing: OTLP protocol %q is not supported: use http/protobuf or grpc", protocol)
}

func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Option configures the tracing middleware and wrapper.
type Option func(*options)

type options struct{ tp trace.TracerProvider }

// WithTracerProvider traces with tp instead of the global provider (and
// whether or not SetupTracing turned tracing on): for tests.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tp = tp }
}

// tracer is the tracer to use, and whether tracing is on at all.
func tracer(opts []Option) (trace.Tracer, trace.TracerProvider, bool) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.tp != nil {
		return o.tp.Tracer(scope), o.tp, true
	}
	tp := otel.GetTracerProvider()
	return tp.Tracer(scope), tp, tracingOn.Load()
}

// Tracing starts a server span for each HTTP request, continuing the trace
// of its traceparent header (W3C trace context), so that the request's
// context carries the span. It returns next itself when tracing is off.
// Put it outside the access log, so that the log can print TraceID.
func Tracing(next http.Handler, opts ...Option) http.Handler {
	_, tp, on := tracer(opts)
	if !on {
		return next
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route := routeTemplate(r.URL.Path); route != "" {
			trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.route", route))
		}
		next.ServeHTTP(w, r)
	})
	return otelhttp.NewHandler(inner, "http",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if route := routeTemplate(r.URL.Path); route != "" {
				return r.Method + " " + route
			}
			return r.Method
		}),
	)
}

// TraceID is the hex trace ID of the span in ctx, "" when there is none.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// errorType is the error.type attribute of err: its Go type, never its
// message (which may hold personal data or SQL values).
func errorType(err error) string {
	for {
		t := fmt.Sprintf("%T", err)
		u := errors.Unwrap(err)
		if u == nil || t != "*fmt.wrapError" {
			return t
		}
		err = u
	}
}
