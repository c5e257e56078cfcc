package db

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/lib/pq"
)

// ReusePlan marks ctx so that a plain SELECT sent with it outside a
// transaction, and on PostgreSQL any statement sent with it in a
// transaction (see preparingEQ), is prepared once on each connection and
// then only executed.
//
// PostgreSQL plans a statement each time it is sent, and the statements
// every request starts with are expensive to plan and cheap to run: the
// token check (a session and its user, with their clinics and
// permissions) took 0.8-1.1 ms to plan and 0.1-0.3 ms to run at a million
// users, most of the database's work for a new live subscription. A
// prepared statement is planned for its first five runs on a connection and
// then, when the plan does not depend on the arguments, never again.
//
// Mark only statements whose best plan is the same for every argument:
// lookups by primary or unique key. A search's best plan depends on its
// fragment (see directory.fewMatches), and a plan made once for every
// fragment would be wrong for most.
func ReusePlan(ctx context.Context) context.Context {
	return context.WithValue(ctx, reusePlanKey{}, true)
}

type reusePlanKey struct{}

// maxPrepared bounds how many statements are kept prepared. Marked
// statements are written once in the code, so there are a handful; a
// statement past the bound is sent as any other.
const maxPrepared = 64

// preparing is a Driver that sends the SELECTs of contexts marked by
// ReusePlan as prepared statements of pool (where the driver sends plain
// SELECTs), and everything else to the driver.
type preparing struct {
	dialect.Driver
	pool *sql.DB
	// inTx: the driver's transactions run on pool (PostgreSQL's single
	// pool; SQLite writes through a pool of its own).
	inTx bool

	mu    sync.Mutex
	stmts map[string]*preparedStmt
}

// preparedStmt is a statement being prepared (ready open) or prepared.
type preparedStmt struct {
	ready chan struct{}
	stmt  *sql.Stmt // nil if it could not be prepared
}

func (d *preparing) Query(ctx context.Context, query string, args, v any) error {
	rows, ok := v.(*entsql.Rows)
	argv, ok2 := args.([]any)
	if !ok || !ok2 || ctx.Value(reusePlanKey{}) == nil || !isSelect(query) {
		return d.Driver.Query(ctx, query, args, v)
	}
	stmt := d.prepared(ctx, query)
	if stmt == nil {
		return d.Driver.Query(ctx, query, args, v)
	}
	r, err := stmt.QueryContext(ctx, argv...)
	if stale(err) {
		d.forgetAll()
		return d.Driver.Query(ctx, query, args, v)
	}
	if err != nil {
		return err
	}
	*rows = entsql.Rows{ColumnScanner: r}
	return nil
}

// prepared is query's statement, prepared on its first use; nil when it
// cannot be (yet): maxPrepared statements are kept already, it is being
// prepared and ctx ends first, or preparing it failed (the statement is
// then sent as any other, which reports why, and prepared again next time).
func (d *preparing) prepared(ctx context.Context, query string) *sql.Stmt {
	d.mu.Lock()
	p, ok := d.stmts[query]
	if !ok {
		p = d.reserve(query)
	}
	d.mu.Unlock()
	if p == nil {
		return nil
	}
	if ok {
		select {
		case <-p.ready:
			return p.stmt
		case <-ctx.Done():
			return nil
		}
	}
	// Prepared outside the lock: other statements go on meanwhile.
	return d.prepare(ctx, query, p)
}

// preparedForTx is query's statement if it is prepared already; otherwise
// it is prepared in the background, for the transactions that come after,
// and preparedForTx returns nil. A transaction holds its connection, and
// preparing takes another: were it waited for, every connection of the pool
// could be in a transaction waiting for one more.
func (d *preparing) preparedForTx(query string) *sql.Stmt {
	d.mu.Lock()
	p, ok := d.stmts[query]
	if !ok {
		if p = d.reserve(query); p != nil {
			go d.prepare(context.Background(), query, p)
		}
	}
	d.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-p.ready:
		return p.stmt
	default:
		return nil
	}
}

// reserve adds query's entry, to be prepared by the caller, or returns nil
// when maxPrepared statements are kept already. d.mu is held.
func (d *preparing) reserve(query string) *preparedStmt {
	if len(d.stmts) >= maxPrepared {
		return nil
	}
	if d.stmts == nil {
		d.stmts = map[string]*preparedStmt{}
	}
	p := &preparedStmt{ready: make(chan struct{})}
	d.stmts[query] = p
	return p
}

// prepare prepares query on the pool for its entry p, reserved by the
// caller; an entry that failed is dropped, to be tried again next time.
func (d *preparing) prepare(ctx context.Context, query string, p *preparedStmt) *sql.Stmt {
	stmt, err := d.pool.PrepareContext(ctx, query)
	d.mu.Lock()
	p.stmt = stmt
	if err != nil && d.stmts[query] == p {
		delete(d.stmts, query)
	}
	d.mu.Unlock()
	close(p.ready)
	return stmt
}

// forgetAll drops every prepared statement once one is found stale: a
// migration that changes a column makes every statement returning it stale
// at once, and a transaction run again for each in turn would run out of
// attempts (txn.WithTx). Each is prepared anew on its next use; one being
// prepared now is kept (it is prepared after the change).
func (d *preparing) forgetAll() {
	var dropped []*sql.Stmt
	d.mu.Lock()
	for query, p := range d.stmts {
		select {
		case <-p.ready:
			if p.stmt != nil {
				dropped = append(dropped, p.stmt)
			}
			delete(d.stmts, query)
		default:
		}
	}
	d.mu.Unlock()
	// database/sql closes each when the transactions using it end.
	for _, stmt := range dropped {
		_ = stmt.Close()
	}
}

// stale tells whether err says a prepared statement no longer fits the
// database: a column it returns changed type (a migration by another
// instance: "cached plan must not change result type"), or a connection
// pooler lost it. Sent again unprepared, the statement is planned anew.
func stale(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "0A000" || pqErr.Code == "26000")
}

// BeginTx forwards to the driver (ent's Client.BeginTx asks for it). When
// transactions run on pool (inTx), their statements sent with a context
// marked by ReusePlan are prepared too (preparingEQ).
func (d *preparing) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	b, ok := d.Driver.(interface {
		BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error)
	})
	if !ok {
		return nil, errors.New("Driver.BeginTx is not supported")
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil || !d.inTx {
		return tx, err
	}
	etx, ok := tx.(*entsql.Tx)
	if !ok {
		return tx, nil
	}
	stx, ok := etx.Tx.(*sql.Tx)
	if !ok {
		return tx, nil
	}
	return &entsql.Tx{Conn: entsql.Conn{ExecQuerier: preparingEQ{eq: etx.ExecQuerier, sqlTx: stx, d: d}}, Tx: etx.Tx}, nil
}

// Tx is BeginTx with the default options (ent's Client.Tx asks for it).
func (d *preparing) Tx(ctx context.Context) (dialect.Tx, error) {
	return d.BeginTx(ctx, nil)
}

// preparingEQ sends the statements of a transaction on the pool: one sent
// with a context marked by ReusePlan runs as the pool's prepared statement
// on the transaction's connection, where it is prepared once (database/sql
// keeps it per connection). An activation's writes are planned once per
// connection instead of each time (issue #16). It wraps the transaction's
// ExecQuerier, so that the transaction stays an *entsql.Tx over a *sql.Tx
// (ent.Tx.SQLTx, the job queue, writes in it).
type preparingEQ struct {
	eq    entsql.ExecQuerier
	sqlTx *sql.Tx
	d     *preparing
}

// stmt is query's prepared statement on the transaction's connection (a
// copy of the pool's, closed with the transaction), or nil when it is sent
// as is.
func (e preparingEQ) stmt(ctx context.Context, query string) *sql.Stmt {
	if ctx.Value(reusePlanKey{}) == nil {
		return nil
	}
	stmt := e.d.preparedForTx(query)
	if stmt == nil {
		return nil
	}
	return e.sqlTx.StmtContext(ctx, stmt)
}

func (e preparingEQ) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt := e.stmt(ctx, query)
	if stmt == nil {
		return e.eq.QueryContext(ctx, query, args...)
	}
	rows, err := stmt.QueryContext(ctx, args...)
	return rows, e.failed(err)
}

func (e preparingEQ) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt := e.stmt(ctx, query)
	if stmt == nil {
		return e.eq.ExecContext(ctx, query, args...)
	}
	res, err := stmt.ExecContext(ctx, args...)
	return res, e.failed(err)
}

// failed returns err. A stale statement (see stale) has aborted the
// transaction: the statements are forgotten, to be prepared anew when
// txn.WithTx runs the transaction again.
func (e preparingEQ) failed(err error) error {
	if stale(err) {
		e.d.forgetAll()
	}
	return err
}

// QueryContext and ExecContext serve ent's client.QueryContext and
// ExecContext (raw SQL), unprepared.
func (d *preparing) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, ok := d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		return nil, errors.New("Driver.QueryContext is not supported")
	}
	return q.QueryContext(ctx, query, args...)
}

func (d *preparing) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	e, ok := d.Driver.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return nil, errors.New("Driver.ExecContext is not supported")
	}
	return e.ExecContext(ctx, query, args...)
}

func (d *preparing) Close() error {
	d.mu.Lock()
	var errs []error
	for _, p := range d.stmts {
		select {
		case <-p.ready:
			if p.stmt != nil {
				errs = append(errs, p.stmt.Close())
			}
		default: // being prepared: closed with the pool
		}
	}
	d.stmts = nil
	d.mu.Unlock()
	return errors.Join(append(errs, d.Driver.Close())...)
}
