package apitest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/auth"
	"github.com/clinicemr/usermanager/internal/demo"
)

// An operation that outlives OPERATION_TIMEOUT is stopped with a clear
// error (code TIMEOUT), and a mutation stopped midway writes nothing.
func TestOperationTimeout(t *testing.T) {
	// Not parallel: it measures an operation timeout.
	apitest.ForEachDatabaseWith(t, apitest.Options{Serial: true}, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		jordan := imgUserID(t, admin, "pt.jordan")
		slow := apitest.New(t, env.Dialect, apitest.Options{OperationTimeout: time.Nanosecond})
		// Signing in through the API would time out too: take a token from
		// the service.
		session, err := slow.Auth.Login(context.Background(), auth.LoginInput{Login: demo.AdminUsername, Password: slow.Password})
		if err != nil || session.AccessToken == nil {
			t.Fatalf("login: %v %+v", err, session)
		}
		slowAdmin := slow.Anonymous()
		slowAdmin.Token = *session.AccessToken
		r := slowAdmin.Do(`{ users(first: 5) { totalCount edges { node { id } } } }`, nil)
		if r.Code() != "TIMEOUT" || !strings.Contains(r.Errors[0].Message, "longer than") || len(r.Errors) != 1 {
			t.Fatalf("a query past the time limit: %s", r.Body)
		}
		// Both databases were filled alike, so pt.jordan has the same ID.
		r = slowAdmin.Do(stSetStatus, map[string]any{"id": jordan, "s": "INACTIVE"})
		if r.Code() != "TIMEOUT" {
			t.Fatalf("a mutation past the time limit: %s", r.Body)
		}
		var status string
		if err := slow.DB.SQL.QueryRow(`SELECT status FROM users WHERE username = 'pt.jordan'`).Scan(&status); err != nil || status != "ACTIVE" {
			t.Fatalf("the stopped mutation wrote: status %q, %v", status, err)
		}
		// The normal server is unaffected.
		var out struct{ Users struct{ TotalCount int } }
		admin.MustDo(`{ users { totalCount } }`, nil, &out)
		if out.Users.TotalCount == 0 {
			t.Fatal("no users")
		}
	})
}
