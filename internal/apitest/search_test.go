package apitest_test

// Tests of the user search (SPEC R17, with R1-R3 for who is found), through
// GraphQL over HTTP on SQLite and PostgreSQL, against the demo data of
// internal/demo. Every expected result is written out from the demo data.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/organization"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/staff"
)

// The users Sunrise Therapy Group's administrator ("admin", access to all three
// Sunrise clinics) can see: the administrator and the 13 demo staff. Harbor
// Rehab's administrator and the Support account belong to other tenants.
//
//	username     first   last       type      status    home       access
//	admin        Alex    Morgan     CLERICAL  ACTIVE    Downtown   Downtown, Northside, Lakeview
//	pt.jordan    Jordan  Reyes      PT        ACTIVE    Downtown   Downtown, Northside
//	ot.casey     Casey   Nguyen     OT        ACTIVE    Downtown   Downtown
//	slp.riley    Riley   Okafor     SLP       ACTIVE    Northside  Northside
//	pta.taylor   Taylor  Brooks     PTA       ACTIVE    Downtown   Downtown
//	cota.morgan  Morgan  Patel      COTA      ACTIVE    Northside  Northside
//	slpa.jamie   Jamie   Kowalski   SLPA      ACTIVE    Lakeview   Lakeview
//	spt.avery    Avery   Lindqvist  SPT       ACTIVE    Downtown   Downtown
//	sot.quinn    Quinn   Haddad     SOT       ACTIVE    Northside  Northside
//	sslp.rowan   Rowan   Silva      SSLP      ACTIVE    Lakeview   Lakeview
//	front.desk   Dana    Whitfield  CLERICAL  ACTIVE    Downtown   Downtown, Northside, Lakeview
//	billing.lee  Lee     Ramirez    BILLER    ACTIVE    Downtown   Downtown
//	pt.sam       Samira  O'Neill    PT        ACTIVE    Lakeview   Lakeview
//	pt.fillin    Chris   Delaney    PT        INACTIVE  Lakeview   Lakeview   (no Therapist license left)
//
// Every email is <username>@sunrise-therapy.example.
var searchSunriseUsers = []string{
	"admin", "billing.lee", "cota.morgan", "front.desk", "ot.casey", "pt.fillin", "pt.jordan",
	"pt.sam", "pta.taylor", "slp.riley", "slpa.jamie", "sot.quinn", "spt.avery", "sslp.rowan",
}

// Clinic names of the demo practices.
const (
	searchDowntown  = "Sunrise Downtown"
	searchNorthside = "Sunrise Northside"
	searchLakeview  = "Sunrise Lakeview"
	searchHarbor    = "Harbor Main"
)

// searchUsersQuery selects everything the search tests look at.
const searchUsersQuery = `query($after: Cursor, $first: Int, $before: Cursor, $last: Int, $orderBy: UserOrder, $filter: UserSearch) {
  users(after: $after, first: $first, before: $before, last: $last, orderBy: $orderBy, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id username email firstName lastName fullName userType status createdAt } }
  }
}`

type searchUserNode struct {
	ID        string
	Username  string
	Email     string
	FirstName string
	LastName  string
	FullName  string
	UserType  string
	Status    string
	CreatedAt time.Time
}

type searchConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage     bool
		HasPreviousPage bool
		StartCursor     *string
		EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   searchUserNode
	}
}

func (c searchConn) usernames() []string {
	out := make([]string, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node.Username
	}
	return out
}

func (c searchConn) nodes() []searchUserNode {
	out := make([]searchUserNode, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node
	}
	return out
}

// searchPage describes one users request; zero fields are left out.
type searchPage struct {
	after, before string
	first, last   *int
	orderBy       map[string]any
	filter        map[string]any
}

func (p searchPage) vars() map[string]any {
	v := map[string]any{}
	if p.after != "" {
		v["after"] = p.after
	}
	if p.before != "" {
		v["before"] = p.before
	}
	if p.first != nil {
		v["first"] = *p.first
	}
	if p.last != nil {
		v["last"] = *p.last
	}
	if p.orderBy != nil {
		v["orderBy"] = p.orderBy
	}
	if p.filter != nil {
		v["filter"] = p.filter
	}
	return v
}

func searchIntp(n int) *int { return &n }

// searchFetch sends one users request and fails the test on any error.
func searchFetch(t *testing.T, c *apitest.Client, p searchPage) searchConn {
	t.Helper()
	var out struct{ Users searchConn }
	c.MustDo(searchUsersQuery, p.vars(), &out)
	return out.Users
}

// searchClinicIDs maps the names of the signed-in user's clinics to their IDs.
func searchClinicIDs(t *testing.T, c *apitest.Client) map[string]string {
	t.Helper()
	var out struct {
		Viewer struct {
			Clinics []struct{ ID, Name string }
		}
	}
	c.MustDo(`{ viewer { clinics { id name } } }`, nil, &out)
	ids := map[string]string{}
	for _, cl := range out.Viewer.Clinics {
		ids[cl.Name] = cl.ID
	}
	return ids
}

func searchSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// searchExcept returns all minus the given usernames.
func searchExcept(all []string, minus ...string) []string {
	var out []string
	for _, u := range all {
		if !slices.Contains(minus, u) {
			out = append(out, u)
		}
	}
	return out
}

type searchCase struct {
	name   string
	filter map[string]any
	// clinic, if set, is the name of the clinic put into filter.clinicId.
	clinic string
	want   []string
}

func searchCaseTable() []searchCase {
	none := []string{}
	return []searchCase{
		// userTypes
		{name: "userTypes PT", filter: map[string]any{"userTypes": []string{"PT"}},
			want: []string{"pt.fillin", "pt.jordan", "pt.sam"}},
		{name: "userTypes speech", filter: map[string]any{"userTypes": []string{"SLP", "SLPA", "SSLP"}},
			want: []string{"slp.riley", "slpa.jamie", "sslp.rowan"}},
		{name: "userTypes clerical class", filter: map[string]any{"userTypes": []string{"CLERICAL", "BILLER"}},
			want: []string{"admin", "billing.lee", "front.desk"}},
		{name: "userTypes SUPPORT of no organization", filter: map[string]any{"userTypes": []string{"SUPPORT"}},
			want: none},
		// statuses
		{name: "statuses INACTIVE", filter: map[string]any{"statuses": []string{"INACTIVE"}},
			want: []string{"pt.fillin"}},
		{name: "statuses ACTIVE", filter: map[string]any{"statuses": []string{"ACTIVE"}},
			want: searchExcept(searchSunriseUsers, "pt.fillin")},
		{name: "statuses both", filter: map[string]any{"statuses": []string{"ACTIVE", "INACTIVE"}},
			want: searchSunriseUsers},
		// name: part of the first, last or full name, any case
		{name: "name last-name fragment odd case", filter: map[string]any{"name": "oKaF"},
			want: []string{"slp.riley"}},
		{name: "name first-name fragment", filter: map[string]any{"name": "ORDA"},
			want: []string{"pt.jordan"}},
		{name: "name last-name fragment", filter: map[string]any{"name": "lINDq"},
			want: []string{"spt.avery"}},
		{name: "name full-name fragment across the space", filter: map[string]any{"name": "LEY oKa"},
			want: []string{"slp.riley"}},
		{name: "name whole full name", filter: map[string]any{"name": "Dana Whitfield"},
			want: []string{"front.desk"}},
		{name: "name first of one last of another", filter: map[string]any{"name": "MORGAN"},
			want: []string{"admin", "cota.morgan"}},
		{name: "name common fragment", filter: map[string]any{"name": "An"},
			want: []string{"admin", "cota.morgan", "front.desk", "pt.fillin", "pt.jordan", "sslp.rowan"}},
		{name: "name with apostrophe", filter: map[string]any{"name": "o'NEILL"},
			want: []string{"pt.sam"}},
		{name: "name matches nobody", filter: map[string]any{"name": "xyzzy"}, want: none},
		{name: "name does not search usernames", filter: map[string]any{"name": "slp"}, want: none},
		{name: "name does not search emails", filter: map[string]any{"name": "sunrise"}, want: none},
		// username and email: part, any case
		{name: "username part odd case", filter: map[string]any{"username": "sLp"},
			want: []string{"slp.riley", "slpa.jamie", "sslp.rowan"}},
		{name: "username part with dot", filter: map[string]any{"username": "Pt."},
			want: []string{"pt.fillin", "pt.jordan", "pt.sam", "spt.avery"}},
		{name: "username does not search names", filter: map[string]any{"username": "okafor"}, want: none},
		{name: "email part odd case", filter: map[string]any{"email": "BILLING.LEE@"},
			want: []string{"billing.lee"}},
		{name: "email domain", filter: map[string]any{"email": "@Sunrise-Therapy.EXAMPLE"},
			want: searchSunriseUsers},
		{name: "email of another organization", filter: map[string]any{"email": "harbor-rehab"}, want: none},
		// clinicId: users with access to the clinic
		{name: "clinic Downtown", clinic: searchDowntown,
			want: []string{"admin", "billing.lee", "front.desk", "ot.casey", "pt.jordan", "pta.taylor", "spt.avery"}},
		{name: "clinic Northside", clinic: searchNorthside,
			want: []string{"admin", "cota.morgan", "front.desk", "pt.jordan", "slp.riley", "sot.quinn"}},
		{name: "clinic Lakeview", clinic: searchLakeview,
			want: []string{"admin", "front.desk", "pt.fillin", "pt.sam", "slpa.jamie", "sslp.rowan"}},
		// combinations: every given filter must match
		{name: "PT and ACTIVE", filter: map[string]any{"userTypes": []string{"PT"}, "statuses": []string{"ACTIVE"}},
			want: []string{"pt.jordan", "pt.sam"}},
		{name: "PT at Lakeview", filter: map[string]any{"userTypes": []string{"PT"}}, clinic: searchLakeview,
			want: []string{"pt.fillin", "pt.sam"}},
		{name: "name at Lakeview", filter: map[string]any{"name": "aN"}, clinic: searchLakeview,
			want: []string{"admin", "front.desk", "pt.fillin", "sslp.rowan"}},
		{name: "email, status and clinic",
			filter: map[string]any{"email": "PT", "statuses": []string{"ACTIVE"}}, clinic: searchDowntown,
			want: []string{"pt.jordan", "pta.taylor", "spt.avery"}},
		{name: "name and username", filter: map[string]any{"name": "morgan", "username": "COTA"},
			want: []string{"cota.morgan"}},
		{name: "name and status exclude each other", filter: map[string]any{"name": "riley", "statuses": []string{"INACTIVE"}},
			want: none},
		{name: "types, statuses, name, username, email, clinic", clinic: searchNorthside,
			filter: map[string]any{"userTypes": []string{"SLP", "SOT"}, "statuses": []string{"ACTIVE"},
				"name": "i", "username": "l", "email": "y@"},
			want: []string{"slp.riley"}},
		// LIKE wildcards are ordinary characters
		{name: "name percent", filter: map[string]any{"name": "%"}, want: none},
		{name: "name underscore", filter: map[string]any{"name": "_"}, want: none},
		{name: "name percent inside", filter: map[string]any{"name": "a%n"}, want: none},
		{name: "name underscore inside", filter: map[string]any{"name": "r_l"}, want: none},
		{name: "name backslash", filter: map[string]any{"name": `\`}, want: none},
		{name: "name escaped percent", filter: map[string]any{"name": `\%`}, want: none},
		{name: "username underscore", filter: map[string]any{"username": "pt_"}, want: none},
		{name: "username percent", filter: map[string]any{"username": "%"}, want: none},
		{name: "email percent", filter: map[string]any{"email": "%@%"}, want: none},
		{name: "email underscore", filter: map[string]any{"email": "_"}, want: none},
	}
}

func TestSearchUsersFilters(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		clinics := searchClinicIDs(t, c)
		if len(clinics) != 3 {
			t.Fatalf("admin's clinics = %v, want the 3 Sunrise clinics", clinics)
		}
		clinics[searchHarbor] = searchClinicIDs(t, env.LoginDemo("harbor.admin"))[searchHarbor]

		// No filter: the whole practice, nobody of another tenant.
		all := searchFetch(t, c, searchPage{first: searchIntp(100)})
		if got := searchSorted(all.usernames()); !slices.Equal(got, searchSunriseUsers) || all.TotalCount != len(searchSunriseUsers) {
			t.Fatalf("users without filter = %v (totalCount %d), want %v", got, all.TotalCount, searchSunriseUsers)
		}

		cases := append(searchCaseTable(), searchCase{name: "clinic of another organization", clinic: searchHarbor, want: []string{}})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				filter := map[string]any{}
				for k, v := range tc.filter {
					filter[k] = v
				}
				if tc.clinic != "" {
					id, ok := clinics[tc.clinic]
					if !ok {
						t.Fatalf("no ID for clinic %q", tc.clinic)
					}
					filter["clinicId"] = id
				}
				p := searchPage{first: searchIntp(100), filter: filter}
				if tc.clinic == searchHarbor {
					// Another tenant's clinic may be refused outright, but must
					// never reveal that tenant's users.
					r := c.Do(searchUsersQuery, p.vars())
					if len(r.Errors) > 0 {
						return
					}
					var out struct{ Users searchConn }
					r.Decode(t, &out)
					if got := out.Users.usernames(); len(got) != 0 || out.Users.TotalCount != 0 {
						t.Fatalf("clinicId of Harbor Rehab's clinic found %v (totalCount %d), want nobody",
							got, out.Users.TotalCount)
					}
					return
				}
				conn := searchFetch(t, c, p)
				got := searchSorted(conn.usernames())
				want := searchSorted(tc.want)
				if !slices.Equal(got, want) {
					t.Errorf("filter %v found %v, want %v", filter, got, want)
				}
				if conn.TotalCount != len(want) {
					t.Errorf("filter %v: totalCount = %d, want %d", filter, conn.TotalCount, len(want))
				}
			})
		}
	})
}

// searchByteOrder reports whether the database compares the strings of ORDER BY
// byte by byte (SQLite's BINARY collation, PostgreSQL's C collation). Otherwise
// PostgreSQL sorts by the database's locale, which ignores case and
// punctuation at first ("O'Neill" after "Okafor", "pt.sam" after "pta.taylor").
func searchByteOrder(t *testing.T, env *apitest.Env) bool {
	t.Helper()
	if env.Dialect != "postgres" {
		return true
	}
	var collate string
	if err := env.DB.SQL.QueryRow(`SELECT datcollate FROM pg_database WHERE datname = current_database()`).Scan(&collate); err != nil {
		t.Fatal(err)
	}
	switch strings.ToLower(collate) {
	case "c", "posix", "c.utf-8", "c.utf8", "ucs_basic":
		return true
	}
	t.Logf("database collation %q: comparing names by letters and digits only", collate)
	return false
}

// searchCompareText compares two strings as the database sorts them (see
// searchByteOrder): bytewise, or by their lower-cased letters and digits.
func searchCompareText(searchByteOrder bool, a, b string) int {
	if searchByteOrder {
		return strings.Compare(a, b)
	}
	key := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToLower(r)
			}
			return -1
		}, s)
	}
	return strings.Compare(key(a), key(b))
}

// searchOrderFields tells how to compare two users by each UserOrderField.
func searchOrderFields(searchByteOrder bool) map[string]func(a, b searchUserNode) int {
	text := func(f func(u searchUserNode) string) func(a, b searchUserNode) int {
		return func(a, b searchUserNode) int { return searchCompareText(searchByteOrder, f(a), f(b)) }
	}
	return map[string]func(a, b searchUserNode) int{
		"CREATED_AT": func(a, b searchUserNode) int { return a.CreatedAt.Compare(b.CreatedAt) },
		"USERNAME":   text(func(u searchUserNode) string { return u.Username }),
		"EMAIL":      text(func(u searchUserNode) string { return u.Email }),
		"USER_TYPE":  func(a, b searchUserNode) int { return strings.Compare(a.UserType, b.UserType) },
		"FIRST_NAME": text(func(u searchUserNode) string { return u.FirstName }),
		"LAST_NAME":  text(func(u searchUserNode) string { return u.LastName }),
		"FULL_NAME":  text(func(u searchUserNode) string { return u.FullName }),
		"STATUS":     func(a, b searchUserNode) int { return strings.Compare(a.Status, b.Status) },
	}
}

var searchOrderFieldNames = []string{"CREATED_AT", "USERNAME", "EMAIL", "USER_TYPE", "FIRST_NAME", "LAST_NAME", "FULL_NAME", "STATUS"}

// searchCheckSorted fails the test unless nodes are sorted by field in direction.
func searchCheckSorted(t *testing.T, nodes []searchUserNode, cmp func(a, b searchUserNode) int, field, direction string) {
	t.Helper()
	for i := 1; i < len(nodes); i++ {
		c := cmp(nodes[i-1], nodes[i])
		if (direction == "ASC" && c > 0) || (direction == "DESC" && c < 0) {
			names := make([]string, len(nodes))
			for j, n := range nodes {
				names[j] = n.Username
			}
			t.Fatalf("ordered by %s %s, %s comes before %s: %v", field, direction,
				nodes[i-1].Username, nodes[i].Username, names)
		}
	}
}

func TestSearchUsersOrder(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		cmps := searchOrderFields(searchByteOrder(t, env))
		for _, field := range searchOrderFieldNames {
			for _, dir := range []string{"ASC", "DESC"} {
				t.Run(field+" "+dir, func(t *testing.T) {
					conn := searchFetch(t, c, searchPage{first: searchIntp(100), orderBy: map[string]any{"field": field, "direction": dir}})
					if got := searchSorted(conn.usernames()); !slices.Equal(got, searchSunriseUsers) {
						t.Fatalf("ordered by %s %s: found %v, want %v", field, dir, got, searchSunriseUsers)
					}
					searchCheckSorted(t, conn.nodes(), cmps[field], field, dir)
				})
			}
		}

		// Spot checks of orders that hold under any collation.
		first := searchFetch(t, c, searchPage{first: searchIntp(100), orderBy: map[string]any{"field": "FIRST_NAME", "direction": "ASC"}})
		if got := first.usernames(); got[0] != "admin" || got[len(got)-1] != "pta.taylor" {
			t.Errorf("by FIRST_NAME ASC: %v, want Alex (admin) first and Taylor (pta.taylor) last", got)
		}
		status := searchFetch(t, c, searchPage{first: searchIntp(100), orderBy: map[string]any{"field": "STATUS", "direction": "DESC"}})
		if got := status.usernames(); got[0] != "pt.fillin" {
			t.Errorf("by STATUS DESC: %v, want the only INACTIVE user, pt.fillin, first", got)
		}
		last := searchFetch(t, c, searchPage{first: searchIntp(3), orderBy: map[string]any{"field": "LAST_NAME", "direction": "DESC"},
			filter: map[string]any{"statuses": []string{"ACTIVE"}}})
		if got := last.usernames(); !slices.Equal(got, []string{"front.desk", "sslp.rowan", "pt.jordan"}) {
			t.Errorf("first 3 by LAST_NAME DESC = %v, want Whitfield, Silva, Reyes", got)
		}
	})
}

// orders used by the pagination tests: the default (by ID), unique fields,
// and fields with ties (USER_TYPE, STATUS), which the cursor must break.
var searchPaginationOrders = []map[string]any{
	nil,
	{"field": "USERNAME", "direction": "ASC"},
	{"field": "LAST_NAME", "direction": "DESC"},
	{"field": "CREATED_AT", "direction": "ASC"},
	{"field": "CREATED_AT", "direction": "DESC"},
	{"field": "USER_TYPE", "direction": "ASC"},
	{"field": "STATUS", "direction": "DESC"},
}

func searchOrderName(o map[string]any) string {
	if o == nil {
		return "default order"
	}
	return fmt.Sprintf("%s %s", o["field"], o["direction"])
}

func TestSearchUsersForwardPagination(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		cmps := searchOrderFields(searchByteOrder(t, env))
		for _, order := range searchPaginationOrders {
			for _, size := range []int{1, 3, 5, 13, 14} {
				t.Run(fmt.Sprintf("%s by %d", searchOrderName(order), size), func(t *testing.T) {
					whole := searchFetch(t, c, searchPage{first: searchIntp(100), orderBy: order}).usernames()
					var (
						got    []searchUserNode
						after  string
						pages  int
						wantPg = (len(searchSunriseUsers) + size - 1) / size
					)
					for {
						conn := searchFetch(t, c, searchPage{first: searchIntp(size), after: after, orderBy: order})
						pages++
						if conn.TotalCount != len(searchSunriseUsers) {
							t.Fatalf("page %d: totalCount = %d, want %d", pages, conn.TotalCount, len(searchSunriseUsers))
						}
						if len(conn.Edges) == 0 || len(conn.Edges) > size {
							t.Fatalf("page %d: %d users, want 1..%d", pages, len(conn.Edges), size)
						}
						if conn.PageInfo.HasPreviousPage != (after != "") {
							t.Errorf("page %d: hasPreviousPage = %v", pages, conn.PageInfo.HasPreviousPage)
						}
						if conn.PageInfo.EndCursor == nil || *conn.PageInfo.EndCursor != conn.Edges[len(conn.Edges)-1].Cursor {
							t.Fatalf("page %d: endCursor %v is not the last edge's cursor", pages, conn.PageInfo.EndCursor)
						}
						for _, n := range conn.nodes() {
							if slices.ContainsFunc(got, func(u searchUserNode) bool { return u.Username == n.Username }) {
								t.Fatalf("page %d (after cursor %q) repeats %s, already on an earlier page", pages, after, n.Username)
							}
							got = append(got, n)
						}
						more := len(got) < len(searchSunriseUsers)
						if conn.PageInfo.HasNextPage != more {
							t.Fatalf("page %d (%d users so far): hasNextPage = %v, want %v", pages, len(got), conn.PageInfo.HasNextPage, more)
						}
						if !more || pages > len(searchSunriseUsers) {
							break
						}
						after = *conn.PageInfo.EndCursor
					}
					names := make([]string, len(got))
					for i, n := range got {
						names[i] = n.Username
					}
					if !slices.Equal(searchSorted(names), searchSunriseUsers) {
						t.Fatalf("paging found %v, want each of %v exactly once", names, searchSunriseUsers)
					}
					if pages != wantPg {
						t.Errorf("%d pages, want %d", pages, wantPg)
					}
					if !slices.Equal(names, whole) {
						t.Errorf("paged order %v differs from the one-page order %v", names, whole)
					}
					if order != nil {
						searchCheckSorted(t, got, cmps[order["field"].(string)], order["field"].(string), order["direction"].(string))
					}
				})
			}
		}

		// Paging through a filtered search keeps the filter and its count.
		filter := map[string]any{"name": "AN"}
		want := []string{"admin", "cota.morgan", "front.desk", "pt.fillin", "pt.jordan", "sslp.rowan"}
		var got []string
		after := ""
		for range 10 {
			conn := searchFetch(t, c, searchPage{first: searchIntp(4), after: after, filter: filter,
				orderBy: map[string]any{"field": "FIRST_NAME", "direction": "ASC"}})
			if conn.TotalCount != len(want) {
				t.Fatalf("filtered paging: totalCount = %d, want %d", conn.TotalCount, len(want))
			}
			got = append(got, conn.usernames()...)
			if !conn.PageInfo.HasNextPage {
				break
			}
			after = *conn.PageInfo.EndCursor
		}
		// Alex, Chris, Dana, Jordan, Morgan, Rowan.
		if wantOrder := []string{"admin", "pt.fillin", "front.desk", "pt.jordan", "cota.morgan", "sslp.rowan"}; !slices.Equal(got, wantOrder) {
			t.Errorf("filtered paging by FIRST_NAME = %v, want %v", got, wantOrder)
		}
	})
}

func TestSearchUsersBackwardPagination(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		for _, order := range searchPaginationOrders {
			for _, size := range []int{1, 4, 13, 14} {
				t.Run(fmt.Sprintf("%s by %d", searchOrderName(order), size), func(t *testing.T) {
					whole := searchFetch(t, c, searchPage{first: searchIntp(100), orderBy: order}).usernames()
					var (
						got    []string // in the connection's order
						before string
						pages  int
					)
					for {
						conn := searchFetch(t, c, searchPage{last: searchIntp(size), before: before, orderBy: order})
						pages++
						if conn.TotalCount != len(searchSunriseUsers) {
							t.Fatalf("page %d: totalCount = %d, want %d", pages, conn.TotalCount, len(searchSunriseUsers))
						}
						if len(conn.Edges) == 0 || len(conn.Edges) > size {
							t.Fatalf("page %d: %d users, want 1..%d", pages, len(conn.Edges), size)
						}
						if conn.PageInfo.HasNextPage != (before != "") {
							t.Errorf("page %d: hasNextPage = %v", pages, conn.PageInfo.HasNextPage)
						}
						if conn.PageInfo.StartCursor == nil || *conn.PageInfo.StartCursor != conn.Edges[0].Cursor {
							t.Fatalf("page %d: startCursor %v is not the first edge's cursor", pages, conn.PageInfo.StartCursor)
						}
						for _, u := range conn.usernames() {
							if slices.Contains(got, u) {
								t.Fatalf("page %d (before cursor %q) repeats %s, already on a later page", pages, before, u)
							}
						}
						got = append(conn.usernames(), got...)
						more := len(got) < len(searchSunriseUsers)
						if conn.PageInfo.HasPreviousPage != more {
							t.Fatalf("page %d (%d users so far): hasPreviousPage = %v, want %v", pages, len(got), conn.PageInfo.HasPreviousPage, more)
						}
						if !more || pages > len(searchSunriseUsers) {
							break
						}
						before = *conn.PageInfo.StartCursor
					}
					if !slices.Equal(searchSorted(got), searchSunriseUsers) {
						t.Fatalf("paging backwards found %v, want each of %v exactly once", got, searchSunriseUsers)
					}
					if !slices.Equal(got, whole) {
						t.Errorf("backward pages give the order %v, forward %v", got, whole)
					}
				})
			}
		}

		// The last two by first name, then the two before them.
		byName := map[string]any{"field": "FIRST_NAME", "direction": "ASC"}
		tail := searchFetch(t, c, searchPage{last: searchIntp(2), orderBy: byName})
		if got := tail.usernames(); !slices.Equal(got, []string{"pt.sam", "pta.taylor"}) {
			t.Fatalf("last 2 by first name = %v, want Samira, Taylor [pt.sam pta.taylor]", got)
		}
		prev := searchFetch(t, c, searchPage{last: searchIntp(2), before: *tail.PageInfo.StartCursor, orderBy: byName})
		if got := prev.usernames(); !slices.Equal(got, []string{"slp.riley", "sslp.rowan"}) {
			t.Fatalf("2 before Samira by first name = %v, want Riley, Rowan [slp.riley sslp.rowan]", got)
		}
		// And forwards again from there.
		next := searchFetch(t, c, searchPage{first: searchIntp(1), after: *prev.PageInfo.EndCursor, orderBy: byName})
		if got := next.usernames(); !slices.Equal(got, []string{"pt.sam"}) || !next.PageInfo.HasNextPage || !next.PageInfo.HasPreviousPage {
			t.Fatalf("1 after Rowan by first name = %v %+v, want [pt.sam] with pages either side", got, next.PageInfo)
		}
	})
}

// searchSeedExtraUsers adds n Inactive Clerical users "bulk_01".. to Sunrise
// Downtown directly through ent.
func searchSeedExtraUsers(t *testing.T, env *apitest.Env, n int) []string {
	t.Helper()
	ctx, newUser := searchDowntownUsers(t, env)
	var names []string
	builders := make([]*ent.UserCreate, n)
	for i := range builders {
		name := fmt.Sprintf("bulk_%02d", i+1)
		names = append(names, name)
		builders[i] = newUser(name, fmt.Sprintf("Extra%02d", i+1), user.StatusINACTIVE)
	}
	env.DB.Client.User.CreateBulk(builders...).ExecX(ctx)
	return names
}

// searchDowntownUsers returns newUser, which starts a Clerical user "Bulk
// <last>" of Sunrise Downtown (its home and only clinic) to be created
// directly through ent, and the context to save it in.
func searchDowntownUsers(t *testing.T, env *apitest.Env) (ctx context.Context, newUser func(username, last string, status user.Status) *ent.UserCreate) {
	t.Helper()
	ctx = privacy.DecisionContext(context.Background(), privacy.Allow)
	org := env.DB.Client.Organization.Query().Where(organization.Name("Sunrise Therapy Group")).OnlyX(ctx)
	cl := env.DB.Client.Clinic.Query().Where(clinic.OrganizationID(org.ID), clinic.Name(searchDowntown)).OnlyX(ctx)
	hash, err := passwords.Hash("Bulk-Us3r-Passw0rd!")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, func(username, last string, status user.Status) *ent.UserCreate {
		return env.DB.Client.User.Create().
			SetOrganizationID(org.ID).SetUsername(username).SetEmail(username + "@sunrise-therapy.example").
			SetPasswordHash(hash).SetUserType(staff.Clerical).
			SetFirstName("Bulk").SetLastName(last).SetFullName("Bulk " + last).
			SetStatus(status).SetHomeClinicID(cl.ID).AddClinicIDs(cl.ID)
	}
}

func TestSearchUsersPageSize(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		for _, p := range []searchPage{{first: searchIntp(101)}, {last: searchIntp(101)}, {first: searchIntp(1000000)}, {first: searchIntp(-1)}, {last: searchIntp(-1)}} {
			r := c.Do(searchUsersQuery, p.vars())
			if r.Code() != "BAD_USER_INPUT" {
				t.Errorf("users(%v): %s, want the error BAD_USER_INPUT", p.vars(), r.Body)
			}
		}

		bulk := searchSeedExtraUsers(t, env, 25)
		everyone := searchSorted(append(slices.Clone(searchSunriseUsers), bulk...))

		// 100 is allowed.
		conn := searchFetch(t, c, searchPage{first: searchIntp(100)})
		if got := searchSorted(conn.usernames()); !slices.Equal(got, everyone) || conn.TotalCount != len(everyone) || conn.PageInfo.HasNextPage {
			t.Fatalf("first: 100 found %d users (totalCount %d, hasNextPage %v), want all %d",
				len(got), conn.TotalCount, conn.PageInfo.HasNextPage, len(everyone))
		}
		conn = searchFetch(t, c, searchPage{last: searchIntp(100)})
		if len(conn.Edges) != len(everyone) {
			t.Fatalf("last: 100 found %d users, want %d", len(conn.Edges), len(everyone))
		}

		// Neither first nor last: one page of the default size, 20.
		conn = searchFetch(t, c, searchPage{})
		if len(conn.Edges) != 20 || conn.TotalCount != len(everyone) || !conn.PageInfo.HasNextPage {
			t.Fatalf("no first/last: %d users (totalCount %d, hasNextPage %v), want 20 of %d and a next page",
				len(conn.Edges), conn.TotalCount, conn.PageInfo.HasNextPage, len(everyone))
		}
		seen := conn.usernames()
		rest := searchFetch(t, c, searchPage{after: *conn.PageInfo.EndCursor})
		if len(rest.Edges) != len(everyone)-20 || rest.PageInfo.HasNextPage {
			t.Fatalf("after the first default page: %d users (hasNextPage %v), want the other %d",
				len(rest.Edges), rest.PageInfo.HasNextPage, len(everyone)-20)
		}
		if got := searchSorted(append(seen, rest.usernames()...)); !slices.Equal(got, everyone) {
			t.Fatalf("two default pages found %v, want %v", got, everyone)
		}
		var raw struct {
			Users struct {
				Edges []struct{ Node struct{ Username string } }
			}
		}
		c.MustDo(`{ users { edges { node { username } } } }`, nil, &raw)
		if len(raw.Users.Edges) != 20 {
			t.Fatalf("users without arguments returned %d users, want 20", len(raw.Users.Edges))
		}

		// A literal underscore: exactly the bulk users, not everyone.
		conn = searchFetch(t, c, searchPage{first: searchIntp(100), filter: map[string]any{"username": "_"}})
		if got := searchSorted(conn.usernames()); !slices.Equal(got, bulk) {
			t.Errorf(`username "_" found %v, want the %d bulk_ users`, got, len(bulk))
		}
		conn = searchFetch(t, c, searchPage{first: searchIntp(100), filter: map[string]any{"username": "_0"}})
		if got := searchSorted(conn.usernames()); !slices.Equal(got, bulk[:9]) {
			t.Errorf(`username "_0" found %v, want bulk_01..bulk_09 (not bulk_10, bulk_20)`, got)
		}
	})
}

// searchStatementsQuery selects edges and computed fields of each user, the shape a
// user list screen asks for.
const searchStatementsQuery = `query($first: Int) {
  users(first: $first, orderBy: {field: USERNAME}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id username fullName status homeClinic { name } licenseClass license { class } clinics { name } } }
  }
}`

func TestSearchUsersStatementsDoNotGrowWithPageSize(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		count := func(first int) (int64, int) {
			var out struct {
				Users struct {
					Edges []struct {
						Node struct {
							Username   string
							HomeClinic *struct{ Name string }
							License    *struct{ Class string }
							Clinics    []struct{ Name string }
						}
					}
				}
			}
			before := env.Statements()
			c.MustDo(searchStatementsQuery, map[string]any{"first": first}, &out)
			n := env.Statements() - before
			for _, e := range out.Users.Edges {
				if e.Node.HomeClinic == nil || e.Node.HomeClinic.Name == "" || len(e.Node.Clinics) == 0 {
					t.Fatalf("user %s: home clinic or clinics missing: %+v", e.Node.Username, e.Node)
				}
				if (e.Node.License == nil) != (e.Node.Username == "pt.fillin") {
					t.Fatalf("user %s: license %+v; only the inactive pt.fillin holds none", e.Node.Username, e.Node.License)
				}
			}
			return n, len(out.Users.Edges)
		}
		count(2) // warm up
		small, n2 := count(2)
		large, n14 := count(14)
		if n2 != 2 || n14 != 14 {
			t.Fatalf("pages of %d and %d users, want 2 and 14", n2, n14)
		}
		t.Logf("%s: %d SQL statements for 2 users, %d for 14", env.Dialect, small, large)
		if small != large {
			t.Errorf("a users request sends %d SQL statements for 2 users but %d for 14: statements grow with the page size (N+1)",
				small, large)
		}
	})
}

func TestSearchUsersVisibility(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		// R1: Harbor Rehab's administrator sees only Harbor Rehab.
		h := env.LoginDemo("harbor.admin")
		conn := searchFetch(t, h, searchPage{first: searchIntp(100)})
		if got := conn.usernames(); !slices.Equal(got, []string{"harbor.admin"}) || conn.TotalCount != 1 {
			t.Errorf("harbor.admin found %v (totalCount %d), want only harbor.admin", got, conn.TotalCount)
		}
		conn = searchFetch(t, h, searchPage{first: searchIntp(100), filter: map[string]any{"name": "riley"}})
		if len(conn.Edges) != 0 || conn.TotalCount != 0 {
			t.Errorf("harbor.admin searching riley found %v (totalCount %d)", conn.usernames(), conn.TotalCount)
		}

		// R2: searching needs View Users.
		if r := env.LoginDemo("slp.riley").Do(searchUsersQuery, searchPage{first: searchIntp(5)}.vars()); r.Code() != "FORBIDDEN" {
			t.Errorf("slp.riley (no View Users) searching: %s, want FORBIDDEN", r.Body)
		}
		if r := env.Anonymous().Do(searchUsersQuery, searchPage{first: searchIntp(5)}.vars()); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("anonymous search: %s, want UNAUTHENTICATED", r.Body)
		}

		// R3: a manager with access to Lakeview only sees those with access to Lakeview.
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		org := env.DB.Client.Organization.Query().Where(organization.Name("Sunrise Therapy Group")).OnlyX(ctx)
		lake := env.DB.Client.Clinic.Query().Where(clinic.OrganizationID(org.ID), clinic.Name(searchLakeview)).OnlyX(ctx)
		viewUsers := env.DB.Client.Permission.Query().Where(permission.Key("VIEW_USERS")).OnlyX(ctx)
		const password = "Lake-View-M4nager!x"
		hash, err := passwords.Hash(password)
		if err != nil {
			t.Fatal(err)
		}
		m := env.DB.Client.User.Create().SetOrganizationID(org.ID).
			SetUsername("lake.manager").SetEmail("lake.manager@sunrise-therapy.example").SetPasswordHash(hash).
			SetUserType(staff.Clerical).SetFirstName("Lena").SetLastName("Lakes").SetFullName("Lena Lakes").
			SetStatus(user.StatusACTIVE).SetHomeClinicID(lake.ID).AddClinicIDs(lake.ID).
			AddPermissionIDs(viewUsers.ID).SaveX(ctx)
		env.DB.Client.License.Create().SetOrganizationID(org.ID).SetClinicID(lake.ID).
			SetClass(staff.ClericalClass).SetHolderID(m.ID).ExecX(ctx)
		lm := env.Login("lake.manager", password)
		wantLake := []string{"admin", "front.desk", "lake.manager", "pt.fillin", "pt.sam", "slpa.jamie", "sslp.rowan"}
		conn = searchFetch(t, lm, searchPage{first: searchIntp(100)})
		if got := searchSorted(conn.usernames()); !slices.Equal(got, wantLake) || conn.TotalCount != len(wantLake) {
			t.Errorf("Lakeview manager found %v (totalCount %d), want %v", got, conn.TotalCount, wantLake)
		}
		conn = searchFetch(t, lm, searchPage{first: searchIntp(100), filter: map[string]any{"userTypes": []string{"PT"}}})
		if got := searchSorted(conn.usernames()); !slices.Equal(got, []string{"pt.fillin", "pt.sam"}) {
			t.Errorf("Lakeview manager searching PTs found %v, want [pt.fillin pt.sam] (not pt.jordan)", got)
		}
		// Filtering by a clinic the manager has no access to reveals nobody
		// beyond the users they may see anyway.
		r := lm.Do(searchUsersQuery, searchPage{first: searchIntp(100), filter: map[string]any{"clinicId": searchClinicIDs(t, env.LoginDemo(demo.AdminUsername))[searchDowntown]}}.vars())
		if len(r.Errors) == 0 {
			var out struct{ Users searchConn }
			r.Decode(t, &out)
			for _, u := range out.Users.usernames() {
				if !slices.Contains([]string{"admin", "front.desk"}, u) {
					t.Errorf("Lakeview manager filtering by Downtown found %s, who has no access to Lakeview", u)
				}
			}
		}
	})
}

// TestSearchCountsOnlyWhenAsked: the users search counts its matches in one
// statement of its own, only when totalCount or totalCountIsExact is asked
// for (under any alias), or pageInfo without edges; edges with pageInfo
// need no count.
func TestSearchCountsOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		var all struct{ Users struct{ TotalCount int } }
		c.MustDo(`{ users(first: 1) { totalCount } }`, nil, &all)
		if all.Users.TotalCount < 3 {
			t.Fatalf("the demo practice shows %d users; the test needs 3 or more", all.Users.TotalCount)
		}
		// statements is the fewest statements of three runs of query (a
		// background job may send one meanwhile).
		statements := func(query string, out any) int64 {
			fewest := int64(-1)
			for range 3 {
				before := env.Statements()
				c.MustDo(query, nil, out)
				if n := env.Statements() - before; fewest < 0 || n < fewest {
					fewest = n
				}
			}
			return fewest
		}
		var page struct {
			Users struct {
				PageInfo struct{ HasNextPage bool }
				Edges    []struct{ Node struct{ Username string } }
			}
		}
		withoutCount := statements(`{ users(first: 2) { pageInfo { hasNextPage } edges { node { username } } } }`, &page)
		if len(page.Users.Edges) != 2 || !page.Users.PageInfo.HasNextPage {
			t.Fatalf("first page of 2: %+v, want 2 users and a next page", page.Users)
		}
		var counted struct {
			Users struct {
				N     int
				Exact bool
				Edges []struct{ Node struct{ Username string } }
			}
		}
		withCount := statements(`{ users(first: 2) { n: totalCount exact: totalCountIsExact edges { node { username } } } }`, &counted)
		if counted.Users.N != all.Users.TotalCount || !counted.Users.Exact {
			t.Errorf("aliased totalCount %d (exact %v), want %d (exact)", counted.Users.N, counted.Users.Exact, all.Users.TotalCount)
		}
		if withCount != withoutCount+1 {
			t.Errorf("%d SQL statements without totalCount, %d with it; want exactly one more", withoutCount, withCount)
		}
		var info struct {
			Users struct {
				PageInfo struct{ HasNextPage bool }
			}
		}
		c.MustDo(`{ users(first: 1) { pageInfo { hasNextPage } } }`, nil, &info)
		if !info.Users.PageInfo.HasNextPage {
			t.Errorf("pageInfo without edges: no next page, though %d users match", all.Users.TotalCount)
		}
	})
}

// TestSearchListScreenInFourStatements: the admin SPA's user list, as a
// manager types a name (a fragment, totalCount, home clinic and license
// class, by last name), costs at most four SQL statements: authentication,
// the count, the page and the home clinics (issue #16).
func TestSearchListScreenInFourStatements(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		const query = `query($name: String) {
  users(first: 20, filter: {name: $name}, orderBy: {field: LAST_NAME, direction: ASC}) {
    totalCount
    totalCountIsExact
    edges { node { id fullName homeClinic { name } licenseClass } }
  }
}`
		for _, name := range []string{"jor", "an", "xqz"} {
			fewest := int64(-1)
			for range 3 { // a background job may send a statement meanwhile
				var out struct {
					Users struct {
						TotalCount int
						Edges      []struct{ Node struct{ FullName string } }
					}
				}
				before := env.Statements()
				c.MustDo(query, map[string]any{"name": name}, &out)
				if n := env.Statements() - before; fewest < 0 || n < fewest {
					fewest = n
				}
				if name != "xqz" && out.Users.TotalCount == 0 {
					t.Fatalf("%q finds no one in the demo practice", name)
				}
			}
			if fewest > 4 {
				t.Errorf("searching %q sends %d SQL statements, want at most 4", name, fewest)
			}
		}
	})
}
