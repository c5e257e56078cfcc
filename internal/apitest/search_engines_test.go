package apitest_test

// The user search finds the same users on SQLite (the FTS5 trigram index,
// db.SQLiteSearchTable) as on PostgreSQL (LIKE on pg_trgm-indexed
// columns): the same practice is loaded on both, the same searches run
// through GraphQL, and the answers are compared with each other and with
// the fragments. Renames and email changes are searched too, to show the
// SQLite index follows every write.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/seed"
)

// searchEngineStaff is the size of the practice: its email domain, and
// the name fragment "son" (about a tenth of the seeded names), match more
// users than directory.commonMatches (500), so the plans for common
// fragments are taken too, and more than the count's limit (1,000).
const searchEngineStaff = 6_000

const (
	searchEngineAdmin    = "engines.admin"
	searchEnginePassword = "Engines-Compare-Vq7!Lx2#Rd"
)

// searchEngineNames are profiles whose names fold (accents, apostrophes,
// hyphens, case) before they are searched.
var searchEngineNames = []struct{ username, first, last string }{
	{"jose.nunez", "José", "Núñez"},
	{"sean.obrien", "Seán", "O'Brien"},
	{"anne.smith.jones", "Anne-Marie", "Smith-Jones"},
	{"zoe.mueller", "Zoë", "Müller"},
	{"dara.ni", "Dara", "Ní Bhriain"},
}

// searchEngineCases are the filters compared: rare and common name
// fragments, fragments of one and two characters (no trigram), punctuation,
// accents, full names across the space, usernames and emails, and
// fragments no one matches.
var searchEngineCases = []map[string]any{
	{"name": "yela"}, {"name": "Quig"}, {"name": "ann"}, {"name": "son"}, {"name": "mar"},
	{"name": "an"}, {"name": "z"}, {"name": "xqz"}, {"name": "  SON  "},
	{"name": "jose"}, {"name": "núñez"}, {"name": "nunez"}, {"name": "obrien"}, {"name": "O'Brien"},
	{"name": "o'bri"}, {"name": "smith-jones"}, {"name": "smith jones"}, {"name": "anne marie"},
	{"name": "zoe"}, {"name": "müll"}, {"name": "ni bh"}, {"name": "james smith"}, {"name": "%"},
	{"name": "_a"}, {"name": `"`}, {"name": `ann"`},
	{"username": "jose."}, {"username": "smith1"}, {"username": ".ad"}, {"username": "%"},
	{"email": "enginestherapy"}, {"email": "@engines"}, {"email": "mary.smith"}, {"email": "_"},
	{"name": "ann", "username": "ann"}, {"name": "son", "email": "1"},
	{"name": "mar", "statuses": []string{"INACTIVE"}},
}

type searchEngineAnswer struct {
	total int
	exact bool
	// users are the usernames of the first page, sorted.
	users []string
}

const searchEngineQuery = `query($filter: UserSearch) {
  users(first: 100, filter: $filter, orderBy: {field: LAST_NAME, direction: ASC}) {
    totalCount
    totalCountIsExact
    edges { node { username email firstName lastName fullName } }
  }
}`

func TestSearchSameOnBothDatabases(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	answers := map[string][]searchEngineAnswer{}
	// Runs once both databases' subtests (in parallel) are done.
	t.Cleanup(func() {
		sqlite, postgres := answers[apitest.Dialects[0]], answers[apitest.Dialects[1]]
		if sqlite == nil || postgres == nil {
			return // one was skipped or failed, and says why
		}
		for i, c := range searchEngineCases {
			if s, p := sqlite[i], postgres[i]; s.total != p.total || s.exact != p.exact || !slices.Equal(s.users, p.users) {
				t.Errorf("filter %v: SQLite found %d %v, PostgreSQL %d %v", c, s.total, s.users, p.total, p.users)
			}
		}
	})
	for _, d := range apitest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			env := apitest.New(t, d, apitest.Options{NoDemo: true})
			got := searchEngineRun(t, env)
			mu.Lock()
			answers[d] = got
			mu.Unlock()
		})
	}
}

// searchEngineRun loads the practice, renames a few users, and answers
// every case.
func searchEngineRun(t *testing.T, env *apitest.Env) []searchEngineAnswer {
	t.Helper()
	_, err := seed.Load(context.Background(), env.App, seed.Options{
		Users: searchEngineStaff, Clinics: 3, Organization: "Engines Therapy",
		AdminUsername: searchEngineAdmin, AdminPassword: searchEnginePassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	admin := env.Login(searchEngineAdmin, searchEnginePassword)
	clinics := searchClinicIDs(t, admin)
	var clinicID string
	for _, id := range clinics {
		clinicID = id
		break
	}
	for _, n := range searchEngineNames {
		res := admin.Do(`mutation($input: CreateUserInput!) { createUser(input: $input) { userErrors { field message } } }`,
			map[string]any{"input": map[string]any{
				"username": n.username, "email": n.username + "@enginestherapy.example", "password": "Engines-Us3r-Zq8#Kw4!Tn",
				"firstName": n.first, "lastName": n.last, "userType": "CLERICAL",
				"homeClinicId": clinicID, "clinicIds": []string{clinicID}, "permissions": []string{"VIEW_PATIENTS"},
			}})
		if res.Code() != "" || strings.Contains(string(res.Data), `"field"`) {
			t.Fatalf("creating %s: %s %v", n.username, res.Data, res.Errors)
		}
	}
	// Writes after the bulk load: the SQLite index must follow them. A
	// renamed user keeps being found by the old name (R14's previous
	// names); an email change is found by the new address only.
	renamed := searchEngineUpdate(t, admin, "mary.", map[string]any{"lastName": "Oyelade"})
	searchEngineUpdate(t, admin, "jose.nunez", map[string]any{"email": "pepe.nunez@enginestherapy.example"})

	out := make([]searchEngineAnswer, len(searchEngineCases))
	for i, filter := range searchEngineCases {
		var r struct {
			Users struct {
				TotalCount        int
				TotalCountIsExact bool
				Edges             []struct{ Node searchUserNode }
			}
		}
		admin.MustDo(searchEngineQuery, map[string]any{"filter": filter}, &r)
		a := searchEngineAnswer{total: r.Users.TotalCount, exact: r.Users.TotalCountIsExact}
		// The count is exact up to directory.CountLimit matches, and says
		// so; past it, it is the limit and not exact.
		if a.total > 1000 || a.total < 1000 && !a.exact {
			t.Errorf("filter %v: totalCount %d, exact %v", filter, a.total, a.exact)
		}
		for _, e := range r.Users.Edges {
			a.users = append(a.users, e.Node.Username)
		}
		slices.Sort(a.users)
		if want := min(100, a.total); len(a.users) != want {
			t.Errorf("filter %v: %d users on the first page of %d", filter, len(a.users), a.total)
		}
		out[i] = a
	}
	byFilter := func(f map[string]any) searchEngineAnswer {
		for i, c := range searchEngineCases {
			if fmt.Sprint(c) == fmt.Sprint(f) {
				return out[i]
			}
		}
		t.Fatalf("no case %v", f)
		return searchEngineAnswer{}
	}
	// Each database on its own: what the fragments must find.
	for _, c := range []struct {
		filter map[string]any
		want   []string
	}{
		{map[string]any{"name": "nunez"}, []string{"jose.nunez"}},
		{map[string]any{"name": "núñez"}, []string{"jose.nunez"}},
		{map[string]any{"name": "o'bri"}, []string{"sean.obrien"}},
		{map[string]any{"name": "smith jones"}, []string{"anne.smith.jones"}},
		{map[string]any{"name": "müll"}, []string{"zoe.mueller"}},
		{map[string]any{"name": "ni bh"}, []string{"dara.ni"}},
		{map[string]any{"name": "xqz"}, nil},
	} {
		if got := byFilter(c.filter); !slices.Equal(got.users, c.want) {
			t.Errorf("%s: filter %v found %v, want %v", env.Dialect, c.filter, got.users, c.want)
		}
	}
	// Every one of the practice's users matches its email domain: more
	// than the count's limit.
	if got := byFilter(map[string]any{"email": "enginestherapy"}); got.total != 1000 || got.exact {
		t.Errorf("%s: the practice's email domain (%d users) counts %d, exact %v; want 1000, not exact", env.Dialect,
			searchEngineStaff+1+len(searchEngineNames), got.total, got.exact)
	}
	if got := byFilter(map[string]any{"name": "yela"}); !slices.Contains(got.users, renamed) {
		t.Errorf("%s: the renamed %s (Oyelade) is not found by \"yela\": %v", env.Dialect, renamed, got.users)
	}
	if got := byFilter(map[string]any{"email": "@engines"}); slices.Contains(got.users, "jose.nunez") {
		t.Errorf("%s: jose.nunez is still found by their old email", env.Dialect)
	}
	if got := byFilter(map[string]any{"username": "jose."}); !slices.Contains(got.users, "jose.nunez") {
		t.Errorf("%s: jose.nunez is not found by username after an email change", env.Dialect)
	}
	if got := byFilter(map[string]any{"name": "james smith"}); got.total == 0 {
		t.Errorf("%s: \"james smith\" finds no one", env.Dialect)
	}
	return out
}

// searchEngineUpdate changes the first user whose username starts with
// prefix, and returns their username.
func searchEngineUpdate(t *testing.T, c *apitest.Client, prefix string, changes map[string]any) string {
	t.Helper()
	var found struct {
		Users struct {
			Edges []struct{ Node struct{ ID, Username string } }
		}
	}
	c.MustDo(`query($u: String) { users(first: 5, filter: {username: $u}) { edges { node { id username } } } }`,
		map[string]any{"u": prefix}, &found)
	id, username := "", ""
	for _, e := range found.Users.Edges {
		if strings.HasPrefix(e.Node.Username, prefix) && id == "" {
			id, username = e.Node.ID, e.Node.Username
		}
	}
	if id == "" {
		t.Fatalf("no user's username starts with %s", prefix)
	}
	input := map[string]any{"id": id}
	for k, v := range changes {
		input[k] = v
	}
	res := c.Do(`mutation($input: UpdateUserInput!) { updateUser(input: $input) { userErrors { field message } } }`,
		map[string]any{"input": input})
	if res.Code() != "" || strings.Contains(string(res.Data), `"field"`) {
		t.Fatalf("updating %s: %s %v", username, res.Data, res.Errors)
	}
	return username
}
