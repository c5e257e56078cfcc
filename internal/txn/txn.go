// Package txn runs work in a database transaction.
package txn

import (
	"context"
	"errors"
	"fmt"

	"github.com/clinicemr/usermanager/ent"
)

// WithTx runs fn in a transaction, committing if it returns nil and rolling
// back otherwise (also on panic). fn's error is returned unchanged, so an
// apperr.List returned by fn rolls back and still reaches the caller.
func WithTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) (err error) {
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
