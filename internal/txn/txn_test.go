package txn_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/testdb"
	"github.com/clinicemr/usermanager/internal/txn"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// Two transactions that lock two rows in opposite orders deadlock;
// PostgreSQL aborts one, and WithTx runs it again, so both succeed.
func TestWithTxRunsADeadlockVictimAgain(t *testing.T) {
	t.Parallel()
	d, _ := testdb.New(t, dialect.Postgres, "migrated", nil)
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	var ids [2]int
	for i, name := range []string{"First Practice", "Second Practice"} {
		org, err := d.Client.Organization.Create().SetName(name).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = org.ID
	}
	var (
		runs     atomic.Int32
		bothHold sync.WaitGroup
		wg       sync.WaitGroup
		errs     [2]error
	)
	bothHold.Add(2)
	lock := func(tx *ent.Tx, id int) error {
		_, err := tx.ExecContext(ctx, `UPDATE organizations SET name = name WHERE id = $1`, id)
		return err
	}
	for i := range 2 {
		wg.Go(func() {
			first := true
			errs[i] = txn.WithTx(ctx, d.Client, func(tx *ent.Tx) error {
				runs.Add(1)
				if err := lock(tx, ids[i]); err != nil {
					return err
				}
				if first { // the first run waits until both hold their first row
					first = false
					bothHold.Done()
					bothHold.Wait()
				}
				return lock(tx, ids[1-i])
			})
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("a deadlocked transaction failed: %v, %v", errs[0], errs[1])
	}
	// Both, then the deadlock's victim again: 3. On a loaded machine the
	// victim's new run can take its first row back before the survivor,
	// woken by the abort, gets to it, and the two deadlock once more (one
	// more run); what must hold is that every deadlock was run again until
	// both committed.
	if n := runs.Load(); n < 3 {
		t.Errorf("%d runs, want at least 3: both, then the deadlock's victim again", n)
	}
}
