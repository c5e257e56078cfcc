package apitest_test

// Tenant isolation (R1) and the manager rules (R2, R3), through the GraphQL
// API over HTTP, on SQLite and PostgreSQL.
//
// The demo data has two practices: Sunrise Therapy Group (3 clinics, "admin"
// and 13 staff) and Harbor Rehab (clinic "Harbor Main", "harbor.admin"), plus
// the platform Support account "support". Every test signs in as these
// accounts and tries to reach the other practice's users, clinics, licenses,
// organization and license adjustments through every path the API offers.

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent/license"
	"github.com/clinicemr/usermanager/ent/licenseadjustment"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
)

// Names of the demo data.
const (
	isoSunriseName   = "Sunrise Therapy Group"
	isoHarborName    = "Harbor Rehab"
	isoDowntown      = "Sunrise Downtown"
	isoNorthside     = "Sunrise Northside"
	isoLakeview      = "Sunrise Lakeview"
	isoHarborMain    = "Harbor Main"
	isoHarborAdmin   = "harbor.admin"
	isoCodeNotFound  = "NOT_FOUND"
	isoCodeForbidden = "FORBIDDEN"
	isoCodeUnauth    = "UNAUTHENTICATED"
)

// isoSunriseUsers are the 14 users of Sunrise in the demo data.
var isoSunriseUsers = []string{
	demo.AdminUsername, "pt.jordan", "ot.casey", "slp.riley", "pta.taylor", "cota.morgan", "slpa.jamie",
	"spt.avery", "sot.quinn", "sslp.rowan", "front.desk", "billing.lee", "pt.sam", "pt.fillin",
}

// isoSunriseClinics are Sunrise's demo clinics.
var isoSunriseClinics = []string{isoDowntown, isoNorthside, isoLakeview}

// Demo license pools (THERAPIST, ASSISTANT, STUDENT, CLERICAL) summed over
// the organization.
var (
	isoSunriseTotals = map[string]int{"THERAPIST": 8, "ASSISTANT": 6, "STUDENT": 4, "CLERICAL": 6}
	isoHarborTotals  = map[string]int{"THERAPIST": 2, "ASSISTANT": 1, "STUDENT": 0, "CLERICAL": 1}
)

// ---------------------------------------------------------------------------
// Queries

const (
	isoQUsers = `query($f: UserSearch) { users(first: 100, filter: $f) {
		totalCount edges { node { id username } } } }`
	isoQClinics = `query($w: ClinicWhereInput) { clinics(first: 100, where: $w) {
		totalCount edges { node { id name organization { id name }
			users(first: 100) { totalCount edges { node { username } } } } } } }`
	isoQOrganizations = `query($w: OrganizationWhereInput) { organizations(first: 100, where: $w) {
		totalCount edges { node { id name clinics(first: 100) { totalCount edges { node { name } } } } } } }`
	isoQPermissions = `{ permissions(first: 100) { totalCount edges { node { key } } } }`
	isoQNode        = `query($id: ID!) { node(id: $id) { id __typename
		... on User { username email fullName homeClinic { name } userClinics: clinics { name } license { id } }
		... on Clinic { name organization { name } users(first: 100) { totalCount edges { node { username } } } }
		... on Organization { name clinics(first: 100) { totalCount edges { node { name } } } }
		... on License { class clinic { name } holder { username } }
		... on LicenseAdjustment { kind quantity clinic { name } requestedBy { username } } } }`
	isoQNodes = `query($ids: [ID!]!) { nodes(ids: $ids) { id __typename
		... on User { username } ... on Clinic { name } ... on Organization { name }
		... on License { class } ... on LicenseAdjustment { quantity } } }`
	isoQCounts = `query($c: ID, $o: ID) { licenseCounts(clinicId: $c, organizationId: $o) {
		clinic { id name } class total inUse available pendingAdditions pendingReleases } }`
	isoQViewer = `{ viewer { id username homeClinic { name users(first: 100) { totalCount edges { node { username } } } }
		clinics { id name } license { clinic { name } } } }`
	isoQCreateClinic = `mutation($in: CreateClinicInput!) { createClinic(input: $in) {
		clinic { id name organization { id name } } userErrors { field message code } } }`
	isoQCreateOrganization = `mutation($in: CreateOrganizationInput!) { createOrganization(input: $in) {
		organization { id name } clinic { id name } administrator { id username }
		userErrors { field message code } } }`
)

// Shapes of answers.

type isoUserConn struct {
	TotalCount int
	Edges      []struct {
		Node struct {
			ID       string
			Username string
		}
	}
}

func (c isoUserConn) usernames() []string {
	out := make([]string, 0, len(c.Edges))
	for _, e := range c.Edges {
		out = append(out, e.Node.Username)
	}
	sort.Strings(out)
	return out
}

type isoClinicNode struct {
	ID           string
	Name         string
	Organization struct{ ID, Name string }
	Users        isoUserConn
}

type isoClinicConn struct {
	TotalCount int
	Edges      []struct{ Node isoClinicNode }
}

func (c isoClinicConn) byName() map[string]isoClinicNode {
	out := map[string]isoClinicNode{}
	for _, e := range c.Edges {
		out[e.Node.Name] = e.Node
	}
	return out
}

type isoOrgConn struct {
	TotalCount int
	Edges      []struct {
		Node struct {
			ID      string
			Name    string
			Clinics struct {
				TotalCount int
				Edges      []struct{ Node struct{ Name string } }
			}
		}
	}
}

type isoLicenseCount struct {
	Clinic *struct{ ID, Name string }
	Class  string
	Total, InUse, Available,
	PendingAdditions, PendingReleases int
}

type isoNodeData struct {
	ID         string
	Typename   string `json:"__typename"`
	Username   string
	Name       string
	Class      string
	Quantity   int
	HomeClinic *struct{ Name string }
	Users      *isoUserConn
	Holder     *struct{ Username string }
}

// ---------------------------------------------------------------------------
// Fixture: the IDs of both practices, read through the API as Support.

type isoFixture struct {
	env     *apitest.Env
	support *apitest.Client
	admin   *apitest.Client // Sunrise's administrator
	harbor  *apitest.Client // Harbor's administrator

	org     map[string]string // organization name -> ID
	clinic  map[string]string // clinic name -> ID
	user    map[string]string // username -> ID
	license map[string]string // username -> ID of the license they hold
	// adjustment is a pending license adjustment of Sunrise (Downtown, add 2
	// Therapist licenses), requested by Sunrise's administrator.
	adjustment string
}

func isoNewFixture(t *testing.T, env *apitest.Env) *isoFixture {
	t.Helper()
	f := &isoFixture{
		env: env, support: env.LoginDemo(demo.SupportUsername),
		admin: env.LoginDemo(demo.AdminUsername), harbor: env.LoginDemo(isoHarborAdmin),
		org: map[string]string{}, clinic: map[string]string{}, user: map[string]string{}, license: map[string]string{},
	}
	var out struct {
		Organizations isoOrgConn
		Clinics       isoClinicConn
		Users         struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					ID       string
					Username string
					License  *struct{ ID string }
				}
			}
		}
	}
	isoMustDo(t, f.support, `{
		organizations(first: 100) { totalCount edges { node { id name clinics(first: 100) { totalCount edges { node { name } } } } } }
		clinics(first: 100) { totalCount edges { node { id name organization { id name } users(first: 100) { totalCount } } } }
		users(first: 100) { totalCount edges { node { id username license { id } } } } }`, nil, &out)
	for _, e := range out.Organizations.Edges {
		f.org[e.Node.Name] = e.Node.ID
	}
	for _, e := range out.Clinics.Edges {
		f.clinic[e.Node.Name] = e.Node.ID
	}
	for _, e := range out.Users.Edges {
		f.user[e.Node.Username] = e.Node.ID
		if e.Node.License != nil {
			f.license[e.Node.Username] = e.Node.License.ID
		}
	}
	for _, name := range []string{isoSunriseName, isoHarborName} {
		if f.org[name] == "" {
			t.Fatalf("fixture: Support does not see organization %q: %+v", name, out.Organizations)
		}
	}
	for _, name := range append(slices.Clone(isoSunriseClinics), isoHarborMain) {
		if f.clinic[name] == "" {
			t.Fatalf("fixture: Support does not see clinic %q", name)
		}
	}
	for _, name := range append(slices.Clone(isoSunriseUsers), isoHarborAdmin) {
		if f.user[name] == "" {
			t.Fatalf("fixture: Support does not see user %q", name)
		}
	}
	for _, name := range []string{demo.AdminUsername, "pt.jordan", "ot.casey", isoHarborAdmin} {
		if f.license[name] == "" {
			t.Fatalf("fixture: %s holds no license", name)
		}
	}
	// A pending license adjustment of Sunrise, written directly: the API has
	// no mutation for it yet.
	sys := isoSystemContext()
	adj, err := env.DB.Client.LicenseAdjustment.Create().
		SetOrganizationID(f.rawID(t, f.org[isoSunriseName])).
		SetClinicID(f.rawID(t, f.clinic[isoDowntown])).
		SetClass(staff.Therapist).SetKind(licenseadjustment.KindADD).SetQuantity(2).
		SetExplanation("new hire at Sunrise Downtown").
		SetRequestedByID(f.rawID(t, f.user[demo.AdminUsername])).
		SetDueAt(time.Now().Add(24 * time.Hour)).
		Save(sys)
	if err != nil {
		t.Fatalf("fixture: creating a license adjustment: %v", err)
	}
	f.adjustment = gid.Encode(adj.ID)
	return f
}

func isoSystemContext() context.Context {
	return privacy.DecisionContext(context.Background(), privacy.Allow)
}

// rawID is the database ID behind an opaque API ID (for test setup only).
func (f *isoFixture) rawID(t *testing.T, id string) int {
	t.Helper()
	n, err := gid.Decode(id)
	if err != nil {
		t.Fatalf("decoding ID %q: %v", id, err)
	}
	return n
}

// sunriseObjects are IDs of Sunrise objects of every kind, by a label.
func (f *isoFixture) sunriseObjects() map[string]string {
	return map[string]string{
		"organization":                   f.org[isoSunriseName],
		"clinic " + isoDowntown:          f.clinic[isoDowntown],
		"clinic " + isoNorthside:         f.clinic[isoNorthside],
		"clinic " + isoLakeview:          f.clinic[isoLakeview],
		"user admin":                     f.user[demo.AdminUsername],
		"user pt.jordan":                 f.user["pt.jordan"],
		"user front.desk":                f.user["front.desk"],
		"license of admin":               f.license[demo.AdminUsername],
		"license of pt.jordan":           f.license["pt.jordan"],
		"pending license adjustment":     f.adjustment,
		"license of ot.casey (Downtown)": f.license["ot.casey"],
	}
}

// harborObjects are IDs of Harbor objects of every kind, by a label.
func (f *isoFixture) harborObjects() map[string]string {
	return map[string]string{
		"organization":            f.org[isoHarborName],
		"clinic " + isoHarborMain: f.clinic[isoHarborMain],
		"user " + isoHarborAdmin:  f.user[isoHarborAdmin],
		"license of harbor.admin": f.license[isoHarborAdmin],
	}
}

// isoSunriseMarkers are strings that only Sunrise's data contains; none may
// appear in an answer to Harbor. ("admin" is left out: it is part of
// "harbor.admin".)
func isoSunriseMarkers() []string {
	return append([]string{"sunrise", "Alex Morgan"}, isoSunriseUsers[1:]...)
}

// isoHarborMarkers are strings that only Harbor's data contains.
func isoHarborMarkers() []string { return []string{"harbor", "Harper", "Quint"} }

// ---------------------------------------------------------------------------
// Assertions

func isoMustDo(t *testing.T, c *apitest.Client, query string, vars map[string]any, out any) {
	t.Helper()
	r := c.Do(query, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("query failed: %s\nquery: %s", r.Body, strings.TrimSpace(query))
	}
	if out != nil {
		r.Decode(t, out)
	}
}

// isoAssertNoLeak fails when the raw answer mentions any marker (any case).
func isoAssertNoLeak(t *testing.T, r *apitest.Response, markers []string) {
	t.Helper()
	body := strings.ToLower(string(r.Body))
	for _, m := range markers {
		if strings.Contains(body, strings.ToLower(m)) {
			t.Errorf("answer leaks %q of the other organization: %s", m, r.Body)
		}
	}
}

// isoDataField returns the JSON of a top-level field of data ("null" when data
// or the field is null or missing).
func isoDataField(t *testing.T, r *apitest.Response, field string) string {
	t.Helper()
	if len(r.Data) == 0 || string(r.Data) == "null" {
		return "null"
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("data is not an object: %s", r.Data)
	}
	v, ok := data[field]
	if !ok {
		return "null"
	}
	return string(v)
}

// isoAssertRefused checks that the request failed with one of the codes and
// that field holds no data.
func isoAssertRefused(t *testing.T, r *apitest.Response, field string, codes ...string) {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("want an error %v, got none: %s", codes, r.Body)
	}
	if !slices.Contains(codes, r.Code()) {
		t.Errorf("extensions.code = %q, want one of %v: %s", r.Code(), codes, r.Body)
	}
	if v := isoDataField(t, r, field); v != "null" {
		t.Errorf("refused request still answered %s = %s", field, v)
	}
}

// isoAssertNullNode checks that node(id:) gave nothing: a null node, with at
// most NOT_FOUND or FORBIDDEN errors.
func isoAssertNullNode(t *testing.T, r *apitest.Response) {
	t.Helper()
	if v := isoDataField(t, r, "node"); v != "null" {
		t.Errorf("node = %s, want null", v)
	}
	for _, code := range r.Codes() {
		if code != isoCodeNotFound && code != isoCodeForbidden {
			t.Errorf("node error code %q, want NOT_FOUND or FORBIDDEN: %s", code, r.Body)
		}
	}
}

// isoAssertNodes checks nodes(ids:): want[i] is the expected id of entry i, or
// "" for null. Errors, if any, must be NOT_FOUND or FORBIDDEN.
func isoAssertNodes(t *testing.T, r *apitest.Response, want []string) {
	t.Helper()
	for _, code := range r.Codes() {
		if code != isoCodeNotFound && code != isoCodeForbidden {
			t.Errorf("nodes error code %q, want NOT_FOUND or FORBIDDEN: %s", code, r.Body)
		}
	}
	var out struct{ Nodes []*isoNodeData }
	r.Decode(t, &out)
	if len(out.Nodes) != len(want) {
		t.Fatalf("nodes returned %d entries, want %d: %s", len(out.Nodes), len(want), r.Body)
	}
	for i, w := range want {
		got := out.Nodes[i]
		switch {
		case w == "" && got != nil:
			t.Errorf("nodes[%d] = %+v, want null", i, *got)
		case w != "" && got == nil:
			t.Errorf("nodes[%d] = null, want %s", i, w)
		case w != "" && got.ID != w:
			t.Errorf("nodes[%d].id = %s, want %s", i, got.ID, w)
		}
	}
}

func isoAssertUsers(t *testing.T, r *apitest.Response, want ...string) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("users failed: %s", r.Body)
	}
	var out struct{ Users isoUserConn }
	r.Decode(t, &out)
	want = slices.Clone(want)
	sort.Strings(want)
	if got := out.Users.usernames(); !slices.Equal(got, want) {
		t.Errorf("users = %v, want %v", got, want)
	}
	if out.Users.TotalCount != len(want) {
		t.Errorf("users totalCount = %d, want %d", out.Users.TotalCount, len(want))
	}
}

func isoAssertCountsTotals(t *testing.T, r *apitest.Response, want map[string]int) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("licenseCounts failed: %s", r.Body)
	}
	var out struct{ LicenseCounts []isoLicenseCount }
	r.Decode(t, &out)
	got := map[string]int{}
	for _, c := range out.LicenseCounts {
		got[c.Class] = c.Total
	}
	for class, n := range want {
		if got[class] != n {
			t.Errorf("licenseCounts %s total = %d, want %d (all: %+v)", class, got[class], n, out.LicenseCounts)
		}
	}
}

func isoIds(vals ...string) []string { return vals }

// ---------------------------------------------------------------------------
// R1: Harbor's administrator reads Sunrise's data.

func TestIsolationHarborAdminSearchAndLists(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		f := isoNewFixture(t, env)
		type tc struct {
			name  string
			query string
			vars  map[string]any
			check func(t *testing.T, r *apitest.Response)
		}
		cases := []tc{
			{"users unfiltered", isoQUsers, nil, func(t *testing.T, r *apitest.Response) {
				isoAssertUsers(t, r, isoHarborAdmin)
			}},
			{"users by Sunrise username", isoQUsers, map[string]any{"f": map[string]any{"username": "pt."}},
				func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r) }},
			{"users by Sunrise name", isoQUsers, map[string]any{"f": map[string]any{"name": "Jordan"}},
				func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r) }},
			{"users by Sunrise email", isoQUsers, map[string]any{"f": map[string]any{"email": "sunrise-therapy"}},
				func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r) }},
			{"users by type of Sunrise staff", isoQUsers, map[string]any{"f": map[string]any{"userTypes": []string{"PT", "OT", "SLP"}}},
				func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r) }},
			{"users by status", isoQUsers, map[string]any{"f": map[string]any{"statuses": []string{"ACTIVE", "INACTIVE"}}},
				func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r, isoHarborAdmin) }},
			{"users ordered by username, last page", `{ users(last: 100, orderBy: {field: USERNAME, direction: DESC}) {
				totalCount edges { node { id username } } } }`, nil,
				func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r, isoHarborAdmin) }},
			{"clinics", isoQClinics, nil, func(t *testing.T, r *apitest.Response) {
				var out struct{ Clinics isoClinicConn }
				r.Decode(t, &out)
				got := out.Clinics.byName()
				if out.Clinics.TotalCount != 1 || len(got) != 1 {
					t.Fatalf("clinics = %+v, want only %s", out.Clinics, isoHarborMain)
				}
				c := got[isoHarborMain]
				if c.Organization.Name != isoHarborName {
					t.Errorf("Harbor Main's organization = %+v", c.Organization)
				}
				// The users edge counts only Harbor's users.
				if c.Users.TotalCount != 1 || !slices.Equal(c.Users.usernames(), []string{isoHarborAdmin}) {
					t.Errorf("Harbor Main users = %d %v, want 1 [%s]", c.Users.TotalCount, c.Users.usernames(), isoHarborAdmin)
				}
			}},
			{"clinics where id is Sunrise's", isoQClinics, map[string]any{"w": map[string]any{"idIn": []string{
				f.clinic[isoDowntown], f.clinic[isoNorthside], f.clinic[isoLakeview]}}},
				func(t *testing.T, r *apitest.Response) { isoAssertNoClinics(t, r) }},
			{"clinics where name contains Sunrise", isoQClinics, map[string]any{"w": map[string]any{"nameContainsFold": "sunrise"}},
				func(t *testing.T, r *apitest.Response) { isoAssertNoClinics(t, r) }},
			{"clinics where organization is Sunrise", isoQClinics, map[string]any{"w": map[string]any{
				"hasOrganizationWith": []any{map[string]any{"id": f.org[isoSunriseName]}}}},
				func(t *testing.T, r *apitest.Response) { isoAssertNoClinics(t, r) }},
			{"organizations", isoQOrganizations, nil, func(t *testing.T, r *apitest.Response) {
				var out struct{ Organizations isoOrgConn }
				r.Decode(t, &out)
				if out.Organizations.TotalCount != 1 || len(out.Organizations.Edges) != 1 ||
					out.Organizations.Edges[0].Node.Name != isoHarborName {
					t.Fatalf("organizations = %+v, want only %s", out.Organizations, isoHarborName)
				}
				if n := out.Organizations.Edges[0].Node.Clinics.TotalCount; n != 1 {
					t.Errorf("Harbor's clinics totalCount = %d, want 1", n)
				}
			}},
			{"organizations where id is Sunrise's", isoQOrganizations, map[string]any{"w": map[string]any{"id": f.org[isoSunriseName]}},
				func(t *testing.T, r *apitest.Response) { isoAssertNoOrganizations(t, r) }},
			{"organizations where name is Sunrise's", isoQOrganizations, map[string]any{"w": map[string]any{"name": isoSunriseName}},
				func(t *testing.T, r *apitest.Response) { isoAssertNoOrganizations(t, r) }},
			{"permissions (the global catalog)", isoQPermissions, nil, func(t *testing.T, r *apitest.Response) {
				isoAssertCatalog(t, r)
			}},
			{"viewer and its edges", isoQViewer, nil, func(t *testing.T, r *apitest.Response) {
				var out struct {
					Viewer struct {
						Username   string
						HomeClinic struct {
							Name  string
							Users isoUserConn
						}
						Clinics []struct{ Name string }
						License struct{ Clinic struct{ Name string } }
					}
				}
				r.Decode(t, &out)
				v := out.Viewer
				if v.Username != isoHarborAdmin || v.HomeClinic.Name != isoHarborMain || len(v.Clinics) != 1 ||
					v.Clinics[0].Name != isoHarborMain || v.License.Clinic.Name != isoHarborMain {
					t.Errorf("viewer = %+v", v)
				}
				if v.HomeClinic.Users.TotalCount != 1 {
					t.Errorf("viewer.homeClinic.users totalCount = %d, want 1", v.HomeClinic.Users.TotalCount)
				}
			}},
			{"users of every clinic of own organization", `{ organizations { edges { node { clinics { edges { node {
				name users(first: 100) { totalCount edges { node { username } } } } } } } } } }`, nil,
				func(t *testing.T, r *apitest.Response) {
					var out struct {
						Organizations struct {
							Edges []struct {
								Node struct{ Clinics isoClinicConn }
							}
						}
					}
					r.Decode(t, &out)
					total := 0
					for _, o := range out.Organizations.Edges {
						for _, c := range o.Node.Clinics.Edges {
							total += c.Node.Users.TotalCount
						}
					}
					if total != 1 {
						t.Errorf("users reachable through organizations.clinics.users = %d, want 1", total)
					}
				}},
			{"licenseCounts of own organization", isoQCounts, nil, func(t *testing.T, r *apitest.Response) {
				isoAssertCountsTotals(t, r, isoHarborTotals)
				var out struct{ LicenseCounts []isoLicenseCount }
				r.Decode(t, &out)
				for _, c := range out.LicenseCounts {
					// Sunrise's pending adjustment must not show up here.
					if c.PendingAdditions != 0 || c.PendingReleases != 0 {
						t.Errorf("Harbor's %s counts show pending adjustments: %+v", c.Class, c)
					}
					if c.Class == "CLERICAL" && c.InUse != 1 {
						t.Errorf("Harbor's CLERICAL inUse = %d, want 1", c.InUse)
					}
				}
			}},
			{"licenseCounts of own clinic naming Sunrise's organization", isoQCounts,
				map[string]any{"c": f.clinic[isoHarborMain], "o": f.org[isoSunriseName]},
				func(t *testing.T, r *apitest.Response) {
					// Refused, or else Harbor Main's own counts; never Sunrise's.
					if len(r.Errors) > 0 {
						isoAssertRefused(t, r, "licenseCounts", isoCodeNotFound, isoCodeForbidden)
						return
					}
					isoAssertCountsTotals(t, r, isoHarborTotals)
				}},
			{"licenseCounts of Sunrise's organization", isoQCounts, map[string]any{"o": f.org[isoSunriseName]},
				func(t *testing.T, r *apitest.Response) { isoAssertRefused(t, r, "licenseCounts", isoCodeNotFound) }},
		}
		for _, name := range isoSunriseClinics {
			cases = append(cases,
				tc{"users with access to " + name, isoQUsers, map[string]any{"f": map[string]any{"clinicId": f.clinic[name]}},
					func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r) }},
				tc{"licenseCounts of " + name, isoQCounts, map[string]any{"c": f.clinic[name]},
					func(t *testing.T, r *apitest.Response) { isoAssertRefused(t, r, "licenseCounts", isoCodeNotFound) }},
			)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := f.harbor.Do(c.query, c.vars)
				c.check(t, r)
				isoAssertNoLeak(t, r, isoSunriseMarkers())
			})
		}
	})
}

func isoAssertNoClinics(t *testing.T, r *apitest.Response) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("clinics failed: %s", r.Body)
	}
	var out struct{ Clinics isoClinicConn }
	r.Decode(t, &out)
	if out.Clinics.TotalCount != 0 || len(out.Clinics.Edges) != 0 {
		t.Errorf("clinics = %+v, want none", out.Clinics)
	}
}

func isoAssertNoOrganizations(t *testing.T, r *apitest.Response) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("organizations failed: %s", r.Body)
	}
	var out struct{ Organizations isoOrgConn }
	r.Decode(t, &out)
	if out.Organizations.TotalCount != 0 || len(out.Organizations.Edges) != 0 {
		t.Errorf("organizations = %+v, want none", out.Organizations)
	}
}

func isoAssertCatalog(t *testing.T, r *apitest.Response) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("permissions failed: %s", r.Body)
	}
	var out struct {
		Permissions struct {
			TotalCount int
			Edges      []struct{ Node struct{ Key string } }
		}
	}
	r.Decode(t, &out)
	var got, want []string
	for _, e := range out.Permissions.Edges {
		got = append(got, e.Node.Key)
	}
	for _, e := range permissions.Catalog {
		want = append(want, e.Key)
	}
	sort.Strings(got)
	sort.Strings(want)
	if out.Permissions.TotalCount != len(want) || !slices.Equal(got, want) {
		t.Errorf("permissions = %d %v, want the catalog %d %v", out.Permissions.TotalCount, got, len(want), want)
	}
}

// ---------------------------------------------------------------------------
// R1: node(id:) and nodes(ids:) across organizations, both ways.

func TestIsolationNodeLookups(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		f := isoNewFixture(t, env)

		// Support resolves every object: the IDs are right, so a null below
		// means hidden, not mistyped.
		t.Run("Support resolves both organizations' objects", func(t *testing.T) {
			all := f.sunriseObjects()
			for k, v := range f.harborObjects() {
				all["harbor "+k] = v
			}
			for label, id := range all {
				var out struct{ Node *isoNodeData }
				isoMustDo(t, f.support, isoQNode, map[string]any{"id": id}, &out)
				if out.Node == nil || out.Node.ID != id {
					t.Errorf("Support: node(%s) = %+v, want the object", label, out.Node)
				}
			}
		})

		for label, id := range f.sunriseObjects() {
			t.Run("Harbor admin: node of Sunrise's "+label, func(t *testing.T) {
				r := f.harbor.Do(isoQNode, map[string]any{"id": id})
				isoAssertNullNode(t, r)
				isoAssertNoLeak(t, r, isoSunriseMarkers())
			})
		}
		for label, id := range f.harborObjects() {
			t.Run("Sunrise admin: node of Harbor's "+label, func(t *testing.T) {
				r := f.admin.Do(isoQNode, map[string]any{"id": id})
				isoAssertNullNode(t, r)
				isoAssertNoLeak(t, r, isoHarborMarkers())
			})
		}

		t.Run("Harbor admin: nodes of all Sunrise objects", func(t *testing.T) {
			var list []string
			for _, id := range f.sunriseObjects() {
				list = append(list, id)
			}
			r := f.harbor.Do(isoQNodes, map[string]any{"ids": list})
			isoAssertNodes(t, r, make([]string, len(list)))
			isoAssertNoLeak(t, r, isoSunriseMarkers())
		})
		t.Run("Harbor admin: nodes mixing own and Sunrise objects", func(t *testing.T) {
			list := isoIds(f.clinic[isoHarborMain], f.clinic[isoDowntown], f.user[isoHarborAdmin], f.user["pt.jordan"],
				f.org[isoHarborName], f.org[isoSunriseName], f.license[isoHarborAdmin], f.license["pt.jordan"], f.adjustment)
			r := f.harbor.Do(isoQNodes, map[string]any{"ids": list})
			isoAssertNodes(t, r, isoIds(f.clinic[isoHarborMain], "", f.user[isoHarborAdmin], "", f.org[isoHarborName], "",
				f.license[isoHarborAdmin], "", ""))
			isoAssertNoLeak(t, r, isoSunriseMarkers())
		})
		t.Run("Harbor admin: nodes of one Sunrise user", func(t *testing.T) {
			r := f.harbor.Do(isoQNodes, map[string]any{"ids": isoIds(f.user[demo.AdminUsername])})
			if len(r.Errors) > 0 && isoDataField(t, r, "nodes") == "null" {
				// The single-ID path may fail the whole field; that is a
				// refusal too, provided the code is right.
				isoAssertRefused(t, r, "nodes", isoCodeNotFound, isoCodeForbidden)
			} else {
				isoAssertNodes(t, r, isoIds(""))
			}
			isoAssertNoLeak(t, r, isoSunriseMarkers())
		})
		t.Run("Sunrise admin: nodes mixing own and Harbor objects", func(t *testing.T) {
			list := isoIds(f.clinic[isoHarborMain], f.clinic[isoDowntown], f.user[isoHarborAdmin], f.user["pt.jordan"], f.org[isoHarborName])
			r := f.admin.Do(isoQNodes, map[string]any{"ids": list})
			isoAssertNodes(t, r, isoIds("", f.clinic[isoDowntown], "", f.user["pt.jordan"], ""))
			isoAssertNoLeak(t, r, isoHarborMarkers())
		})
		t.Run("Sunrise admin: users of Harbor Main through node", func(t *testing.T) {
			r := f.admin.Do(`query($id: ID!) { node(id: $id) { ... on Clinic { name
				users(first: 100) { totalCount edges { node { username } } } } } }`, map[string]any{"id": f.clinic[isoHarborMain]})
			isoAssertNullNode(t, r)
			isoAssertNoLeak(t, r, isoHarborMarkers())
		})
		t.Run("Sunrise admin: users with access to Harbor Main", func(t *testing.T) {
			r := f.admin.Do(isoQUsers, map[string]any{"f": map[string]any{"clinicId": f.clinic[isoHarborMain]}})
			isoAssertUsers(t, r)
		})
		t.Run("Sunrise admin: licenseCounts of Harbor", func(t *testing.T) {
			isoAssertRefused(t, f.admin.Do(isoQCounts, map[string]any{"c": f.clinic[isoHarborMain]}), "licenseCounts", isoCodeNotFound)
			isoAssertRefused(t, f.admin.Do(isoQCounts, map[string]any{"o": f.org[isoHarborName]}), "licenseCounts", isoCodeNotFound)
		})
		t.Run("Sunrise admin: own objects stay reachable", func(t *testing.T) {
			for label, id := range f.sunriseObjects() {
				var out struct{ Node *isoNodeData }
				isoMustDo(t, f.admin, isoQNode, map[string]any{"id": id}, &out)
				if out.Node == nil || out.Node.ID != id {
					t.Errorf("admin: node(%s) = %+v, want the object", label, out.Node)
				}
			}
			var out struct{ Users isoUserConn }
			isoMustDo(t, f.admin, isoQUsers, nil, &out)
			if want := append([]string(nil), isoSunriseUsers...); out.Users.TotalCount != len(want) ||
				!slices.Equal(out.Users.usernames(), isoSorted(want)) {
				t.Errorf("admin: users = %d %v, want Sunrise's %d", out.Users.TotalCount, out.Users.usernames(), len(want))
			}
		})
	})
}

func isoSorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// ---------------------------------------------------------------------------
// R1: mutations into another organization.

func TestIsolationMutations(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		f := isoNewFixture(t, env)
		jordan := env.LoginDemo("pt.jordan")
		therapists5 := []any{map[string]any{"class": "THERAPIST", "quantity": 5}}

		cases := []struct {
			name   string
			client *apitest.Client
			input  map[string]any
			codes  []string
		}{
			{"Harbor admin into Sunrise's organization", f.harbor,
				map[string]any{"organizationId": f.org[isoSunriseName], "name": "X"}, isoIds(isoCodeNotFound)},
			{"Harbor admin into Sunrise's organization with licenses", f.harbor,
				map[string]any{"organizationId": f.org[isoSunriseName], "name": "X", "licenses": therapists5},
				isoIds(isoCodeNotFound, isoCodeForbidden)},
			{"Harbor admin naming a Sunrise clinic as the organization", f.harbor,
				map[string]any{"organizationId": f.clinic[isoDowntown], "name": "X"}, isoIds(isoCodeNotFound)},
			{"Harbor admin with licenses in own organization", f.harbor,
				map[string]any{"name": "X", "licenses": therapists5}, isoIds(isoCodeForbidden)},
			{"Harbor admin with licenses naming own organization", f.harbor,
				map[string]any{"organizationId": f.org[isoHarborName], "name": "X", "licenses": therapists5}, isoIds(isoCodeForbidden)},
			{"Sunrise admin into Harbor's organization", f.admin,
				map[string]any{"organizationId": f.org[isoHarborName], "name": "X"}, isoIds(isoCodeNotFound)},
			{"staff without Company Admin into own organization", jordan,
				map[string]any{"name": "X"}, isoIds(isoCodeForbidden)},
			{"staff without Company Admin into Harbor", jordan,
				map[string]any{"organizationId": f.org[isoHarborName], "name": "X"}, isoIds(isoCodeNotFound, isoCodeForbidden)},
		}
		for _, c := range cases {
			t.Run("createClinic: "+c.name, func(t *testing.T) {
				r := c.client.Do(isoQCreateClinic, map[string]any{"in": c.input})
				isoAssertRefused(t, r, "createClinic", c.codes...)
			})
		}

		newOrg := map[string]any{
			"name": "Intruder Practice", "clinicName": "Intruder Clinic",
			"licenses": therapists5,
			"administrator": map[string]any{
				"username": "intruder.admin", "email": "intruder@intruder.example",
				"password": "Kx9!vQz#2mWp$7Lr", "firstName": "Ivan", "lastName": "Intruder",
			},
		}
		for _, c := range []struct {
			name   string
			client *apitest.Client
			code   string
		}{
			{"Harbor admin", f.harbor, isoCodeForbidden},
			{"Sunrise admin", f.admin, isoCodeForbidden},
			{"staff", jordan, isoCodeForbidden},
			{"anonymous", env.Anonymous(), isoCodeUnauth},
		} {
			t.Run("createOrganization: "+c.name, func(t *testing.T) {
				r := c.client.Do(isoQCreateOrganization, map[string]any{"in": newOrg})
				isoAssertRefused(t, r, "createOrganization", c.code)
			})
		}

		t.Run("nothing was written", func(t *testing.T) {
			var clinicsX struct{ Clinics isoClinicConn }
			isoMustDo(t, f.support, isoQClinics, map[string]any{"w": map[string]any{"nameIn": []string{"X", "Intruder Clinic"}}}, &clinicsX)
			if clinicsX.Clinics.TotalCount != 0 {
				t.Errorf("Support sees refused clinics: %+v", clinicsX.Clinics)
			}
			var sunriseX struct{ Clinics isoClinicConn }
			isoMustDo(t, f.admin, isoQClinics, map[string]any{"w": map[string]any{"name": "X"}}, &sunriseX)
			if sunriseX.Clinics.TotalCount != 0 {
				t.Errorf("Sunrise admin sees a clinic X: %+v", sunriseX.Clinics)
			}
			var sunrise struct{ Clinics isoClinicConn }
			isoMustDo(t, f.admin, isoQClinics, nil, &sunrise)
			if sunrise.Clinics.TotalCount != 3 {
				t.Errorf("Sunrise admin sees %d clinics, want 3: %v", sunrise.Clinics.TotalCount, sunrise.Clinics.byName())
			}
			var harbor struct{ Clinics isoClinicConn }
			isoMustDo(t, f.harbor, isoQClinics, nil, &harbor)
			if harbor.Clinics.TotalCount != 1 {
				t.Errorf("Harbor admin sees %d clinics, want 1", harbor.Clinics.TotalCount)
			}
			var orgs struct{ Organizations isoOrgConn }
			isoMustDo(t, f.support, isoQOrganizations, nil, &orgs)
			if orgs.Organizations.TotalCount != 2 {
				t.Errorf("Support sees %d organizations, want 2", orgs.Organizations.TotalCount)
			}
			isoAssertUsers(t, f.support.Do(isoQUsers, map[string]any{"f": map[string]any{"username": "intruder"}}))
			isoAssertCountsTotals(t, f.support.Do(isoQCounts, map[string]any{"o": f.org[isoSunriseName]}), isoSunriseTotals)
			isoAssertCountsTotals(t, f.support.Do(isoQCounts, map[string]any{"o": f.org[isoHarborName]}), isoHarborTotals)
		})

		// Control: the refusals above are not a broken mutation. A clinic
		// name Sunrise uses is free in Harbor (no NAME_TAKEN revealing
		// another practice's clinic), and the new clinic stays in Harbor.
		t.Run("Harbor admin creates a clinic in own organization", func(t *testing.T) {
			var out struct {
				CreateClinic struct {
					Clinic *struct {
						ID           string
						Name         string
						Organization struct{ ID, Name string }
					}
					UserErrors []apitest.UserError
				}
			}
			isoMustDo(t, f.harbor, isoQCreateClinic, map[string]any{"in": map[string]any{"name": isoDowntown}}, &out)
			c := out.CreateClinic.Clinic
			if len(out.CreateClinic.UserErrors) > 0 || c == nil {
				t.Fatalf("createClinic %q in Harbor: %+v", isoDowntown, out.CreateClinic.UserErrors)
			}
			if c.Organization.ID != f.org[isoHarborName] {
				t.Errorf("new clinic's organization = %+v, want Harbor", c.Organization)
			}
			isoAssertNullNode(t, f.admin.Do(isoQNode, map[string]any{"id": c.ID}))
			var sunrise struct{ Clinics isoClinicConn }
			isoMustDo(t, f.admin, isoQClinics, nil, &sunrise)
			if sunrise.Clinics.TotalCount != 3 || sunrise.Clinics.byName()[isoDowntown].ID != f.clinic[isoDowntown] {
				t.Errorf("Sunrise admin's clinics changed: %+v", sunrise.Clinics)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// Anonymous requests.

func TestIsolationAnonymous(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		f := isoNewFixture(t, env)
		anon := env.Anonymous()
		badToken := env.Anonymous()
		badToken.Token = "not-a-token"
		cases := []struct {
			name, field, query string
			vars               map[string]any
		}{
			{"users", "users", isoQUsers, nil},
			{"users by clinic", "users", isoQUsers, map[string]any{"f": map[string]any{"clinicId": f.clinic[isoDowntown]}}},
			{"clinics", "clinics", isoQClinics, nil},
			{"organizations", "organizations", isoQOrganizations, nil},
			{"permissions", "permissions", isoQPermissions, nil},
			{"node of a user", "node", isoQNode, map[string]any{"id": f.user[demo.AdminUsername]}},
			{"node of a clinic", "node", isoQNode, map[string]any{"id": f.clinic[isoDowntown]}},
			{"node of an organization", "node", isoQNode, map[string]any{"id": f.org[isoSunriseName]}},
			{"node of a license", "node", isoQNode, map[string]any{"id": f.license["pt.jordan"]}},
			{"node of a license adjustment", "node", isoQNode, map[string]any{"id": f.adjustment}},
			{"nodes of one user", "nodes", isoQNodes, map[string]any{"ids": isoIds(f.user["pt.jordan"])}},
			{"licenseCounts", "licenseCounts", isoQCounts, nil},
			{"licenseCounts of a clinic", "licenseCounts", isoQCounts, map[string]any{"c": f.clinic[isoDowntown]}},
			{"licenseCounts of an organization", "licenseCounts", isoQCounts, map[string]any{"o": f.org[isoSunriseName]}},
			{"createClinic", "createClinic", isoQCreateClinic, map[string]any{"in": map[string]any{
				"organizationId": f.org[isoSunriseName], "name": "X"}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := anon.Do(c.query, c.vars)
				isoAssertRefused(t, r, c.field, isoCodeUnauth)
				isoAssertNoLeak(t, r, append(isoSunriseMarkers(), isoHarborMarkers()...))
			})
			t.Run(c.name+" with an invalid token", func(t *testing.T) {
				r := badToken.Do(c.query, c.vars)
				isoAssertRefused(t, r, c.field, isoCodeUnauth)
				isoAssertNoLeak(t, r, append(isoSunriseMarkers(), isoHarborMarkers()...))
			})
		}
		t.Run("nodes of several objects", func(t *testing.T) {
			r := anon.Do(isoQNodes, map[string]any{"ids": isoIds(f.user["pt.jordan"], f.clinic[isoDowntown], f.org[isoHarborName])})
			if len(r.Errors) == 0 {
				t.Fatalf("want UNAUTHENTICATED, got %s", r.Body)
			}
			for _, code := range r.Codes() {
				if code != isoCodeUnauth {
					t.Errorf("code %q, want UNAUTHENTICATED: %s", code, r.Body)
				}
			}
			if v := isoDataField(t, r, "nodes"); v != "null" && v != "[null,null,null]" {
				t.Errorf("anonymous nodes = %s, want nothing", v)
			}
			isoAssertNoLeak(t, r, append(isoSunriseMarkers(), isoHarborMarkers()...))
		})
		t.Run("viewer is null", func(t *testing.T) {
			r := anon.Do(`{ viewer { id username } }`, nil)
			if len(r.Errors) > 0 || isoDataField(t, r, "viewer") != "null" {
				t.Errorf("anonymous viewer: %s, want null without errors", r.Body)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// R2: staff without View Users see only themselves.

func TestIsolationStaffWithoutViewUsers(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		f := isoNewFixture(t, env)
		for _, s := range []struct {
			username, colleague string
			clinics             []string // the clinics the staff member has access to
		}{
			{"pt.jordan", "ot.casey", []string{isoDowntown, isoNorthside}},
			{"front.desk", "pt.jordan", []string{isoDowntown, isoNorthside, isoLakeview}},
		} {
			t.Run(s.username, func(t *testing.T) {
				c := env.LoginDemo(s.username)
				self, colleague := f.user[s.username], f.user[s.colleague]

				t.Run("users is forbidden", func(t *testing.T) {
					isoAssertRefused(t, c.Do(isoQUsers, nil), "users", isoCodeForbidden)
					isoAssertRefused(t, c.Do(isoQUsers, map[string]any{"f": map[string]any{"clinicId": f.clinic[isoDowntown]}}),
						"users", isoCodeForbidden)
					isoAssertRefused(t, c.Do(isoQUsers, map[string]any{"f": map[string]any{"username": s.username}}),
						"users", isoCodeForbidden)
				})
				t.Run("licenseCounts is forbidden", func(t *testing.T) {
					isoAssertRefused(t, c.Do(isoQCounts, nil), "licenseCounts", isoCodeForbidden)
					isoAssertRefused(t, c.Do(isoQCounts, map[string]any{"c": f.clinic[isoDowntown]}), "licenseCounts", isoCodeForbidden)
				})
				t.Run("node of a colleague is null", func(t *testing.T) {
					for _, other := range []string{s.colleague, demo.AdminUsername, "billing.lee"} {
						r := c.Do(isoQNode, map[string]any{"id": f.user[other]})
						isoAssertNullNode(t, r)
						isoAssertNoLeak(t, r, []string{other + "@"})
					}
				})
				t.Run("node of a Harbor user is null", func(t *testing.T) {
					isoAssertNullNode(t, c.Do(isoQNode, map[string]any{"id": f.user[isoHarborAdmin]}))
				})
				t.Run("node of self", func(t *testing.T) {
					var out struct{ Node *isoNodeData }
					isoMustDo(t, c, isoQNode, map[string]any{"id": self}, &out)
					if out.Node == nil || out.Node.Username != s.username {
						t.Errorf("node(self) = %+v, want %s", out.Node, s.username)
					}
				})
				t.Run("nodes of self and a colleague", func(t *testing.T) {
					isoAssertNodes(t, c.Do(isoQNodes, map[string]any{"ids": isoIds(self, colleague)}), isoIds(self, ""))
				})
				t.Run("viewer's clinic lists only self", func(t *testing.T) {
					var out struct {
						Viewer struct {
							Username   string
							HomeClinic struct{ Users isoUserConn }
						}
					}
					isoMustDo(t, c, isoQViewer, nil, &out)
					u := out.Viewer.HomeClinic.Users
					if out.Viewer.Username != s.username || u.TotalCount != 1 ||
						!slices.Equal(u.usernames(), []string{s.username}) {
						t.Errorf("viewer = %s, homeClinic.users = %d %v, want only self",
							out.Viewer.Username, u.TotalCount, u.usernames())
					}
				})
				t.Run("clinics' users list only self", func(t *testing.T) {
					var out struct{ Clinics isoClinicConn }
					isoMustDo(t, c, isoQClinics, nil, &out)
					byName := out.Clinics.byName()
					if out.Clinics.TotalCount != 3 {
						t.Errorf("clinics totalCount = %d, want Sunrise's 3", out.Clinics.TotalCount)
					}
					for _, name := range isoSunriseClinics {
						want := []string{}
						if slices.Contains(s.clinics, name) {
							want = []string{s.username}
						}
						got := byName[name].Users
						if got.TotalCount != len(want) || !slices.Equal(got.usernames(), want) {
							t.Errorf("%s users = %d %v, want %v", name, got.TotalCount, got.usernames(), want)
						}
					}
				})
				t.Run("a colleague's license does not reveal its holder", func(t *testing.T) {
					r := c.Do(isoQNode, map[string]any{"id": f.license[s.colleague]})
					for _, code := range r.Codes() {
						if code != isoCodeNotFound && code != isoCodeForbidden {
							t.Errorf("code %q: %s", code, r.Body)
						}
					}
					var out struct{ Node *isoNodeData }
					if isoDataField(t, r, "node") != "null" {
						r.Decode(t, &out)
					}
					if out.Node != nil && out.Node.Holder != nil {
						t.Errorf("license holder = %+v, want hidden", out.Node.Holder)
					}
				})
				t.Run("createClinic is forbidden", func(t *testing.T) {
					isoAssertRefused(t, c.Do(isoQCreateClinic, map[string]any{"in": map[string]any{"name": "Staff Clinic"}}),
						"createClinic", isoCodeForbidden)
				})
				t.Run("permissions catalog is visible", func(t *testing.T) {
					isoAssertCatalog(t, c.Do(isoQPermissions, nil))
				})
			})
		}
	})
}

// ---------------------------------------------------------------------------
// R3: managers see only users sharing a clinic with them.

// isoDbUser is a user written directly to the database (there is no createUser
// mutation yet).
type isoDbUser struct {
	username, first, last string
	userType              staff.UserType
	home                  int
	clinics               []int
	perms                 []string
	class                 staff.LicenseClass // take a free license of this class at home
}

func isoCreateDBUser(t *testing.T, env *apitest.Env, orgID int, u isoDbUser) int {
	t.Helper()
	ctx := isoSystemContext()
	client := env.DB.Client
	perms, err := client.Permission.Query().Where(permission.KeyIn(u.perms...)).IDs(ctx)
	if err != nil || len(perms) != len(u.perms) {
		t.Fatalf("permissions %v: %v", u.perms, err)
	}
	hash, err := passwords.Hash(env.Password)
	if err != nil {
		t.Fatal(err)
	}
	lic, err := client.License.Query().
		Where(license.ClinicID(u.home), license.ClassEQ(u.class), license.HolderIDIsNil()).
		FirstID(ctx)
	if err != nil {
		t.Fatalf("no free %s license at clinic %d: %v", u.class, u.home, err)
	}
	created, err := client.User.Create().
		SetOrganizationID(orgID).
		SetUsername(u.username).SetEmail(u.username + "@sunrise-therapy.example").
		SetPasswordHash(hash).SetUserType(u.userType).
		SetFirstName(u.first).SetLastName(u.last).SetFullName(u.first + " " + u.last).
		SetHomeClinicID(u.home).AddClinicIDs(u.clinics...).AddPermissionIDs(perms...).
		SetLicenseID(lic).SetStatus(user.StatusACTIVE).
		Save(ctx)
	if err != nil {
		t.Fatalf("creating %s: %v", u.username, err)
	}
	return created.ID
}

func TestIsolationManagerClinics(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		f := isoNewFixture(t, env)
		sunriseOrg := f.rawID(t, f.org[isoSunriseName])

		// Support adds a fourth clinic with licenses; Sunrise's administrator
		// does not get access to it.
		var created struct {
			CreateClinic struct {
				Clinic     *struct{ ID string }
				UserErrors []apitest.UserError
			}
		}
		isoMustDo(t, f.support, isoQCreateClinic, map[string]any{"in": map[string]any{
			"organizationId": f.org[isoSunriseName], "name": "Sunrise Westgate",
			"licenses": []any{map[string]any{"class": "THERAPIST", "quantity": 1}, map[string]any{"class": "CLERICAL", "quantity": 1}},
		}}, &created)
		if created.CreateClinic.Clinic == nil {
			t.Fatalf("Support's createClinic: %+v", created.CreateClinic.UserErrors)
		}
		westgate := created.CreateClinic.Clinic.ID
		westgateID := f.rawID(t, westgate)
		lakeviewID := f.rawID(t, f.clinic[isoLakeview])

		wrenID := gid.Encode(isoCreateDBUser(t, env, sunriseOrg, isoDbUser{
			username: "pt.westgate", first: "Wren", last: "Westgate", userType: staff.PT,
			home: westgateID, clinics: []int{westgateID}, perms: []string{permissions.ViewPatients}, class: staff.Therapist,
		}))
		isoCreateDBUser(t, env, sunriseOrg, isoDbUser{
			username: "lakeview.manager", first: "Lena", last: "Lakes", userType: staff.Clerical,
			home: lakeviewID, clinics: []int{lakeviewID},
			perms: []string{permissions.ViewUsers, permissions.EditUsers, permissions.ViewPatients}, class: staff.ClericalClass,
		})
		var wrenLicense struct {
			Node struct{ License struct{ ID string } }
		}
		isoMustDo(t, f.support, isoQNode, map[string]any{"id": wrenID}, &wrenLicense)
		lakeviewManager := env.LoginDemo("lakeview.manager")

		// Everyone of Sunrise with access to Lakeview.
		lakeviewUsers := []string{demo.AdminUsername, "front.desk", "slpa.jamie", "sslp.rowan", "pt.sam", "pt.fillin", "lakeview.manager"}

		t.Run("admin has no access to the new clinic", func(t *testing.T) {
			var out struct {
				Viewer struct{ Clinics []struct{ ID, Name string } }
			}
			isoMustDo(t, f.admin, isoQViewer, nil, &out)
			if len(out.Viewer.Clinics) != 3 {
				t.Fatalf("admin's clinics = %+v, want the 3 demo clinics", out.Viewer.Clinics)
			}
			for _, c := range out.Viewer.Clinics {
				if c.ID == westgate {
					t.Fatalf("admin has access to Sunrise Westgate; the test needs a manager without it")
				}
			}
		})

		adminCases := []struct {
			name  string
			query string
			vars  map[string]any
			check func(t *testing.T, r *apitest.Response)
		}{
			{"users unfiltered", isoQUsers, nil, func(t *testing.T, r *apitest.Response) {
				isoAssertUsers(t, r, append(slices.Clone(isoSunriseUsers), "lakeview.manager")...)
			}},
			{"users by username", isoQUsers, map[string]any{"f": map[string]any{"username": "westgate"}},
				func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r) }},
			{"users by name", isoQUsers, map[string]any{"f": map[string]any{"name": "Wren"}},
				func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r) }},
			{"users with access to Westgate", isoQUsers, map[string]any{"f": map[string]any{"clinicId": westgate}},
				func(t *testing.T, r *apitest.Response) { isoAssertUsers(t, r) }},
			{"node of the hidden user", isoQNode, map[string]any{"id": wrenID}, isoAssertNullNode},
			{"nodes of a visible and the hidden user", isoQNodes, map[string]any{"ids": isoIds(f.user["pt.jordan"], wrenID)},
				func(t *testing.T, r *apitest.Response) { isoAssertNodes(t, r, isoIds(f.user["pt.jordan"], "")) }},
			{"Westgate's users through node", isoQNode, map[string]any{"id": westgate}, func(t *testing.T, r *apitest.Response) {
				isoAssertNoHiddenClinicUsers(t, r)
			}},
			{"Westgate's users through clinics", isoQClinics, nil, func(t *testing.T, r *apitest.Response) {
				var out struct{ Clinics isoClinicConn }
				r.Decode(t, &out)
				if w, ok := out.Clinics.byName()["Sunrise Westgate"]; ok && w.Users.TotalCount != 0 {
					t.Errorf("Westgate users = %d %v, want none", w.Users.TotalCount, w.Users.usernames())
				}
			}},
			{"licenseCounts of Westgate", isoQCounts, map[string]any{"c": westgate},
				func(t *testing.T, r *apitest.Response) { isoAssertRefused(t, r, "licenseCounts", isoCodeForbidden) }},
			{"license of the hidden user", isoQNode, map[string]any{"id": wrenLicense.Node.License.ID},
				func(t *testing.T, r *apitest.Response) {
					var out struct{ Node *isoNodeData }
					if isoDataField(t, r, "node") != "null" {
						r.Decode(t, &out)
					}
					if out.Node != nil && out.Node.Holder != nil {
						t.Errorf("license holder = %+v, want hidden", out.Node.Holder)
					}
				}},
		}
		for _, c := range adminCases {
			t.Run("admin: "+c.name, func(t *testing.T) {
				r := f.admin.Do(c.query, c.vars)
				c.check(t, r)
				isoAssertNoLeak(t, r, []string{"pt.westgate", "Wren"})
			})
		}

		t.Run("Support sees the user", func(t *testing.T) {
			isoAssertUsers(t, f.support.Do(isoQUsers, map[string]any{"f": map[string]any{"clinicId": westgate}}), "pt.westgate")
			var out struct{ Node *isoNodeData }
			isoMustDo(t, f.support, isoQNode, map[string]any{"id": wrenID}, &out)
			if out.Node == nil || out.Node.Username != "pt.westgate" || out.Node.HomeClinic == nil ||
				out.Node.HomeClinic.Name != "Sunrise Westgate" {
				t.Errorf("Support: node(pt.westgate) = %+v", out.Node)
			}
			isoMustDo(t, f.support, isoQNode, map[string]any{"id": westgate}, &out)
			if out.Node == nil || out.Node.Users == nil || out.Node.Users.TotalCount != 1 {
				t.Errorf("Support: Westgate users = %+v, want 1", out.Node)
			}
		})

		t.Run("Lakeview manager", func(t *testing.T) {
			t.Run("users: only those with access to Lakeview", func(t *testing.T) {
				isoAssertUsers(t, lakeviewManager.Do(isoQUsers, nil), lakeviewUsers...)
			})
			t.Run("users with access to Downtown: only those who also have Lakeview", func(t *testing.T) {
				isoAssertUsers(t, lakeviewManager.Do(isoQUsers, map[string]any{"f": map[string]any{"clinicId": f.clinic[isoDowntown]}}),
					demo.AdminUsername, "front.desk")
			})
			t.Run("node of users without Lakeview is null", func(t *testing.T) {
				for _, name := range []string{"pt.jordan", "ot.casey", "billing.lee"} {
					isoAssertNullNode(t, lakeviewManager.Do(isoQNode, map[string]any{"id": f.user[name]}))
				}
				isoAssertNullNode(t, lakeviewManager.Do(isoQNode, map[string]any{"id": wrenID}))
			})
			t.Run("node of a Lakeview user", func(t *testing.T) {
				var out struct{ Node *isoNodeData }
				isoMustDo(t, lakeviewManager, isoQNode, map[string]any{"id": f.user["slpa.jamie"]}, &out)
				if out.Node == nil || out.Node.Username != "slpa.jamie" {
					t.Errorf("node(slpa.jamie) = %+v", out.Node)
				}
			})
			t.Run("Downtown's users through clinics", func(t *testing.T) {
				var out struct{ Clinics isoClinicConn }
				isoMustDo(t, lakeviewManager, isoQClinics, nil, &out)
				got := out.Clinics.byName()[isoDowntown].Users
				if want := []string{demo.AdminUsername, "front.desk"}; got.TotalCount != 2 || !slices.Equal(got.usernames(), want) {
					t.Errorf("Downtown users = %d %v, want %v", got.TotalCount, got.usernames(), want)
				}
			})
			t.Run("licenseCounts", func(t *testing.T) {
				isoAssertRefused(t, lakeviewManager.Do(isoQCounts, map[string]any{"c": f.clinic[isoDowntown]}), "licenseCounts", isoCodeForbidden)
				isoAssertCountsTotals(t, lakeviewManager.Do(isoQCounts, map[string]any{"c": f.clinic[isoLakeview]}),
					map[string]int{"THERAPIST": 1, "ASSISTANT": 1, "STUDENT": 1, "CLERICAL": 1})
			})
		})

		t.Run("Harbor admin still sees only Harbor", func(t *testing.T) {
			isoAssertUsers(t, f.harbor.Do(isoQUsers, nil), isoHarborAdmin)
			isoAssertNullNode(t, f.harbor.Do(isoQNode, map[string]any{"id": wrenID}))
			isoAssertNullNode(t, f.harbor.Do(isoQNode, map[string]any{"id": westgate}))
		})

		// Control: the user was hidden because of clinic access. Once the
		// administrator has access to Westgate, they see the user.
		t.Run("admin sees the user once given access to Westgate", func(t *testing.T) {
			if err := env.DB.Client.User.UpdateOneID(f.rawID(t, f.user[demo.AdminUsername])).
				AddClinicIDs(westgateID).Exec(isoSystemContext()); err != nil {
				t.Fatal(err)
			}
			isoAssertUsers(t, f.admin.Do(isoQUsers, map[string]any{"f": map[string]any{"clinicId": westgate}}),
				demo.AdminUsername, "pt.westgate")
			var out struct{ Node *isoNodeData }
			isoMustDo(t, f.admin, isoQNode, map[string]any{"id": wrenID}, &out)
			if out.Node == nil || out.Node.Username != "pt.westgate" {
				t.Errorf("node(pt.westgate) = %+v", out.Node)
			}
			// The Lakeview manager still does not.
			isoAssertNullNode(t, lakeviewManager.Do(isoQNode, map[string]any{"id": wrenID}))
		})
	})
}

// isoAssertNoHiddenClinicUsers checks node(<Westgate>): either null, or a
// clinic whose users edge lists nobody.
func isoAssertNoHiddenClinicUsers(t *testing.T, r *apitest.Response) {
	t.Helper()
	for _, code := range r.Codes() {
		if code != isoCodeNotFound && code != isoCodeForbidden {
			t.Errorf("code %q: %s", code, r.Body)
		}
	}
	if isoDataField(t, r, "node") == "null" {
		return
	}
	var out struct{ Node *isoNodeData }
	r.Decode(t, &out)
	if out.Node.Users == nil || out.Node.Users.TotalCount != 0 || len(out.Node.Users.Edges) != 0 {
		t.Errorf("Westgate users = %+v, want none", out.Node.Users)
	}
}

// ---------------------------------------------------------------------------
// Support sees and acts on every organization.

func TestIsolationSupportSeesAll(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		f := isoNewFixture(t, env)
		s := f.support
		t.Run("organizations", func(t *testing.T) {
			var out struct{ Organizations isoOrgConn }
			isoMustDo(t, s, isoQOrganizations, nil, &out)
			var names []string
			for _, e := range out.Organizations.Edges {
				names = append(names, e.Node.Name)
			}
			sort.Strings(names)
			if out.Organizations.TotalCount != 2 || !slices.Equal(names, []string{isoHarborName, isoSunriseName}) {
				t.Errorf("organizations = %d %v, want both", out.Organizations.TotalCount, names)
			}
		})
		t.Run("users unfiltered", func(t *testing.T) {
			isoAssertUsers(t, s.Do(isoQUsers, nil), append(slices.Clone(isoSunriseUsers), isoHarborAdmin, demo.SupportUsername)...)
		})
		t.Run("users by clinic", func(t *testing.T) {
			isoAssertUsers(t, s.Do(isoQUsers, map[string]any{"f": map[string]any{"clinicId": f.clinic[isoHarborMain]}}), isoHarborAdmin)
			isoAssertUsers(t, s.Do(isoQUsers, map[string]any{"f": map[string]any{"clinicId": f.clinic[isoLakeview]}}),
				demo.AdminUsername, "front.desk", "slpa.jamie", "sslp.rowan", "pt.sam", "pt.fillin")
		})
		t.Run("clinics", func(t *testing.T) {
			var out struct{ Clinics isoClinicConn }
			isoMustDo(t, s, isoQClinics, nil, &out)
			if out.Clinics.TotalCount != 4 {
				t.Errorf("clinics totalCount = %d, want 4", out.Clinics.TotalCount)
			}
			if c := out.Clinics.byName()[isoHarborMain]; c.Users.TotalCount != 1 || c.Organization.Name != isoHarborName {
				t.Errorf("Harbor Main = %+v", c)
			}
		})
		t.Run("nodes of both organizations", func(t *testing.T) {
			list := isoIds(f.org[isoSunriseName], f.org[isoHarborName], f.clinic[isoDowntown], f.clinic[isoHarborMain],
				f.user["pt.jordan"], f.user[isoHarborAdmin], f.license["pt.jordan"], f.license[isoHarborAdmin], f.adjustment)
			isoAssertNodes(t, s.Do(isoQNodes, map[string]any{"ids": list}), list)
		})
		t.Run("licenseCounts of each organization", func(t *testing.T) {
			isoAssertCountsTotals(t, s.Do(isoQCounts, map[string]any{"o": f.org[isoSunriseName]}), isoSunriseTotals)
			isoAssertCountsTotals(t, s.Do(isoQCounts, map[string]any{"o": f.org[isoHarborName]}), isoHarborTotals)
			isoAssertCountsTotals(t, s.Do(isoQCounts, map[string]any{"c": f.clinic[isoHarborMain]}), isoHarborTotals)
		})
		t.Run("permissions", func(t *testing.T) { isoAssertCatalog(t, s.Do(isoQPermissions, nil)) })
		t.Run("Sunrise admin and Harbor admin see the same catalog", func(t *testing.T) {
			isoAssertCatalog(t, f.admin.Do(isoQPermissions, nil))
			isoAssertCatalog(t, f.harbor.Do(isoQPermissions, nil))
		})
	})
}

// ---------------------------------------------------------------------------
// R3: the current clinic (X-Clinic-Id) must be one of the viewer's clinics.
// Naming another organization's clinic is refused with FORBIDDEN (the token
// is valid; UNAUTHENTICATED would tell the client to sign in again), and
// never answers with data.

func TestIsolationClinicHeader(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		f := isoNewFixture(t, env)

		harborInSunrise := env.LoginDemo(isoHarborAdmin)
		harborInSunrise.Clinic = f.clinic[isoDowntown]
		sunriseInHarbor := env.LoginDemo(demo.AdminUsername)
		sunriseInHarbor.Clinic = f.clinic[isoHarborMain]
		staffElsewhere := env.LoginDemo("pt.jordan")
		staffElsewhere.Clinic = f.clinic[isoLakeview] // a Sunrise clinic pt.jordan has no access to

		cases := []struct {
			name, field, query string
			vars               map[string]any
		}{
			{"viewer", "viewer", isoQViewer, nil},
			{"users", "users", isoQUsers, nil},
			{"clinics", "clinics", isoQClinics, nil},
			{"node", "node", isoQNode, map[string]any{"id": f.clinic[isoDowntown]}},
			{"licenseCounts", "licenseCounts", isoQCounts, nil},
			{"createClinic", "createClinic", isoQCreateClinic, map[string]any{"in": map[string]any{"name": "Header Clinic"}}},
		}
		for _, who := range []struct {
			name    string
			client  *apitest.Client
			markers []string
		}{
			{"Harbor admin naming Sunrise Downtown", harborInSunrise, isoSunriseMarkers()},
			{"Sunrise admin naming Harbor Main", sunriseInHarbor, isoHarborMarkers()},
			{"pt.jordan naming Sunrise Lakeview", staffElsewhere, nil},
		} {
			for _, c := range cases {
				t.Run(who.name+": "+c.name, func(t *testing.T) {
					r := who.client.Do(c.query, c.vars)
					isoAssertRefused(t, r, c.field, isoCodeForbidden)
					isoAssertNoLeak(t, r, who.markers)
				})
			}
		}

		t.Run("no clinic was created", func(t *testing.T) {
			var out struct{ Clinics isoClinicConn }
			isoMustDo(t, f.support, isoQClinics, map[string]any{"w": map[string]any{"name": "Header Clinic"}}, &out)
			if out.Clinics.TotalCount != 0 {
				t.Errorf("createClinic with a refused X-Clinic-Id created %+v", out.Clinics)
			}
		})

		t.Run("own clinic is accepted", func(t *testing.T) {
			c := env.LoginDemo(isoHarborAdmin)
			c.Clinic = f.clinic[isoHarborMain]
			isoAssertUsers(t, c.Do(isoQUsers, nil), isoHarborAdmin)
		})
	})
}
