package apitest_test

import (
	"fmt"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// TestSearchCountsCommonFragmentsFromASample: on PostgreSQL, once a name
// fragment has been found to match more than 1,000 users, its next searches
// prove that from a sample of the trigram index; a sample that comes short
// proves nothing, and the matches are then read exactly. The counts are the
// same on both databases either way (issue #16).
func TestSearchCountsCommonFragmentsFromASample(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		// "mar" and "art" are each in 6,200 last names: a sample keeps
		// 2,500 of the entries of "mar" alone, and about 80% of each
		// trigram's entries for "mart" (PostgreSQL samples a pattern's
		// trigrams only when each has more than 2,500 entries per trigram
		// of the pattern). That is about 780 of the 1,200 Martens.
		searchSeedLastNames(t, env, map[string]int{"Marco": 5000, "Bart": 5000, "Marten": 1200})
		c := env.LoginDemo(demo.AdminUsername)
		const query = `query($name: String, $statuses: [UserStatus!]) {
  users(first: 5, filter: {name: $name, statuses: $statuses}, orderBy: {field: LAST_NAME, direction: ASC}) {
    totalCount
    totalCountIsExact
    edges { node { lastName } }
  }
}`
		// search returns the count and whether it was read from a sample.
		statements := map[string][]int{} // by fragment, of each search
		search := func(name string, statuses ...string) (count int, exact, sampled bool) {
			t.Helper()
			var out struct {
				Users struct {
					TotalCount        int
					TotalCountIsExact bool
					Edges             []struct{ Node struct{ LastName string } }
				}
			}
			vars := map[string]any{"name": name}
			if statuses != nil {
				vars["statuses"] = statuses
			}
			stop := env.RecordStatements()
			c.MustDo(query, vars, &out)
			sent := stop()
			statements[name] = append(statements[name], len(sent))
			for _, s := range sent {
				sampled = sampled || strings.Contains(s, "gin_fuzzy_search_limit")
			}
			for _, e := range out.Users.Edges {
				if !strings.Contains(strings.ToLower(e.Node.LastName), name) {
					t.Errorf("searching %q found %q", name, e.Node.LastName)
				}
			}
			return out.Users.TotalCount, out.Users.TotalCountIsExact, sampled
		}
		pg := env.Dialect == dialect.Postgres

		// The first search reads every match (up to 1,001); the next ones
		// read a sample, which holds more than 1,000.
		for i, wantSampled := range []bool{false, pg, pg} {
			if n, exact, sampled := search("mar"); n != 1000 || exact || sampled != wantSampled {
				t.Errorf("searching mar, time %d: totalCount %d (exact %v, from a sample %v), want 1000 (not exact, from a sample %v)",
					i+1, n, exact, sampled, wantSampled)
			}
		}
		// Sampled or not, a search sends at most 4 statements (a background
		// job may add one to some).
		if fewest := min(statements["mar"][1], statements["mar"][2]); fewest > 4 {
			t.Errorf("searching mar from a sample sends %d SQL statements, want at most 4", fewest)
		}
		// A sample of "mart" comes short: the matches are read again,
		// exactly, and the next searches read them exactly at once.
		for i, wantSampled := range []bool{false, pg, false} {
			if n, exact, sampled := search("mart"); n != 1000 || exact || sampled != wantSampled {
				t.Errorf("searching mart, time %d: totalCount %d (exact %v, from a sample %v), want 1000 (not exact, from a sample %v)",
					i+1, n, exact, sampled, wantSampled)
			}
		}
		// A fragment found common, then filtered to a few: never sampled,
		// and counted exactly.
		if n, exact, sampled := search("mar", "INACTIVE"); n != 0 || !exact || sampled {
			t.Errorf("searching inactive mar: totalCount %d (exact %v, from a sample %v), want 0 (exact, not from a sample)", n, exact, sampled)
		}
	})
}

// searchSeedLastNames adds, for each last name, that many Active Clerical
// users of Sunrise Downtown directly through ent ("Marco" -> marco_0001..).
func searchSeedLastNames(t *testing.T, env *apitest.Env, counts map[string]int) {
	t.Helper()
	ctx, newUser := searchDowntownUsers(t, env)
	const batch = 1000
	for last, n := range counts {
		for from := 0; from < n; from += batch {
			builders := make([]*ent.UserCreate, min(batch, n-from))
			for i := range builders {
				builders[i] = newUser(fmt.Sprintf("%s_%04d", strings.ToLower(last), from+i+1), last, user.StatusACTIVE)
			}
			env.DB.Client.User.CreateBulk(builders...).ExecX(ctx)
		}
	}
	if env.Dialect == dialect.Postgres {
		// As after a bulk load (usermanager seed) and autovacuum: the new
		// users' trigrams move from the index's pending list, which is
		// read in full, to its entries, which a sample samples.
		if _, err := env.DB.SQL.Exec("VACUUM ANALYZE users"); err != nil {
			t.Fatal(err)
		}
	}
}
