// Package txn runs work in a database transaction.
package txn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lib/pq"

	"github.com/clinicemr/usermanager/ent"
)

// attempts is how many times WithTx runs a transaction that PostgreSQL
// aborted to break a deadlock or a serialization conflict.
const attempts = 3

// WithTx runs fn in a transaction, committing if it returns nil and rolling
// back otherwise (also on panic). fn's error is returned unchanged, so an
// apperr.List returned by fn rolls back and still reaches the caller.
//
// When PostgreSQL aborts the transaction to break a deadlock (two
// transactions waiting for rows the other changed, such as two users whose
// types change in opposite directions at one clinic: each takes its old
// class's license count, then wants the other's), fn runs again in a new
// transaction, so the loser of the race succeeds too instead of failing
// with an internal error. fn must therefore only write through tx (as every
// service does: mail and events go through tx too).
func WithTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) (err error) {
	for attempt := 1; ; attempt++ {
		err = withTx(ctx, client, fn)
		if attempt == attempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
}

// retryable reports whether PostgreSQL aborted a transaction that would
// succeed if run again.
func retryable(err error) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	switch pqErr.Code {
	case "40P01", // deadlock_detected
		"40001", // serialization_failure
		"26000": // invalid_sql_statement_name: a statement prepared on the connection is gone (db.ReusePlan)
		return true
	case "0A000": // feature_not_supported, when a prepared statement's table changed (db.ReusePlan)
		return strings.Contains(pqErr.Message, "cached plan must not change result type")
	}
	return false
}

func withTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) (err error) {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			_ = tx.Rollback()
			panic(v)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return err
	}
	return tx.Commit()
}
