package apitest_test

// How many SQL statements authenticating a request costs (issue #16): every
// request with an access token re-reads its session and user (R25), so that
// read is paid on every request and must stay one statement.

import (
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// passwordStrength is answered without reading the database, so a signed-in
// request for it costs only its authentication.
const authStatementsNoReadQuery = `{ passwordStrength(password: "x") { acceptable } }`

// authStatements returns how many SQL statements c's request sends: the
// fewest of a few tries, so that a statement of background work (the job
// queue, live events) that happens to run at the same time is not counted.
func authStatements(env *apitest.Env, c *apitest.Client, query string, check func(*apitest.Response)) int64 {
	env.T.Helper()
	fewest := int64(-1)
	for range 3 {
		before := env.Statements()
		r := c.Do(query, nil)
		n := env.Statements() - before
		check(r)
		if fewest < 0 || n < fewest {
			fewest = n
		}
	}
	return fewest
}

func TestAuthenticationCostsOneStatement(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		noErrors := func(r *apitest.Response) {
			t.Helper()
			if len(r.Errors) > 0 {
				t.Fatalf("request failed: %s", r.Body)
			}
		}
		// The baseline: without a token, the request reads nothing.
		if n := authStatements(env, env.Anonymous(), authStatementsNoReadQuery, noErrors); n != 0 {
			t.Fatalf("an anonymous passwordStrength request sends %d SQL statements, want 0", n)
		}

		// An organization's administrator (every clinic, many permissions),
		// a therapist with one clinic, and Support (no organization).
		for _, username := range []string{demo.AdminUsername, "slp.riley", demo.SupportUsername} {
			c := env.LoginDemo(username)
			if n := authStatements(env, c, authStatementsNoReadQuery, noErrors); n != 1 {
				t.Errorf("%s: authenticating a request sends %d SQL statements, want 1", username, n)
			}
			// The one statement gave the right viewer.
			var out struct{ Viewer struct{ Username string } }
			c.MustDo(`{ viewer { username } }`, nil, &out)
			if out.Viewer.Username != username {
				t.Errorf("signed in as %s, the viewer is %q", username, out.Viewer.Username)
			}
		}

		// A refused token (its session ended) costs one statement too, and
		// is still refused.
		c := env.LoginDemo(demo.AdminUsername)
		c.MustDo(`mutation { logout { userErrors { code } } }`, nil, nil)
		refused := func(r *apitest.Response) {
			t.Helper()
			if r.Code() != "UNAUTHENTICATED" {
				t.Fatalf("the viewer of a signed-out session: %s, want UNAUTHENTICATED", r.Body)
			}
		}
		if n := authStatements(env, c, `{ viewer { id } }`, refused); n != 1 {
			t.Errorf("refusing a signed-out session's token sends %d SQL statements, want 1", n)
		}
	})
}
