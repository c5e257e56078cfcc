package apitest_test

import (
	"context"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/internal/apitest"
)

// R30 on a loaded server: the write of an active account's reset link, held
// up (here by a lock), does not hold up the answer, which would tell that
// the account exists; the link follows the answer.
func TestResetRequestAnswersBeforeASlowWrite(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		// On SQLite a write transaction takes the database's write lock at
		// its start (and the link's write waits on busy_timeout); on
		// PostgreSQL reads go on and writes of links wait.
		lock, err := env.DB.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Rollback()
		hold := `DELETE FROM password_resets WHERE id = -1`
		if env.DB.Dialect == dialect.Postgres {
			hold = `LOCK TABLE password_resets IN EXCLUSIVE MODE`
		}
		if _, err := lock.ExecContext(ctx, hold); err != nil {
			t.Fatal(err)
		}
		type answer struct {
			res  *apitest.Response
			took time.Duration
		}
		answered := make(chan answer, 1)
		go func() {
			start := time.Now()
			res := env.Anonymous().Do(secRequestResetMutation, map[string]any{"l": "ot.casey"})
			answered <- answer{res, time.Since(start)}
		}()
		select {
		case a := <-answered:
			if len(a.res.Errors) > 0 {
				t.Fatalf("requestPasswordReset: %s", a.res.Body)
			}
			if a.took > 2*time.Second {
				t.Errorf("answered in %v, floor 300ms", a.took)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("requestPasswordReset waited for the link's write")
		}
		if err := lock.Rollback(); err != nil {
			t.Fatal(err)
		}
		secWaitToken(t, env, "ot.casey@sunrise-therapy.example", map[string]bool{})
	})
}
