package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// DBSystem is the db.system.name of an ent dialect: "sqlite" or
// "postgresql".
func DBSystem(dialectName string) string {
	switch dialectName {
	case dialect.SQLite:
		return "sqlite"
	case dialect.Postgres:
		return "postgresql"
	}
	return strings.ToLower(dialectName)
}

// TraceDriver wraps ent's driver d so that each statement run inside a
// traced request (a recording span in its context) gets a client span:
// db.system.name (and the older db.system) = system, db.operation.name
// (SELECT, INSERT...) and db.query.text, the SQL with its placeholders —
// never the argument values. Statements outside a recorded trace (the job
// queue's background work) are not traced. It returns d itself when
// tracing is off.
//
// Transactions keep their type (*entsql.Tx over a *sql.Tx), so that
// ent's Tx.SQLTx still finds the database/sql transaction. Session
// variables (entsql.WithVar) are not supported inside a traced transaction.
func TraceDriver(d dialect.Driver, system string, opts ...Option) dialect.Driver {
	t, _, on := tracer(opts)
	if !on {
		return d
	}
	return &tracedDriver{Driver: d, db: &dbTracer{tracer: t, system: system}}
}

type dbTracer struct {
	tracer trace.Tracer
	system string
}

// start begins a span for query when ctx is being traced; it returns a nil
// span otherwise.
func (t *dbTracer) start(ctx context.Context, query string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	op := operationName(query)
	name := op
	if name == "" {
		name = t.system
	}
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", t.system),
		attribute.String("db.system", t.system),
		attribute.String("db.query.text", query),
	}
	if op != "" {
		attrs = append(attrs, attribute.String("db.operation.name", op))
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

func (t *dbTracer) end(span trace.Span, err error) {
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		span.SetAttributes(attribute.String("error.type", errorType(err)))
		span.SetStatus(codes.Error, "statement failed")
	}
	span.End()
}

// operationName is the statement's first keyword, upper-cased ("" if it
// does not start with one).
func operationName(query string) string {
	query = strings.TrimLeft(query, " \t\r\n(")
	end := 0
	for end < len(query) && end < 16 {
		c := query[end]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			break
		}
		end++
	}
	return strings.ToUpper(query[:end])
}

type tracedDriver struct {
	dialect.Driver
	db *dbTracer
}

func (d *tracedDriver) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := d.db.start(ctx, query)
	err := d.Driver.Exec(ctx, query, args, v)
	if span != nil {
		d.db.end(span, err)
	}
	return err
}

func (d *tracedDriver) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := d.db.start(ctx, query)
	err := d.Driver.Query(ctx, query, args, v)
	if span != nil {
		d.db.end(span, err)
	}
	return err
}

// ExecContext serves ent's client.ExecContext when d supports it.
func (d *tracedDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ex, ok := d.Driver.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return nil, errors.New("Driver.ExecContext is not supported")
	}
	return tracedEQ{eq: execOnly{ex}, db: d.db}.ExecContext(ctx, query, args...)
}

// QueryContext serves ent's client.QueryContext when d supports it.
func (d *tracedDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, ok := d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		return nil, errors.New("Driver.QueryContext is not supported")
	}
	return tracedEQ{eq: queryOnly{q}, db: d.db}.QueryContext(ctx, query, args...)
}

func (d *tracedDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return d.db.wrapTx(tx), nil
}

// BeginTx serves ent's client.BeginTx when d supports it.
func (d *tracedDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	b, ok := d.Driver.(interface {
		BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error)
	})
	if !ok {
		return nil, errors.New("Driver.BeginTx is not supported")
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return d.db.wrapTx(tx), nil
}

// wrapTx traces the statements of tx. ent's own transactions
// (*entsql.Tx) stay *entsql.Tx over the same database/sql transaction.
func (t *dbTracer) wrapTx(tx dialect.Tx) dialect.Tx {
	if etx, ok := tx.(*entsql.Tx); ok {
		return &entsql.Tx{Conn: entsql.Conn{ExecQuerier: tracedEQ{eq: etx.ExecQuerier, db: t}}, Tx: etx.Tx}
	}
	return &tracedTx{Tx: tx, db: t}
}

// tracedEQ traces a database/sql-style ExecQuerier.
type tracedEQ struct {
	eq entsql.ExecQuerier
	db *dbTracer
}

func (e tracedEQ) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, span := e.db.start(ctx, query)
	res, err := e.eq.ExecContext(ctx, query, args...)
	if span != nil {
		e.db.end(span, err)
	}
	return res, err
}

func (e tracedEQ) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, span := e.db.start(ctx, query)
	rows, err := e.eq.QueryContext(ctx, query, args...)
	if span != nil {
		e.db.end(span, err)
	}
	return rows, err
}

type execOnly struct {
	ex interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}
}

func (e execOnly) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return e.ex.ExecContext(ctx, query, args...)
}

func (execOnly) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errors.New("unreachable")
}

type queryOnly struct {
	q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
}

func (queryOnly) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, errors.New("unreachable")
}

func (q queryOnly) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.q.QueryContext(ctx, query, args...)
}

// tracedTx traces a transaction of another kind than ent's own.
type tracedTx struct {
	dialect.Tx
	db *dbTracer
}

func (t *tracedTx) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := t.db.start(ctx, query)
	err := t.Tx.Exec(ctx, query, args, v)
	if span != nil {
		t.db.end(span, err)
	}
	return err
}

func (t *tracedTx) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := t.db.start(ctx, query)
	err := t.Tx.Query(ctx, query, args, v)
	if span != nil {
		t.db.end(span, err)
	}
	return err
}
