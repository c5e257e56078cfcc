package apitest_test

import (
	"context"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
)

// R30 on a loaded server: the write of an active account's reset link, held
// up (here by a lock on its table), does not hold up the answer, which
// would tell that the account exists; the link follows the answer.
func TestResetRequestAnswersBeforeASlowWrite(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, "postgres", apitest.Options{})
	ctx := context.Background()
	lock, err := env.DB.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	// Reads go on; writes of links wait.
	if _, err := lock.ExecContext(ctx, `LOCK TABLE password_resets IN EXCLUSIVE MODE`); err != nil {
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
}
