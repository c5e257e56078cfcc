package telemetry

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/db"
)

func newRecorder() (*tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	exp := tracetest.NewInMemoryExporter()
	return exp, sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
}

func spanNamed(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	t.Fatalf("no span %q among %q", name, names)
	return tracetest.SpanStub{}
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

const (
	incomingTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingParent = "00f067aa0ba902b7"
)

func TestTracingContinuesTheIncomingTrace(t *testing.T) {
	exp, tp := newRecorder()
	s := newTestSchema()
	h := Tracing(s.newServer(GraphQLTracing(WithTracerProvider(tp))), WithTracerProvider(tp))
	post(t, h, "query Hello { hello fail __typename }", http.Header{
		"Traceparent": {"00-" + incomingTrace + "-" + incomingParent + "-01"},
	})

	spans := exp.GetSpans()
	server := spanNamed(t, spans, "POST /graphql")
	op := spanNamed(t, spans, "query Hello")
	hello := spanNamed(t, spans, "Query.hello")
	fail := spanNamed(t, spans, "Query.fail")
	for _, sp := range []tracetest.SpanStub{server, op, hello, fail} {
		if got := sp.SpanContext.TraceID().String(); got != incomingTrace {
			t.Errorf("%s: trace %s, want the incoming %s", sp.Name, got, incomingTrace)
		}
	}
	if !server.Parent.IsRemote() || server.Parent.SpanID().String() != incomingParent {
		t.Errorf("server span's parent = %v, want the remote %s", server.Parent.SpanID(), incomingParent)
	}
	if attr(server, "http.route") != "/graphql" {
		t.Errorf("http.route = %q", attr(server, "http.route"))
	}
	if op.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Error("the operation span is not a child of the request's")
	}
	for _, r := range []tracetest.SpanStub{hello, fail} {
		if r.Parent.SpanID() != op.SpanContext.SpanID() {
			t.Errorf("%s is not a child of the operation span", r.Name)
		}
	}
	if attr(op, "graphql.operation.name") != "Hello" || attr(op, "graphql.operation.type") != "query" {
		t.Errorf("operation attributes: %v", op.Attributes)
	}
	if op.Status.Code != codes.Error || op.Status.Description != "BAD_USER_INPUT" {
		t.Errorf("operation status = %+v, want Error BAD_USER_INPUT", op.Status)
	}
	if fail.Status.Code != codes.Error || hello.Status.Code == codes.Error {
		t.Errorf("resolver statuses: hello %+v, fail %+v", hello.Status, fail.Status)
	}
	for _, sp := range spans {
		if strings.Contains(sp.Name, "__") {
			t.Errorf("introspection traced: %s", sp.Name)
		}
		if strings.Contains(sp.Status.Description, "bad input") {
			t.Errorf("%s records an error message", sp.Name)
		}
	}
	if s.traceID != incomingTrace {
		t.Errorf("TraceID in a resolver = %q, want %q", s.traceID, incomingTrace)
	}
}

func TestTraceDriverRecordsStatementsWithoutValues(t *testing.T) {
	exp, tp := newRecorder()
	sqlDB, err := db.OpenSQLite(filepath.Join(t.TempDir(), "trace.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	drv := TraceDriver(sqlDB.Driver, DBSystem(dialect.SQLite), WithTracerProvider(tp))

	// Outside a trace: no span.
	if err := drv.Exec(t.Context(), "CREATE TABLE t (a TEXT)", []any{}, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans without a traced request", n)
	}

	ctx, parent := tp.Tracer("test").Start(t.Context(), "request")
	if err := drv.Exec(ctx, "INSERT INTO t (a) VALUES (?)", []any{"secret-value"}, nil); err != nil {
		t.Fatal(err)
	}
	var rows entsql.Rows
	if err := drv.Query(ctx, "SELECT a FROM t WHERE a = ?", []any{"secret-value"}, &rows); err != nil {
		t.Fatal(err)
	}
	rows.Close()

	// In a transaction, through ent: ent's SQLTx still finds the *sql.Tx.
	client := ent.NewClient(ent.Driver(drv))
	tx, err := client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.SQLTx(); err != nil {
		t.Errorf("SQLTx through the traced driver: %v", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE t SET a = ? WHERE a = ?", "other-secret", "secret-value"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.QueryContext(ctx, "SELECT nope FROM t"); err == nil {
		t.Fatal("a bad statement succeeded")
	}
	parent.End()

	spans := exp.GetSpans()
	var got []string
	for _, sp := range spans {
		if sp.Name == "request" {
			continue
		}
		if sp.SpanKind != trace.SpanKindClient || sp.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s: kind %v, parent %v", sp.Name, sp.SpanKind, sp.Parent.SpanID())
		}
		if attr(sp, "db.system.name") != "sqlite" || attr(sp, "db.system") != "sqlite" {
			t.Errorf("%s: db.system %v", sp.Name, sp.Attributes)
		}
		for _, a := range sp.Attributes {
			if strings.Contains(a.Value.Emit(), "secret") {
				t.Errorf("%s: attribute %s holds an argument value: %s", sp.Name, a.Key, a.Value.Emit())
			}
		}
		got = append(got, sp.Name+": "+attr(sp, "db.query.text"))
	}
	want := []string{
		"INSERT: INSERT INTO t (a) VALUES (?)",
		"SELECT: SELECT a FROM t WHERE a = ?",
		"UPDATE: UPDATE t SET a = ? WHERE a = ?",
		"SELECT: SELECT nope FROM t",
	}
	if !slices.Equal(got, want) {
		t.Errorf("db spans:\n%q\nwant\n%q", got, want)
	}
	if last := spans[len(spans)-2]; last.Status.Code != codes.Error || attr(last, "error.type") == "" {
		t.Errorf("failed statement: status %+v, error.type %q", last.Status, attr(last, "error.type"))
	}
}

// handlerFunc is comparable, unlike http.HandlerFunc.
type handlerFunc struct{ http.HandlerFunc }

func TestTracingOffInstallsNothing(t *testing.T) {
	if TracingEnabled() {
		t.Skip("tracing was turned on by the environment")
	}
	next := &handlerFunc{}
	if h := Tracing(next); h != http.Handler(next) {
		t.Error("Tracing wrapped the handler with tracing off")
	}
	var drv dialect.Driver = entsql.OpenDB(dialect.SQLite, nil)
	if TraceDriver(drv, "sqlite") != drv {
		t.Error("TraceDriver wrapped the driver with tracing off")
	}
	if TraceID(context.Background()) != "" {
		t.Error("TraceID without a span")
	}
}

func TestSetupTracingFromEnvironment(t *testing.T) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		t.Setenv(k, "")
	}
	t.Cleanup(func() {
		tracingOn.Store(false)
		otel.SetTracerProvider(noop.NewTracerProvider())
	})
	setup := func() error {
		t.Helper()
		shutdown, err := SetupTracing(t.Context())
		if shutdown == nil {
			t.Fatal("nil shutdown")
		}
		if err == nil {
			err = shutdown(t.Context())
		}
		return err
	}

	// Off by default, and with an endpoint but the SDK disabled.
	if err := setup(); err != nil || TracingEnabled() {
		t.Fatalf("default: %v, enabled %v", err, TracingEnabled())
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_SDK_DISABLED", "true")
	if err := setup(); err != nil || TracingEnabled() {
		t.Fatalf("disabled: %v, enabled %v", err, TracingEnabled())
	}
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	if err := setup(); err != nil || TracingEnabled() {
		t.Fatalf("none: %v, enabled %v", err, TracingEnabled())
	}

	// Refused settings.
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	if err := setup(); err == nil {
		t.Error("an unsupported exporter was accepted")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	if err := setup(); err == nil {
		t.Error("an unsupported protocol was accepted")
	}
	if TracingEnabled() {
		t.Fatal("a refused setting turned tracing on")
	}

	// On: the console exporter (nothing is sent anywhere).
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_SERVICE_NAME", "usermanager-test")
	if err := setup(); err != nil || !TracingEnabled() {
		t.Fatalf("console: %v, enabled %v", err, TracingEnabled())
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
		t.Errorf("global provider is a %T", otel.GetTracerProvider())
	}
	if fields := otel.GetTextMapPropagator().Fields(); !slices.Contains(fields, "traceparent") || !slices.Contains(fields, "baggage") {
		t.Errorf("propagator fields %v", fields)
	}
}
