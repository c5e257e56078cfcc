package apitest_test

// API tests of user profiles (SPEC R2-R16, R24): createUser, updateUser,
// changeUserType, copyUserPermissions, setUserPassword, passwordStrength,
// duplicateProviders and updateClinic, through GraphQL over HTTP on SQLite
// and PostgreSQL.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/credentials"
	"github.com/clinicemr/usermanager/internal/demo"
)

// Demo data (internal/demo).
const (
	profDowntown  = "Sunrise Downtown"
	profNorthside = "Sunrise Northside"
	profLakeview  = "Sunrise Lakeview"

	// profStrong meets every rule of R7 (zxcvbn score 4).
	profStrong = "Tr0ub4dor&3-horse-Battery"
	// profStrong2 is another Strong password.
	profStrong2 = "Correct-Horse-Battery-Staple-9!"
	// profGood meets every requirement but STRONG: zxcvbn rates it Good.
	profGood = "Kitten#9Lamp"

	profPlaceholderNPI     = "9999999995"
	profPlaceholderLicense = "00000"
	// Real NPIs (valid Luhn check digit over 80840 + the first nine digits).
	profNPI1 = "1234567893"
	profNPI2 = "1245319599"
)

// profAdministrative are the permissions of the Admin shortcut (R16).
var profAdministrative = []string{"VIEW_USERS", "EDIT_USERS", "CALENDAR_ADMIN", "CLINIC_ADMIN", "COMPANY_ADMIN"}

const profUserFields = `
fragment profUser on User {
  id username email userType status firstName lastName fullName previousNames
  npi licenseNumber licenseState licenseClass
  homeClinic { id name }
  clinics { id name }
  permissions { key }
  license { class clinic { name } }
}`

// profMutations are the mutations returning a UserPayload, by name.
var profMutations = map[string]string{}

func init() {
	for name, input := range map[string]string{
		"createUser":          "CreateUserInput",
		"updateUser":          "UpdateUserInput",
		"changeUserType":      "ChangeUserTypeInput",
		"copyUserPermissions": "CopyUserPermissionsInput",
		"setUserPassword":     "SetUserPasswordInput",
	} {
		profMutations[name] = fmt.Sprintf(`mutation($in: %s!) { %s(input: $in) {
  user { ...profUser } warnings { code message } userErrors { field message code } } }`, input, name) + profUserFields
	}
}

type profNamed struct{ ID, Name string }

type profUser struct {
	ID, Username, Email, UserType, Status string
	FirstName, LastName, FullName         string
	PreviousNames                         []string
	Npi, LicenseNumber, LicenseState      *string
	LicenseClass                          *string
	HomeClinic                            *profNamed
	Clinics                               []profNamed
	Permissions                           []struct{ Key string }
	License                               *struct {
		Class  string
		Clinic struct{ Name string }
	}
}

func (u *profUser) permKeys() []string {
	var out []string
	for _, p := range u.Permissions {
		out = append(out, p.Key)
	}
	sort.Strings(out)
	return out
}

func (u *profUser) clinicNames() []string {
	var out []string
	for _, c := range u.Clinics {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}

type profWarning struct{ Code, Message string }

type profPayload struct {
	User       *profUser
	Warnings   []profWarning
	UserErrors []apitest.UserError
}

// errs lists the userErrors as sorted, de-duplicated "field=CODE".
func (p *profPayload) errs() []string {
	var out []string
	for _, e := range p.UserErrors {
		f := "<nil>"
		if e.Field != nil {
			f = *e.Field
		}
		out = append(out, f+"="+e.Code)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func (p *profPayload) warningCodes() []string {
	var out []string
	for _, w := range p.Warnings {
		out = append(out, w.Code)
	}
	return out
}

// profEnv is one test's server with the demo IDs it needs.
type profEnv struct {
	env     *apitest.Env
	admin   *apitest.Client
	clinics map[string]string // name -> ID
}

func profSetup(t *testing.T, env *apitest.Env) *profEnv {
	t.Helper()
	p := &profEnv{env: env, admin: env.LoginDemo(demo.AdminUsername)}
	p.clinics = profClinicIDs(t, p.admin)
	for _, n := range []string{profDowntown, profNorthside, profLakeview} {
		if p.clinics[n] == "" {
			t.Fatalf("clinic %q not found among %v", n, p.clinics)
		}
	}
	return p
}

func profClinicIDs(t *testing.T, c *apitest.Client) map[string]string {
	t.Helper()
	var out struct {
		Clinics struct {
			Edges []struct{ Node profNamed }
		}
	}
	profMustDo(t, c, `{ clinics(first: 100) { edges { node { id name } } } }`, nil, &out)
	m := map[string]string{}
	for _, e := range out.Clinics.Edges {
		m[e.Node.Name] = e.Node.ID
	}
	return m
}

// profMustDo sends a query, failing t (not the Env's test) on any GraphQL
// error.
func profMustDo(t *testing.T, c *apitest.Client, query string, vars map[string]any, out any) {
	t.Helper()
	r := c.Do(query, vars)
	if len(r.Errors) > 0 {
		t.Fatalf("query failed: %s\nquery: %s", r.Body, strings.TrimSpace(query))
	}
	if out != nil {
		r.Decode(t, out)
	}
}

// userID returns the ID of a user the client can see, by exact username.
func (p *profEnv) userID(t *testing.T, username string) string {
	t.Helper()
	return profUserIDAs(t, p.admin, username)
}

func profUserIDAs(t *testing.T, c *apitest.Client, username string) string {
	t.Helper()
	var out struct {
		Users struct {
			Edges []struct{ Node struct{ ID, Username string } }
		}
	}
	profMustDo(t, c, `query($u: String) { users(first: 100, filter: {username: $u}) { edges { node { id username } } } }`,
		map[string]any{"u": username}, &out)
	for _, e := range out.Users.Edges {
		if strings.EqualFold(e.Node.Username, username) {
			return e.Node.ID
		}
	}
	t.Fatalf("user %q not found", username)
	return ""
}

// user reads a profile through node(id:).
func (p *profEnv) user(t *testing.T, id string) *profUser {
	t.Helper()
	var out struct{ Node *profUser }
	profMustDo(t, p.admin, `query($id: ID!) { node(id: $id) { ...profUser } }`+profUserFields, map[string]any{"id": id}, &out)
	if out.Node == nil {
		t.Fatalf("node(%s) is null", id)
	}
	return out.Node
}

// profCall sends a UserPayload mutation. It returns the payload, or nil and
// the response when the answer holds GraphQL errors.
func profCall(t *testing.T, c *apitest.Client, mutation string, in map[string]any) (*profPayload, *apitest.Response) {
	t.Helper()
	q, ok := profMutations[mutation]
	if !ok {
		t.Fatalf("unknown mutation %s", mutation)
	}
	r := c.Do(q, map[string]any{"in": in})
	if len(r.Errors) > 0 {
		return nil, r
	}
	var data map[string]*profPayload
	r.Decode(t, &data)
	if data[mutation] == nil {
		t.Fatalf("%s: no payload: %s", mutation, r.Body)
	}
	return data[mutation], r
}

// profMustCall is profCall failing on GraphQL errors.
func profMustCall(t *testing.T, c *apitest.Client, mutation string, in map[string]any) *profPayload {
	t.Helper()
	p, r := profCall(t, c, mutation, in)
	if p == nil {
		t.Fatalf("%s(%v): GraphQL errors: %s", mutation, in, r.Body)
	}
	return p
}

// profMustSucceed is profMustCall also failing on userErrors.
func profMustSucceed(t *testing.T, c *apitest.Client, mutation string, in map[string]any) *profPayload {
	t.Helper()
	p := profMustCall(t, c, mutation, in)
	if p.User == nil || len(p.UserErrors) > 0 {
		t.Fatalf("%s(%v): user %v, userErrors %v", mutation, in, p.User, p.errs())
	}
	return p
}

// profAssertRefused asserts a GraphQL error with the code (and no data).
func profAssertRefused(t *testing.T, what string, p *profPayload, r *apitest.Response, code string) {
	t.Helper()
	if p != nil || r == nil {
		t.Fatalf("%s: got a payload (user %v, userErrors %v), want GraphQL error %s", what, p.User, p.errs(), code)
	}
	if r.Code() != code {
		t.Fatalf("%s: error code %q, want %s: %s", what, r.Code(), code, r.Body)
	}
}

// input returns a valid createUser input: a user of type userType with home
// and only clinic home, VIEW_PATIENTS, and placeholder credentials for
// provider types.
func (p *profEnv) input(username, userType, home string) map[string]any {
	in := map[string]any{
		"username": username, "email": username + "@example.org", "password": profStrong,
		"userType": userType, "firstName": "Robin", "lastName": "Testcase",
		"homeClinicId": p.clinics[home], "clinicIds": []string{p.clinics[home]},
		"permissions": []string{"VIEW_PATIENTS"},
	}
	switch userType {
	case "CLERICAL", "BILLER", "SUPPORT":
	default:
		in["npi"], in["licenseNumber"], in["licenseState"] = profPlaceholderNPI, profPlaceholderLicense, "CA"
	}
	return in
}

// ids maps clinic names to IDs.
func (p *profEnv) ids(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p.clinics[n]
	}
	return out
}

// profCounts is "clinic/CLASS" -> {total, inUse} for every Sunrise clinic.
type profCounts map[string][2]int

func (p *profEnv) counts(t *testing.T) profCounts {
	t.Helper()
	out := profCounts{}
	for _, name := range []string{profDowntown, profNorthside, profLakeview} {
		var res struct {
			LicenseCounts []struct {
				Class                   string
				Total, InUse, Available int
			}
		}
		profMustDo(t, p.admin, `query($c: ID) { licenseCounts(clinicId: $c) { class total inUse available } }`,
			map[string]any{"c": p.clinics[name]}, &res)
		for _, c := range res.LicenseCounts {
			if c.Available != c.Total-c.InUse {
				t.Fatalf("%s %s: available %d != total %d - inUse %d", name, c.Class, c.Available, c.Total, c.InUse)
			}
			out[name+"/"+c.Class] = [2]int{c.Total, c.InUse}
		}
	}
	return out
}

// assertDelta checks that, from before to now, only the inUse counts named
// in want changed, by the amounts given, and no total changed.
func (p *profEnv) assertDelta(t *testing.T, before profCounts, want map[string]int) {
	t.Helper()
	after := p.counts(t)
	for k, b := range before {
		a := after[k]
		if a[0] != b[0] {
			t.Errorf("licenses %s: total %d -> %d, want unchanged", k, b[0], a[0])
		}
		if a[1]-b[1] != want[k] {
			t.Errorf("licenses %s: inUse %d -> %d, want a change of %d", k, b[1], a[1], want[k])
		}
	}
	for k := range want {
		if _, ok := before[k]; !ok {
			t.Errorf("no license count %s", k)
		}
	}
}

func (p *profEnv) userCount(t *testing.T) int {
	t.Helper()
	var out struct{ Users struct{ TotalCount int } }
	profMustDo(t, p.admin, `{ users { totalCount } }`, nil, &out)
	return out.Users.TotalCount
}

func profSorted(s ...string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func profDeref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestProfCreateUserHappyPaths: valid profiles are saved Active with a
// license of their class (R20, R21, R23), the Admin shortcut grants the
// administrative permissions (R16), a requested Inactive status uses no
// license, and with no license free the profile is saved Inactive with a
// warning naming the clinic (R24).
func TestProfCreateUserHappyPaths(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		cases := []struct {
			name         string
			in           func() map[string]any
			status       string
			class        string // licenseClass
			licensed     bool   // holds a license at the home clinic
			delta        map[string]int
			perms        []string
			warning      string
			warningTexts []string
			check        func(t *testing.T, u *profUser)
		}{
			{
				name: "PT with real credentials at Downtown",
				in: func() map[string]any {
					in := p.input("new.pt", "PT", profDowntown)
					in["npi"], in["licenseNumber"], in["licenseState"] = profNPI1, "PT12345", "CA"
					in["permissions"] = []string{"VIEW_PATIENTS", "START_SOAP_NOTES", "FINISH_SOAP_NOTES"}
					in["firstName"], in["lastName"] = "Morgan", "Ellery"
					return in
				},
				status: "ACTIVE", class: "THERAPIST", licensed: true,
				delta: map[string]int{profDowntown + "/THERAPIST": 1},
				perms: []string{"VIEW_PATIENTS", "START_SOAP_NOTES", "FINISH_SOAP_NOTES"},
				check: func(t *testing.T, u *profUser) {
					if profDeref(u.Npi) != profNPI1 || profDeref(u.LicenseNumber) != "PT12345" || profDeref(u.LicenseState) != "CA" {
						t.Errorf("credentials = %s %s %s", profDeref(u.Npi), profDeref(u.LicenseNumber), profDeref(u.LicenseState))
					}
					if u.UserType != "PT" || u.FullName != "Morgan Ellery" || u.Email != "new.pt@example.org" {
						t.Errorf("profile = %+v", u)
					}
				},
			},
			{
				name:   "Clerical without credentials at Northside",
				in:     func() map[string]any { return p.input("new.clerk", "CLERICAL", profNorthside) },
				status: "ACTIVE", class: "CLERICAL", licensed: true,
				delta: map[string]int{profNorthside + "/CLERICAL": 1},
				perms: []string{"VIEW_PATIENTS"},
				check: func(t *testing.T, u *profUser) {
					if u.Npi != nil || u.LicenseNumber != nil || u.LicenseState != nil {
						t.Errorf("clerical has credentials %s %s %s", profDeref(u.Npi), profDeref(u.LicenseNumber), profDeref(u.LicenseState))
					}
				},
			},
			{
				name: "Admin shortcut without other permissions",
				in: func() map[string]any {
					in := p.input("new.manager", "CLERICAL", profNorthside)
					delete(in, "permissions")
					in["admin"] = true
					return in
				},
				status: "ACTIVE", class: "CLERICAL", licensed: true,
				delta: map[string]int{profNorthside + "/CLERICAL": 1},
				perms: profAdministrative,
			},
			{
				name: "Admin shortcut plus a permission",
				in: func() map[string]any {
					in := p.input("new.manager2", "OT", profNorthside)
					in["admin"] = true
					return in
				},
				status: "ACTIVE", class: "THERAPIST", licensed: true,
				delta: map[string]int{profNorthside + "/THERAPIST": 1},
				perms: append([]string{"VIEW_PATIENTS"}, profAdministrative...),
			},
			{
				name: "INACTIVE requested",
				in: func() map[string]any {
					in := p.input("new.inactive", "OT", profDowntown)
					in["status"] = "INACTIVE"
					return in
				},
				status: "INACTIVE", class: "THERAPIST", licensed: false,
				perms: []string{"VIEW_PATIENTS"},
			},
			{
				name:   "no Therapist license free at Lakeview",
				in:     func() map[string]any { return p.input("new.lakeview", "PT", profLakeview) },
				status: "INACTIVE", class: "THERAPIST", licensed: false,
				perms:        []string{"VIEW_PATIENTS"},
				warning:      "SAVED_INACTIVE_NO_LICENSE",
				warningTexts: []string{profLakeview, "therapist"},
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before, users := p.counts(t), p.userCount(t)
				in := tc.in()
				out := profMustCall(t, p.admin, "createUser", in)
				if len(out.UserErrors) > 0 || out.User == nil {
					t.Fatalf("userErrors %v", out.errs())
				}
				u := out.User
				if u.Username != in["username"] || u.Status != tc.status || profDeref(u.LicenseClass) != tc.class {
					t.Errorf("user %s status %s licenseClass %s, want %s %s %s", u.Username, u.Status, profDeref(u.LicenseClass), in["username"], tc.status, tc.class)
				}
				if u.HomeClinic == nil || u.HomeClinic.ID != in["homeClinicId"] {
					t.Errorf("homeClinic = %+v, want %v", u.HomeClinic, in["homeClinicId"])
				}
				if tc.licensed {
					if u.License == nil || u.License.Class != tc.class || u.HomeClinic == nil || u.License.Clinic.Name != u.HomeClinic.Name {
						t.Errorf("license = %+v, want class %s at the home clinic", u.License, tc.class)
					}
				} else if u.License != nil {
					t.Errorf("inactive user holds license %+v", u.License)
				}
				if got, want := u.permKeys(), profSorted(tc.perms...); !slices.Equal(got, want) {
					t.Errorf("permissions = %v, want %v", got, want)
				}
				if tc.warning == "" {
					if len(out.Warnings) != 0 {
						t.Errorf("warnings = %+v, want none", out.Warnings)
					}
				} else {
					if len(out.Warnings) != 1 || out.Warnings[0].Code != tc.warning {
						t.Fatalf("warnings = %+v, want one %s", out.Warnings, tc.warning)
					}
					for _, s := range tc.warningTexts {
						if !strings.Contains(strings.ToLower(out.Warnings[0].Message), strings.ToLower(s)) {
							t.Errorf("warning %q does not name %q", out.Warnings[0].Message, s)
						}
					}
				}
				if tc.check != nil {
					tc.check(t, u)
				}
				// What the payload said is what was stored.
				if stored := p.user(t, u.ID); stored.Status != tc.status || !slices.Equal(stored.permKeys(), u.permKeys()) {
					t.Errorf("stored user = %+v", stored)
				}
				p.assertDelta(t, before, tc.delta)
				if n := p.userCount(t); n != users+1 {
					t.Errorf("users totalCount %d -> %d, want +1", users, n)
				}
			})
		}
		// The administrator made with the shortcut can sign in and manage users.
		mgr := env.Login("new.manager", profStrong)
		var out struct{ Users struct{ TotalCount int } }
		profMustDo(t, mgr, `{ users { totalCount } }`, nil, &out)
		if out.Users.TotalCount == 0 {
			t.Errorf("the new administrator sees no users")
		}
	})
}

// TestProfCreateUserInvalidInput: every broken rule comes back as a
// userError with its field and code, and nothing is written (R5-R10, R14,
// R16).
func TestProfCreateUserInvalidInput(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		support := env.LoginDemo(demo.SupportUsername)
		harborMain := profClinicIDs(t, env.LoginDemo("harbor.admin"))["Harbor Main"]
		if harborMain == "" {
			t.Fatal("Harbor Main not found")
		}
		jordan := p.userID(t, "pt.jordan")
		// pt.jordan gets a real NPI, so a second provider with it is a
		// duplicate (R14).
		profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": jordan, "npi": profNPI2, "licenseNumber": "PT777", "licenseState": "CA"})

		const username = "newpt.kim"
		base := func() map[string]any {
			in := p.input(username, "PT", profNorthside)
			in["firstName"], in["lastName"] = "Kim", "Newton"
			return in
		}
		clerical := func() map[string]any {
			in := base()
			in["userType"] = "CLERICAL"
			delete(in, "npi")
			delete(in, "licenseNumber")
			delete(in, "licenseState")
			return in
		}
		with := func(in map[string]any, kv ...any) map[string]any {
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(in, kv[i].(string))
				} else {
					in[kv[i].(string)] = kv[i+1]
				}
			}
			return in
		}

		// Preconditions of the password cases, through passwordStrength with
		// the same personal data as the profile.
		for _, pc := range []struct {
			password, strength string
			unmet              []string
		}{
			{"Zebra!Quilt-9-newpt.kim-Harbor", "", []string{"NOT_USERNAME"}},
			{profGood, "GOOD", []string{"STRONG"}},
		} {
			chk := profCheckPassword(t, env.Anonymous(), pc.password, map[string]any{
				"username": username, "email": username + "@example.org", "firstName": "Kim", "lastName": "Newton"})
			if got := chk.unmet(); !slices.Equal(got, pc.unmet) || (pc.strength != "" && chk.PasswordStrength.Strength != pc.strength) {
				t.Fatalf("precondition: passwordStrength(%q) unmet %v strength %s, want unmet %v strength %q",
					pc.password, got, chk.PasswordStrength.Strength, pc.unmet, pc.strength)
			}
		}

		cases := []struct {
			name string
			in   map[string]any
			want []string // "field=CODE"
			// extraOn allows further errors on these fields.
			extraOn []string
		}{
			{"username with a space", with(base(), "username", "newpt kim"), []string{"username=INVALID_USERNAME"}, nil},
			{"username with a comma", with(base(), "username", "newpt,kim"), []string{"username=INVALID_USERNAME"}, nil},
			{"username with a tab", with(base(), "username", "newpt\tkim"), []string{"username=INVALID_CHARACTERS"}, nil}, // R36
			{"email-shaped username unlike the email", with(base(), "username", "kim.newton@example.org"), []string{"username=INVALID_USERNAME"}, nil},
			{"bad email", with(base(), "email", "not-an-email"), []string{"email=INVALID_EMAIL"}, nil},
			{"bad email without domain", with(base(), "email", "newpt.kim@"), []string{"email=INVALID_EMAIL"}, nil},
			{"email with a display name", with(base(), "email", "Kim Newton <newpt.kim@example.org>"), []string{"email=INVALID_EMAIL"}, nil},
			{"username taken, other case", with(base(), "username", "PT.Jordan"), []string{"username=USERNAME_TAKEN"}, nil},
			{"username of another organization", with(base(), "username", "Harbor.ADMIN"), []string{"username=USERNAME_TAKEN"}, nil},
			{"email taken, other case", with(base(), "email", "Pt.Jordan@SUNRISE-therapy.example"), []string{"email=EMAIL_TAKEN"}, nil},
			{"email of another organization", with(base(), "email", "ADMIN@harbor-rehab.example"), []string{"email=EMAIL_TAKEN"}, nil},
			{"username and email taken", with(base(), "username", "FRONT.DESK", "email", "front.desk@sunrise-therapy.EXAMPLE"),
				[]string{"email=EMAIL_TAKEN", "username=USERNAME_TAKEN"}, nil},
			{"weak password", with(base(), "password", "password"), []string{"password=WEAK_PASSWORD"}, nil},
			{"password containing the username", with(base(), "password", "Zebra!Quilt-9-newpt.kim-Harbor"), []string{"password=WEAK_PASSWORD"}, nil},
			{"Good but not Strong password", with(base(), "password", profGood), []string{"password=WEAK_PASSWORD"}, nil},
			{"password over 256 characters", with(base(), "password", strings.Repeat("Zq7!Kw#p", 40)), []string{"password=WEAK_PASSWORD"}, nil},
			{"NPI with a wrong check digit", with(base(), "npi", "1234567890"), []string{"npi=INVALID_NPI"}, nil},
			{"NPI too short", with(base(), "npi", "123456789"), []string{"npi=INVALID_NPI"}, nil},
			{"license number with symbols", with(base(), "licenseNumber", "PT-123"), []string{"licenseNumber=INVALID_LICENSE_NUMBER"}, nil},
			{"missing NPI for a PT", with(base(), "npi", nil), []string{"npi=REQUIRED"}, nil},
			{"empty NPI for a PT", with(base(), "npi", ""), []string{"npi=REQUIRED"}, nil},
			{"credentials on a Clerical", with(clerical(), "npi", profNPI1, "licenseNumber", "PT12345", "licenseState", "CA"),
				[]string{"licenseNumber=CREDENTIALS_NOT_ALLOWED", "licenseState=CREDENTIALS_NOT_ALLOWED", "npi=CREDENTIALS_NOT_ALLOWED"}, nil},
			{"NPI alone on a Clerical", with(clerical(), "npi", profNPI1), []string{"npi=CREDENTIALS_NOT_ALLOWED"}, nil},
			{"no permissions", with(base(), "permissions", []string{}), []string{"permissions=PERMISSION_REQUIRED"}, nil},
			{"permissions left out", with(base(), "permissions", nil), []string{"permissions=PERMISSION_REQUIRED"}, nil},
			{"no clinics", with(base(), "clinicIds", []string{}), []string{"clinicIds=CLINIC_REQUIRED"}, nil},
			{"home clinic not among the clinics", with(base(), "clinicIds", p.ids(profDowntown)), []string{"homeClinicId=INVALID_HOME_CLINIC"}, nil},
			{"home clinic of another organization", with(base(), "homeClinicId", harborMain), []string{"homeClinicId=INVALID_HOME_CLINIC"}, []string{"clinicIds"}},
			{"clinic of another organization", with(base(), "clinicIds", []string{p.clinics[profNorthside], harborMain}), []string{"clinicIds=CLINIC_REQUIRED"}, nil},
			{"FINISH_SOAP_NOTES for a Clerical", with(clerical(), "permissions", []string{"VIEW_PATIENTS", "FINISH_SOAP_NOTES"}),
				[]string{"permissions=PERMISSION_NOT_AVAILABLE"}, nil},
			{"unknown permission", with(base(), "permissions", []string{"VIEW_PATIENTS", "FLY_HELICOPTERS"}), []string{"permissions=UNKNOWN_PERMISSION"}, nil},
			{"BILLING_ADMIN granted by a clinic admin", with(clerical(), "permissions", []string{"VIEW_PATIENTS", "BILLING_ADMIN"}),
				[]string{"permissions=FORBIDDEN"}, nil},
			{"SUPPORT user type", with(clerical(), "userType", "SUPPORT"), []string{"userType=INVALID_USER_TYPE"}, []string{"permissions"}},
			{"NPI of another user of the organization", with(base(), "npi", profNPI2), []string{"npi=DUPLICATE_PROVIDER"}, nil},
			{"NPI of another user, with spaces around", with(base(), "npi", " "+profNPI2+" "), []string{"npi=DUPLICATE_PROVIDER"}, nil},
			{"many broken rules at once (R10)", with(base(),
				"username", "bad name", "email", "nope", "password", "short", "firstName", "",
				"npi", "123", "licenseNumber", "A-1", "licenseState", "ZZ", "permissions", []string{},
				"clinicIds", p.ids(profDowntown)),
				[]string{
					"email=INVALID_EMAIL", "firstName=REQUIRED", "homeClinicId=INVALID_HOME_CLINIC",
					"licenseNumber=INVALID_LICENSE_NUMBER", "licenseState=INVALID_LICENSE_STATE", "npi=INVALID_NPI",
					"password=WEAK_PASSWORD", "permissions=PERMISSION_REQUIRED", "username=INVALID_USERNAME",
				}, nil},
			// R10 again, when the home clinic is unknown: the rules that do
			// not depend on it are still reported.
			{"unknown home clinic with other broken rules (R10)", with(base(),
				"homeClinicId", harborMain, "clinicIds", []string{harborMain}, "username", "PT.JORDAN",
				"npi", "1234567890", "permissions", []string{}),
				[]string{"homeClinicId=INVALID_HOME_CLINIC", "npi=INVALID_NPI", "permissions=PERMISSION_REQUIRED", "username=USERNAME_TAKEN"},
				[]string{"clinicIds"}},
		}
		before, users := p.counts(t), p.userCount(t)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				out := profMustCall(t, p.admin, "createUser", tc.in)
				if out.User != nil {
					t.Errorf("a user was returned: %+v", out.User)
				}
				got := out.errs()
				for _, w := range tc.want {
					if !slices.Contains(got, w) {
						t.Errorf("userErrors %v lack %s", got, w)
					}
				}
				for _, g := range got {
					field, _, _ := strings.Cut(g, "=")
					if !slices.Contains(tc.want, g) && !slices.Contains(tc.extraOn, field) {
						t.Errorf("unexpected userError %s (all: %v, want %v)", g, got, tc.want)
					}
				}
				for _, e := range out.UserErrors {
					if strings.TrimSpace(e.Message) == "" || strings.Contains(strings.ToLower(e.Message), "error when saving") {
						t.Errorf("vague message for %s: %q", e.Code, e.Message)
					}
				}
				// Nothing written.
				p.assertDelta(t, before, nil)
				if n := p.userCount(t); n != users {
					t.Errorf("users totalCount %d -> %d, want unchanged", users, n)
				}
			})
		}
		t.Run("without View Users", func(t *testing.T) {
			out, r := profCall(t, env.LoginDemo("front.desk"), "createUser", base())
			profAssertRefused(t, "front.desk adding a user", out, r, "FORBIDDEN")
			out, r = profCall(t, env.Anonymous(), "createUser", base())
			profAssertRefused(t, "anonymous adding a user", out, r, "UNAUTHENTICATED")
			p.assertDelta(t, before, nil)
			if n := p.userCount(t); n != users {
				t.Errorf("users totalCount %d -> %d, want unchanged", users, n)
			}
		})
		// The refused username was never written: it is still free.
		var found struct{ Users struct{ TotalCount int } }
		profMustDo(t, p.admin, `{ users(filter: {username: "newpt"}) { totalCount } }`, nil, &found)
		if found.Users.TotalCount != 0 {
			t.Fatalf("a refused profile was written: %d users named newpt*", found.Users.TotalCount)
		}

		// The NPI placeholder is exempt from uniqueness (R8): the demo
		// providers have it, and two more may too.
		for _, name := range []string{"placeholder.one", "placeholder.two"} {
			in := p.input(name, "PT", profNorthside)
			out := profMustSucceed(t, p.admin, "createUser", in)
			if profDeref(out.User.Npi) != profPlaceholderNPI || profDeref(out.User.LicenseNumber) != profPlaceholderLicense {
				t.Errorf("%s credentials = %s %s", name, profDeref(out.User.Npi), profDeref(out.User.LicenseNumber))
			}
		}

		// BILLING_ADMIN is restricted: Support may grant it.
		in := with(clerical(), "username", "billing.granted", "email", "billing.granted@example.org",
			"permissions", []string{"VIEW_PATIENTS", "BILLING_ADMIN"})
		out := profMustSucceed(t, support, "createUser", in)
		if got := out.User.permKeys(); !slices.Equal(got, profSorted("BILLING_ADMIN", "VIEW_PATIENTS")) {
			t.Errorf("permissions granted by Support = %v", got)
		}
		// ... but still not a SUPPORT user.
		sup := with(clerical(), "username", "support.two", "email", "support.two@example.org", "userType", "SUPPORT")
		if o := profMustCall(t, support, "createUser", sup); o.User != nil || !slices.Contains(o.errs(), "userType=INVALID_USER_TYPE") {
			t.Errorf("SUPPORT user type by Support: user %v, userErrors %v", o.User, o.errs())
		}
	})
}

// TestProfCreateUserConcurrentSameName: concurrent createUser calls for the
// same username (or email) in different case: exactly one succeeds, the
// others get USERNAME_TAKEN (EMAIL_TAKEN), never an internal error (R5, R6).
func TestProfCreateUserConcurrentSameName(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		const n = 8
		cases := []struct {
			name     string
			in       func(i int) map[string]any
			want     string // the userError of the losers
			searchBy string
			search   string
		}{
			{
				name: "username",
				in: func(i int) map[string]any {
					variants := []string{"Race.User", "race.user", "RACE.USER", "Race.user", "rAce.User", "race.USER", "RaCe.UsEr", "race.User"}
					in := p.input(variants[i], "CLERICAL", profNorthside)
					in["email"] = fmt.Sprintf("racer%d@example.org", i)
					return in
				},
				want: "username=USERNAME_TAKEN", searchBy: "username", search: "race.user",
			},
			{
				name: "email",
				in: func(i int) map[string]any {
					in := p.input(fmt.Sprintf("mail.racer%d", i), "CLERICAL", profNorthside)
					in["email"] = []string{"Race@Example.org", "race@example.org", "RACE@EXAMPLE.ORG", "race@Example.Org"}[i%4]
					in["status"] = "INACTIVE"
					return in
				},
				want: "email=EMAIL_TAKEN", searchBy: "email", search: "race@example.org",
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := p.counts(t)
				var wg sync.WaitGroup
				responses := make([]*apitest.Response, n)
				start := make(chan struct{})
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						<-start
						responses[i] = p.admin.Do(profMutations["createUser"], map[string]any{"in": tc.in(i)})
					}(i)
				}
				close(start)
				wg.Wait()
				winners := 0
				for i, r := range responses {
					if len(r.Errors) > 0 {
						t.Errorf("request %d: GraphQL error (want a userError): %s", i, r.Body)
						continue
					}
					var data struct{ CreateUser profPayload }
					r.Decode(t, &data)
					switch out := data.CreateUser; {
					case out.User != nil && len(out.UserErrors) == 0:
						winners++
					case out.User == nil && slices.Equal(out.errs(), []string{tc.want}):
					default:
						t.Errorf("request %d: user %v, userErrors %v, want success or %s", i, out.User, out.errs(), tc.want)
					}
				}
				if winners != 1 {
					t.Errorf("%d requests succeeded, want exactly 1", winners)
				}
				var found struct{ Users struct{ TotalCount int } }
				profMustDo(t, p.admin, fmt.Sprintf(`query($s: String) { users(filter: {%s: $s}) { totalCount } }`, tc.searchBy),
					map[string]any{"s": tc.search}, &found)
				if found.Users.TotalCount != 1 {
					t.Errorf("%d users with %s %s, want 1", found.Users.TotalCount, tc.searchBy, tc.search)
				}
				delta := map[string]int{}
				if tc.name == "username" {
					delta[profNorthside+"/CLERICAL"] = 1
				}
				p.assertDelta(t, before, delta)
			})
		}
	})
}

// TestProfUpdateUser: renaming keeps the earlier name (R14, R17), clinics
// can be changed only to clinics the manager has (R3), moving an active
// user's home clinic moves their license or fails with
// MAXIMUM_LICENSES_REACHED (R23), Billers are edited only from their home
// clinic (R13), Edit Users is needed (R2), and other organizations' users
// are not found (R1).
func TestProfUpdateUser(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		casey, jordan, taylor := p.userID(t, "ot.casey"), p.userID(t, "pt.jordan"), p.userID(t, "pta.taylor")
		lee, riley := p.userID(t, "billing.lee"), p.userID(t, "slp.riley")

		// A manager with access to Downtown only.
		mgrIn := p.input("mgr.downtown", "PT", profDowntown)
		mgrIn["admin"] = true
		if out := profMustSucceed(t, p.admin, "createUser", mgrIn); out.User.Status != "ACTIVE" || !slices.Equal(out.User.clinicNames(), []string{profDowntown}) {
			t.Fatalf("manager = %+v", out.User)
		}
		mgr := env.Login("mgr.downtown", profStrong)

		t.Run("rename keeps the previous name", func(t *testing.T) {
			out := profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": casey, "firstName": "Casey", "lastName": "Whitmore", "fullName": "Casey Whitmore"})
			u := out.User
			if u.FirstName != "Casey" || u.LastName != "Whitmore" || u.FullName != "Casey Whitmore" {
				t.Errorf("names = %q %q %q", u.FirstName, u.LastName, u.FullName)
			}
			if !slices.Equal(u.PreviousNames, []string{"Casey Nguyen"}) {
				t.Errorf("previousNames = %q, want [Casey Nguyen]", u.PreviousNames)
			}
			for _, frag := range []string{"nguyen", "NGUY", "Casey Nguyen", "whitmore", "Whit"} {
				if got := profSearchNames(t, p.admin, frag); !slices.Contains(got, "ot.casey") {
					t.Errorf("users(filter: {name: %q}) = %v, want ot.casey", frag, got)
				}
			}
			out = profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": casey, "lastName": "Whitmore-Lane", "fullName": "Casey Whitmore-Lane"})
			if !slices.Equal(out.User.PreviousNames, []string{"Casey Nguyen", "Casey Whitmore"}) {
				t.Errorf("previousNames after a second rename = %q", out.User.PreviousNames)
			}
			if got := profSearchNames(t, p.admin, "nguyen"); !slices.Contains(got, "ot.casey") {
				t.Errorf("after a second rename, the first name is not found: %v", got)
			}
		})

		t.Run("change clinics", func(t *testing.T) {
			out := profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": casey, "clinicIds": p.ids(profDowntown, profLakeview)})
			if got := out.User.clinicNames(); !slices.Equal(got, profSorted(profDowntown, profLakeview)) {
				t.Errorf("clinics = %v", got)
			}
			if out.User.HomeClinic == nil || out.User.HomeClinic.Name != profDowntown {
				t.Errorf("home clinic = %+v", out.User.HomeClinic)
			}
			if got := p.user(t, casey).clinicNames(); !slices.Equal(got, profSorted(profDowntown, profLakeview)) {
				t.Errorf("stored clinics = %v", got)
			}
		})

		t.Run("clinic the manager cannot access", func(t *testing.T) {
			out := profMustCall(t, mgr, "updateUser", map[string]any{"id": taylor, "clinicIds": p.ids(profDowntown, profNorthside)})
			if out.User != nil || !slices.Equal(out.errs(), []string{"clinicIds=CLINIC_NOT_ACCESSIBLE"}) {
				t.Fatalf("user %v, userErrors %v, want clinicIds=CLINIC_NOT_ACCESSIBLE", out.User, out.errs())
			}
			if got := p.user(t, taylor).clinicNames(); !slices.Equal(got, []string{profDowntown}) {
				t.Errorf("clinics after a refused change = %v", got)
			}
		})

		t.Run("manager adding a user with a clinic they cannot access", func(t *testing.T) {
			users := p.userCount(t)
			in := p.input("mgr.added", "PT", profDowntown)
			in["clinicIds"] = p.ids(profDowntown, profNorthside)
			out := profMustCall(t, mgr, "createUser", in)
			if out.User != nil || !slices.Equal(out.errs(), []string{"clinicIds=CLINIC_NOT_ACCESSIBLE"}) {
				t.Fatalf("user %v, userErrors %v, want clinicIds=CLINIC_NOT_ACCESSIBLE", out.User, out.errs())
			}
			if n := p.userCount(t); n != users {
				t.Errorf("users totalCount %d -> %d", users, n)
			}
		})

		t.Run("user outside the manager's clinics", func(t *testing.T) {
			out, r := profCall(t, mgr, "updateUser", map[string]any{"id": riley, "firstName": "Rilee"})
			profAssertRefused(t, "manager of Downtown editing a Northside-only user", out, r, "NOT_FOUND")
		})

		t.Run("invalid updates change nothing", func(t *testing.T) {
			// pt.sam gets a real NPI, so giving it to another provider is a
			// duplicate (R14).
			sam := p.userID(t, "pt.sam")
			profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": sam, "npi": profNPI1, "licenseNumber": "PT55", "licenseState": "WA"})
			desk := p.userID(t, "front.desk")
			cases := []struct {
				name string
				in   map[string]any
				want []string
			}{
				{"username taken, other case", map[string]any{"id": casey, "username": "PT.JORDAN"}, []string{"username=USERNAME_TAKEN"}},
				{"username of another organization", map[string]any{"id": casey, "username": "harbor.admin"}, []string{"username=USERNAME_TAKEN"}},
				{"username with a space", map[string]any{"id": casey, "username": "ot casey"}, []string{"username=INVALID_USERNAME"}},
				{"email-shaped username unlike the email", map[string]any{"id": casey, "username": "casey@example.org"}, []string{"username=INVALID_USERNAME"}},
				{"email taken, other case", map[string]any{"id": casey, "email": "PT.JORDAN@sunrise-therapy.example"}, []string{"email=EMAIL_TAKEN"}},
				{"email of another organization", map[string]any{"id": casey, "email": "admin@HARBOR-rehab.example"}, []string{"email=EMAIL_TAKEN"}},
				{"bad email", map[string]any{"id": casey, "email": "casey"}, []string{"email=INVALID_EMAIL"}},
				{"empty first name", map[string]any{"id": casey, "firstName": " "}, []string{"firstName=REQUIRED"}},
				{"NPI with a wrong check digit", map[string]any{"id": casey, "npi": "1245319590", "licenseState": "CA"}, []string{"npi=INVALID_NPI"}},
				{"NPI of another user", map[string]any{"id": casey, "npi": profNPI1, "licenseState": "CA"}, []string{"npi=DUPLICATE_PROVIDER"}},
				{"license number with symbols", map[string]any{"id": casey, "licenseNumber": "OT#1", "licenseState": "CA"}, []string{"licenseNumber=INVALID_LICENSE_NUMBER"}},
				{"credentials on a Clerical", map[string]any{"id": desk, "npi": profNPI2}, []string{"npi=CREDENTIALS_NOT_ALLOWED"}},
				{"no permissions", map[string]any{"id": casey, "permissions": []string{}}, []string{"permissions=PERMISSION_REQUIRED"}},
				{"FINISH_SOAP_NOTES for a Clerical", map[string]any{"id": desk, "permissions": []string{"VIEW_PATIENTS", "FINISH_SOAP_NOTES"}}, []string{"permissions=PERMISSION_NOT_AVAILABLE"}},
				{"BILLING_ADMIN by a clinic admin", map[string]any{"id": casey, "permissions": []string{"VIEW_PATIENTS", "BILLING_ADMIN"}}, []string{"permissions=FORBIDDEN"}},
				{"no clinics", map[string]any{"id": casey, "clinicIds": []string{}}, []string{"clinicIds=CLINIC_REQUIRED"}},
				{"home clinic left out of the clinics", map[string]any{"id": casey, "clinicIds": p.ids(profLakeview)}, []string{"homeClinicId=INVALID_HOME_CLINIC"}},
				{"several at once (R10)", map[string]any{"id": casey, "username": "ot casey", "email": "casey", "npi": "1", "licenseState": "CA", "permissions": []string{}},
					[]string{"email=INVALID_EMAIL", "npi=INVALID_NPI", "permissions=PERMISSION_REQUIRED", "username=INVALID_USERNAME"}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					id := tc.in["id"].(string)
					before := string(profMustBody(t, p.admin, id))
					out := profMustCall(t, p.admin, "updateUser", tc.in)
					if out.User != nil || !slices.Equal(out.errs(), profSorted(tc.want...)) {
						t.Errorf("user %v, userErrors %v, want %v", out.User != nil, out.errs(), profSorted(tc.want...))
					}
					if after := string(profMustBody(t, p.admin, id)); after != before {
						t.Errorf("a refused update changed the profile:\nbefore %s\nafter  %s", before, after)
					}
				})
			}
			// A username may change case only.
			out := profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": casey, "username": "OT.Casey"})
			if out.User.Username != "OT.Casey" {
				t.Errorf("username = %q", out.User.Username)
			}
		})

		t.Run("move home clinic with a free license", func(t *testing.T) {
			before := p.counts(t)
			out := profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": jordan, "homeClinicId": p.clinics[profNorthside]})
			u := out.User
			if u.HomeClinic == nil || u.HomeClinic.Name != profNorthside || u.Status != "ACTIVE" {
				t.Errorf("home %+v status %s", u.HomeClinic, u.Status)
			}
			if u.License == nil || u.License.Clinic.Name != profNorthside || u.License.Class != "THERAPIST" {
				t.Errorf("license = %+v, want THERAPIST at Northside", u.License)
			}
			p.assertDelta(t, before, map[string]int{profDowntown + "/THERAPIST": -1, profNorthside + "/THERAPIST": 1})
		})

		t.Run("move home clinic without a free license", func(t *testing.T) {
			before := p.counts(t)
			out := profMustCall(t, p.admin, "updateUser", map[string]any{"id": jordan, "homeClinicId": p.clinics[profLakeview],
				"clinicIds": p.ids(profDowntown, profNorthside, profLakeview)})
			if out.User != nil || !slices.Equal(out.errs(), []string{"homeClinicId=MAXIMUM_LICENSES_REACHED"}) {
				t.Fatalf("user %v, userErrors %v, want homeClinicId=MAXIMUM_LICENSES_REACHED", out.User, out.errs())
			}
			msg := strings.ToLower(out.UserErrors[0].Message)
			if !strings.Contains(msg, "therapist") || !strings.Contains(msg, strings.ToLower(profLakeview)) {
				t.Errorf("message %q does not name the class and the clinic", out.UserErrors[0].Message)
			}
			u := p.user(t, jordan)
			if u.HomeClinic == nil || u.HomeClinic.Name != profNorthside || u.Status != "ACTIVE" ||
				!slices.Equal(u.clinicNames(), profSorted(profDowntown, profNorthside)) ||
				u.License == nil || u.License.Clinic.Name != profNorthside {
				t.Errorf("after a refused move: home %+v status %s clinics %v license %+v", u.HomeClinic, u.Status, u.clinicNames(), u.License)
			}
			p.assertDelta(t, before, nil)
		})

		t.Run("Biller only from their home clinic (R13)", func(t *testing.T) {
			northside := *p.admin
			northside.Clinic = p.clinics[profNorthside]
			out, r := profCall(t, &northside, "updateUser", map[string]any{"id": lee, "firstName": "Leigh"})
			profAssertRefused(t, "editing billing.lee with current clinic Northside", out, r, "FORBIDDEN")
			if u := p.user(t, lee); u.FirstName != "Lee" {
				t.Errorf("refused edit changed the first name to %q", u.FirstName)
			}
			downtown := *p.admin
			downtown.Clinic = p.clinics[profDowntown]
			got := profMustSucceed(t, &downtown, "updateUser", map[string]any{"id": lee, "firstName": "Leigh"})
			if got.User.FirstName != "Leigh" {
				t.Errorf("first name = %q", got.User.FirstName)
			}
			// Other profiles are editable whatever the current clinic.
			profMustSucceed(t, &northside, "updateUser", map[string]any{"id": taylor, "firstName": "Tayla"})
		})

		t.Run("without Edit Users", func(t *testing.T) {
			out, r := profCall(t, env.LoginDemo("front.desk"), "updateUser", map[string]any{"id": casey, "firstName": "Hacked"})
			profAssertRefused(t, "front.desk editing a user", out, r, "FORBIDDEN")
		})

		t.Run("another organization's user", func(t *testing.T) {
			out, r := profCall(t, env.LoginDemo("harbor.admin"), "updateUser", map[string]any{"id": jordan, "firstName": "Hacked"})
			profAssertRefused(t, "harbor.admin editing pt.jordan", out, r, "NOT_FOUND")
			if u := p.user(t, jordan); u.FirstName != "Jordan" {
				t.Errorf("first name = %q", u.FirstName)
			}
		})
	})
}

// profSearchNames returns the usernames found by users(filter: {name}).
func profSearchNames(t *testing.T, c *apitest.Client, name string) []string {
	t.Helper()
	var out struct {
		Users struct {
			Edges []struct{ Node struct{ Username string } }
		}
	}
	profMustDo(t, c, `query($n: String) { users(first: 100, filter: {name: $n}) { edges { node { username } } } }`,
		map[string]any{"n": name}, &out)
	var names []string
	for _, e := range out.Users.Edges {
		names = append(names, e.Node.Username)
	}
	return names
}

// TestProfChangeUserType: only Support changes a user's type; an active user
// moves to a license of the new class in one step, or nothing changes
// (R12, R23); permissions the new type cannot hold are removed; the user's
// tokens stop working.
func TestProfChangeUserType(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		support := env.LoginDemo(demo.SupportUsername)
		jordan, sam := p.userID(t, "pt.jordan"), p.userID(t, "pt.sam")
		jordanSession := env.LoginDemo("pt.jordan")
		samSession := env.LoginDemo("pt.sam")

		t.Run("clinic admin is refused", func(t *testing.T) {
			out, r := profCall(t, p.admin, "changeUserType", map[string]any{"userId": jordan, "userType": "PTA"})
			profAssertRefused(t, "admin changing a user's type", out, r, "FORBIDDEN")
			if u := p.user(t, jordan); u.UserType != "PT" {
				t.Errorf("type = %s", u.UserType)
			}
		})

		t.Run("PT to PTA with an Assistant license free", func(t *testing.T) {
			before := p.counts(t)
			out := profMustSucceed(t, support, "changeUserType", map[string]any{"userId": jordan, "userType": "PTA"})
			u := out.User
			if u.UserType != "PTA" || u.Status != "ACTIVE" || profDeref(u.LicenseClass) != "ASSISTANT" {
				t.Errorf("type %s status %s licenseClass %s", u.UserType, u.Status, profDeref(u.LicenseClass))
			}
			if u.License == nil || u.License.Class != "ASSISTANT" || u.License.Clinic.Name != profDowntown {
				t.Errorf("license = %+v, want ASSISTANT at Downtown", u.License)
			}
			if got := u.permKeys(); !slices.Equal(got, profSorted("VIEW_PATIENTS", "EDIT_PATIENTS", "START_SOAP_NOTES")) {
				t.Errorf("permissions = %v, want FINISH_SOAP_NOTES removed", got)
			}
			if !slices.Contains(out.warningCodes(), "PERMISSIONS_REMOVED") {
				t.Errorf("warnings = %+v, want PERMISSIONS_REMOVED", out.Warnings)
			}
			for _, w := range out.Warnings {
				if w.Code == "PERMISSIONS_REMOVED" && !strings.Contains(w.Message, "FINISH_SOAP_NOTES") && !strings.Contains(w.Message, "Finish SOAP Notes") {
					t.Errorf("warning %q does not name Finish SOAP Notes", w.Message)
				}
			}
			p.assertDelta(t, before, map[string]int{profDowntown + "/THERAPIST": -1, profDowntown + "/ASSISTANT": 1})
			if stored := p.user(t, jordan); stored.UserType != "PTA" || stored.License == nil || stored.License.Class != "ASSISTANT" {
				t.Errorf("stored = %+v", stored)
			}
		})

		t.Run("the user's access token stops working", func(t *testing.T) {
			r := jordanSession.Do(`{ viewer { username } }`, nil)
			if r.Code() != "UNAUTHENTICATED" {
				t.Errorf("old token after a type change: %s", r.Body)
			}
			profAssertRefreshRefused(t, env, jordanSession.RefreshToken)
			// The user signs in again, as a PTA.
			var v struct {
				Viewer struct{ Username, UserType string }
			}
			profMustDo(t, env.LoginDemo("pt.jordan"), `{ viewer { username userType } }`, nil, &v)
			if v.Viewer.UserType != "PTA" {
				t.Errorf("viewer = %+v", v.Viewer)
			}
		})

		t.Run("Clerical to PT gets placeholder credentials", func(t *testing.T) {
			desk := p.userID(t, "front.desk")
			before := p.counts(t)
			out := profMustSucceed(t, support, "changeUserType", map[string]any{"userId": desk, "userType": "PT"})
			u := out.User
			if u.UserType != "PT" || u.Status != "ACTIVE" || u.License == nil || u.License.Class != "THERAPIST" || u.License.Clinic.Name != profDowntown {
				t.Errorf("type %s status %s license %+v", u.UserType, u.Status, u.License)
			}
			if profDeref(u.Npi) != profPlaceholderNPI || profDeref(u.LicenseNumber) != profPlaceholderLicense {
				t.Errorf("credentials = %s %s, want the placeholders", profDeref(u.Npi), profDeref(u.LicenseNumber))
			}
			if !slices.Contains(out.warningCodes(), "CREDENTIALS_PLACEHOLDER") {
				t.Errorf("warnings = %+v", out.Warnings)
			}
			if got := u.permKeys(); !slices.Equal(got, profSorted("VIEW_PATIENTS", "EDIT_PATIENTS", "CALENDAR_ADMIN")) {
				t.Errorf("permissions = %v", got)
			}
			p.assertDelta(t, before, map[string]int{profDowntown + "/CLERICAL": -1, profDowntown + "/THERAPIST": 1})
		})

		t.Run("no free license of the new class", func(t *testing.T) {
			before := p.counts(t)
			out := profMustCall(t, support, "changeUserType", map[string]any{"userId": sam, "userType": "SPT"})
			if out.User != nil || !slices.Equal(out.errs(), []string{"userType=MAXIMUM_LICENSES_REACHED"}) {
				t.Fatalf("user %v, userErrors %v, want userType=MAXIMUM_LICENSES_REACHED", out.User, out.errs())
			}
			msg := strings.ToLower(out.UserErrors[0].Message)
			if !strings.Contains(msg, "student") || !strings.Contains(msg, strings.ToLower(profLakeview)) {
				t.Errorf("message %q does not name the class and the clinic", out.UserErrors[0].Message)
			}
			u := p.user(t, sam)
			if u.UserType != "PT" || u.Status != "ACTIVE" || u.License == nil || u.License.Class != "THERAPIST" ||
				!slices.Contains(u.permKeys(), "FINISH_SOAP_NOTES") {
				t.Errorf("after a refused change: %+v", u)
			}
			p.assertDelta(t, before, nil)
			// Nothing changed, so the session goes on.
			if r := samSession.Do(`{ viewer { username } }`, nil); len(r.Errors) > 0 {
				t.Errorf("pt.sam's session ended by a refused change: %s", r.Body)
			}
		})

		t.Run("SUPPORT is not a practice type", func(t *testing.T) {
			out := profMustCall(t, support, "changeUserType", map[string]any{"userId": sam, "userType": "SUPPORT"})
			if out.User != nil || !slices.Equal(out.errs(), []string{"userType=INVALID_USER_TYPE"}) {
				t.Errorf("user %v, userErrors %v", out.User, out.errs())
			}
		})
	})
}

// TestProfCopyUserPermissions: permissions and clinics are copied from one or
// more users, active or inactive, add-only; SOAP-note signing permissions
// and clinics the manager cannot access are never copied (R15).
func TestProfCopyUserPermissions(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		fillin, desk, jordan, taylor := p.userID(t, "pt.fillin"), p.userID(t, "front.desk"), p.userID(t, "pt.jordan"), p.userID(t, "pta.taylor")
		if u := p.user(t, fillin); u.Status != "INACTIVE" || !slices.Contains(u.permKeys(), "FINISH_SOAP_NOTES") {
			t.Fatalf("precondition: pt.fillin = %+v", u)
		}
		// Targets are therapists (who could hold the SOAP permissions),
		// Inactive so they need no license.
		target := func(c *apitest.Client, username, home string) string {
			in := p.input(username, "PT", home)
			in["permissions"], in["status"] = []string{"CLINIC_ADMIN"}, "INACTIVE"
			return profMustSucceed(t, c, "createUser", in).User.ID
		}
		mgrIn := p.input("mgr.downtown", "PT", profDowntown)
		mgrIn["admin"] = true
		profMustSucceed(t, p.admin, "createUser", mgrIn)
		mgr := env.Login("mgr.downtown", profStrong)

		cases := []struct {
			name     string
			by       *apitest.Client
			target   string
			sources  []string
			perms    []string
			clinics  []string
			home     string
			unchange []string // source IDs that must stay as they were
		}{
			{
				name: "from an inactive user", by: p.admin, target: target(p.admin, "copy.one", profNorthside),
				sources: []string{fillin},
				perms:   []string{"CLINIC_ADMIN", "VIEW_PATIENTS", "EDIT_PATIENTS"},
				clinics: []string{profNorthside, profLakeview}, home: profNorthside,
			},
			{
				name: "from two users", by: p.admin, target: target(p.admin, "copy.two", profNorthside),
				sources: []string{fillin, desk},
				perms:   []string{"CLINIC_ADMIN", "VIEW_PATIENTS", "EDIT_PATIENTS", "CALENDAR_ADMIN"},
				clinics: []string{profNorthside, profLakeview, profDowntown}, home: profNorthside,
			},
			{
				name: "add-only onto a user with SOAP permissions", by: p.admin, target: taylor,
				sources: []string{desk},
				perms:   []string{"VIEW_PATIENTS", "EDIT_PATIENTS", "START_SOAP_NOTES", "FORWARD_SOAP_NOTES", "CALENDAR_ADMIN"},
				clinics: []string{profDowntown, profNorthside, profLakeview}, home: profDowntown,
			},
			{
				name: "by a manager of one clinic", by: mgr, target: target(p.admin, "copy.three", profDowntown),
				sources: []string{desk, jordan},
				perms:   []string{"CLINIC_ADMIN", "VIEW_PATIENTS", "EDIT_PATIENTS", "CALENDAR_ADMIN"},
				clinics: []string{profDowntown}, home: profDowntown,
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				sourcesBefore := map[string]*profUser{}
				for _, s := range tc.sources {
					sourcesBefore[s] = p.user(t, s)
				}
				out := profMustSucceed(t, tc.by, "copyUserPermissions", map[string]any{"targetUserId": tc.target, "sourceUserIds": tc.sources})
				for _, u := range []*profUser{out.User, p.user(t, tc.target)} {
					if got := u.permKeys(); !slices.Equal(got, profSorted(tc.perms...)) {
						t.Errorf("permissions = %v, want %v", got, profSorted(tc.perms...))
					}
					if got := u.clinicNames(); !slices.Equal(got, profSorted(tc.clinics...)) {
						t.Errorf("clinics = %v, want %v", got, profSorted(tc.clinics...))
					}
					if u.HomeClinic == nil || u.HomeClinic.Name != tc.home {
						t.Errorf("home clinic = %+v, want %s", u.HomeClinic, tc.home)
					}
				}
				for id, before := range sourcesBefore {
					after := p.user(t, id)
					if !slices.Equal(after.permKeys(), before.permKeys()) || !slices.Equal(after.clinicNames(), before.clinicNames()) || after.Status != before.Status {
						t.Errorf("source %s changed: %+v -> %+v", before.Username, before, after)
					}
				}
			})
		}

		t.Run("restricted permissions are not copied by a clinic admin", func(t *testing.T) {
			support := env.LoginDemo(demo.SupportUsername)
			in := p.input("billing.granted", "CLERICAL", profNorthside)
			in["permissions"], in["status"] = []string{"VIEW_PATIENTS", "BILLING_ADMIN"}, "INACTIVE"
			source := profMustSucceed(t, support, "createUser", in).User.ID
			tgt := target(p.admin, "copy.six", profNorthside)
			out := profMustSucceed(t, p.admin, "copyUserPermissions", map[string]any{"targetUserId": tgt, "sourceUserIds": []string{source}})
			if got := out.User.permKeys(); !slices.Equal(got, profSorted("CLINIC_ADMIN", "VIEW_PATIENTS")) {
				t.Errorf("permissions = %v, want BILLING_ADMIN left out", got)
			}
			if !slices.Contains(out.warningCodes(), "PERMISSIONS_NOT_COPIED") {
				t.Errorf("warnings = %+v, want PERMISSIONS_NOT_COPIED", out.Warnings)
			}
			// Support may copy it.
			out = profMustSucceed(t, support, "copyUserPermissions", map[string]any{"targetUserId": tgt, "sourceUserIds": []string{source}})
			if got := out.User.permKeys(); !slices.Equal(got, profSorted("BILLING_ADMIN", "CLINIC_ADMIN", "VIEW_PATIENTS")) {
				t.Errorf("permissions copied by Support = %v", got)
			}
		})

		t.Run("createUser with copyPermissionsFrom", func(t *testing.T) {
			in := p.input("copy.four", "PT", profNorthside)
			in["permissions"], in["status"] = []string{"CLINIC_ADMIN"}, "INACTIVE"
			in["copyPermissionsFrom"] = []string{fillin, desk}
			u := profMustSucceed(t, p.admin, "createUser", in).User
			want := profSorted("CLINIC_ADMIN", "VIEW_PATIENTS", "EDIT_PATIENTS", "CALENDAR_ADMIN")
			for _, got := range []*profUser{u, p.user(t, u.ID)} {
				if !slices.Equal(got.permKeys(), want) {
					t.Errorf("permissions = %v, want %v", got.permKeys(), want)
				}
				if !slices.Equal(got.clinicNames(), profSorted(profNorthside, profLakeview, profDowntown)) {
					t.Errorf("clinics = %v", got.clinicNames())
				}
			}
		})

		t.Run("createUser by a one-clinic manager copies only their clinics", func(t *testing.T) {
			in := p.input("copy.five", "PT", profDowntown)
			in["permissions"], in["status"] = []string{"CLINIC_ADMIN"}, "INACTIVE"
			in["copyPermissionsFrom"] = []string{desk}
			u := profMustSucceed(t, mgr, "createUser", in).User
			if !slices.Equal(u.clinicNames(), []string{profDowntown}) {
				t.Errorf("clinics = %v, want only Downtown", u.clinicNames())
			}
		})

		t.Run("needs Edit Users", func(t *testing.T) {
			out, r := profCall(t, env.LoginDemo("front.desk"), "copyUserPermissions", map[string]any{"targetUserId": taylor, "sourceUserIds": []string{jordan}})
			profAssertRefused(t, "front.desk copying permissions", out, r, "FORBIDDEN")
		})
	})
}

// TestProfSetUserPassword: a manager sets a password (R7, R30): a weak one
// is refused; a strong one lets the user sign in with it and ends their
// sessions.
func TestProfSetUserPassword(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		jordan := p.userID(t, "pt.jordan")
		old := env.LoginDemo("pt.jordan")

		for _, tc := range []struct{ name, password string }{
			{"weak", "password"},
			{"Good, not Strong", profGood},
			{"contains the username", "Zebra!Quilt-9-pt.jordan-Harbor"},
			{"too short", "Ab1!x"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out := profMustCall(t, p.admin, "setUserPassword", map[string]any{"userId": jordan, "password": tc.password})
				if out.User != nil || !slices.Equal(out.errs(), []string{"password=WEAK_PASSWORD"}) {
					t.Fatalf("user %v, userErrors %v, want password=WEAK_PASSWORD", out.User, out.errs())
				}
				if r := old.Do(`{ viewer { username } }`, nil); len(r.Errors) > 0 {
					t.Errorf("a refused password ended the session: %s", r.Body)
				}
			})
		}

		t.Run("strong", func(t *testing.T) {
			out := profMustSucceed(t, p.admin, "setUserPassword", map[string]any{"userId": jordan, "password": profStrong2})
			if out.User.ID != jordan {
				t.Errorf("user = %+v", out.User)
			}
			if strings.Contains(string(profMustBody(t, p.admin, jordan)), profStrong2) {
				t.Errorf("the password is readable")
			}
			fresh := env.Login("pt.jordan", profStrong2)
			var v struct{ Viewer struct{ Username string } }
			profMustDo(t, fresh, `{ viewer { username } }`, nil, &v)
			if v.Viewer.Username != "pt.jordan" {
				t.Errorf("viewer = %+v", v.Viewer)
			}
			if r := old.Do(`{ viewer { username } }`, nil); r.Code() != "UNAUTHENTICATED" {
				t.Errorf("old session after a password change: %s", r.Body)
			}
			profAssertRefreshRefused(t, env, old.RefreshToken)
			r := env.Anonymous().Do(`mutation($p: String!) { login(input: {login: "pt.jordan", password: $p}) { accessToken userErrors { code } } }`,
				map[string]any{"p": env.Password})
			if !strings.Contains(string(r.Body), "INVALID_CREDENTIALS") {
				t.Errorf("the old password still signs in: %s", r.Body)
			}
		})

		t.Run("needs Edit Users", func(t *testing.T) {
			out, r := profCall(t, env.LoginDemo("front.desk"), "setUserPassword", map[string]any{"userId": jordan, "password": profStrong})
			profAssertRefused(t, "front.desk setting a password", out, r, "FORBIDDEN")
		})
		t.Run("Biller only from their home clinic (R13)", func(t *testing.T) {
			lee := p.userID(t, "billing.lee")
			northside := *p.admin
			northside.Clinic = p.clinics[profNorthside]
			out, r := profCall(t, &northside, "setUserPassword", map[string]any{"userId": lee, "password": profStrong})
			profAssertRefused(t, "setting billing.lee's password from Northside", out, r, "FORBIDDEN")
			env.LoginDemo("billing.lee") // the old password still works
		})
		t.Run("another organization's user", func(t *testing.T) {
			out, r := profCall(t, env.LoginDemo("harbor.admin"), "setUserPassword", map[string]any{"userId": jordan, "password": profStrong})
			profAssertRefused(t, "harbor.admin setting a Sunrise password", out, r, "NOT_FOUND")
		})
	})
}

// profAssertRefreshRefused checks that a session's refresh token no longer
// works.
func profAssertRefreshRefused(t *testing.T, env *apitest.Env, refreshToken string) {
	t.Helper()
	r := env.Anonymous().Do(`mutation($r: String!) { refreshSession(input: {refreshToken: $r}) { accessToken userErrors { code } } }`,
		map[string]any{"r": refreshToken})
	var out struct {
		RefreshSession struct {
			AccessToken *string
			UserErrors  []apitest.UserError
		}
	}
	if len(r.Errors) > 0 {
		t.Fatalf("refreshSession: %s", r.Body)
	}
	r.Decode(t, &out)
	if out.RefreshSession.AccessToken != nil || len(out.RefreshSession.UserErrors) != 1 || out.RefreshSession.UserErrors[0].Code != "INVALID_REFRESH_TOKEN" {
		t.Errorf("refresh token of an ended session: %s", r.Body)
	}
}

// profMustBody reads a user's node as raw JSON.
func profMustBody(t *testing.T, c *apitest.Client, id string) []byte {
	t.Helper()
	r := c.Do(`query($id: ID!) { node(id: $id) { ...profUser } }`+profUserFields, map[string]any{"id": id})
	if len(r.Errors) > 0 {
		t.Fatalf("node: %s", r.Body)
	}
	return r.Body
}

type profPasswordCheck struct {
	PasswordStrength struct {
		Requirements []struct {
			Key, Message string
			Met          bool
		}
		Strength   string
		Acceptable bool
	}
}

func (c profPasswordCheck) met() map[string]bool {
	m := map[string]bool{}
	for _, r := range c.PasswordStrength.Requirements {
		m[r.Key] = r.Met
	}
	return m
}

func (c profPasswordCheck) unmet() []string {
	var out []string
	for _, r := range c.PasswordStrength.Requirements {
		if !r.Met {
			out = append(out, r.Key)
		}
	}
	sort.Strings(out)
	return out
}

func profCheckPassword(t *testing.T, c *apitest.Client, password string, personal map[string]any) profPasswordCheck {
	t.Helper()
	vars := map[string]any{"p": password}
	for k, v := range personal {
		vars[k] = v
	}
	var out profPasswordCheck
	profMustDo(t, c, `query($p: String!, $username: String, $email: String, $firstName: String, $lastName: String) {
  passwordStrength(password: $p, username: $username, email: $email, firstName: $firstName, lastName: $lastName) {
    requirements { key message met } strength acceptable } }`, vars, &out)
	return out
}

// TestProfPasswordStrength: each requirement of R7 reported met or not, the
// four-level strength, and the username and names making a password weaker.
func TestProfPasswordStrength(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		anon := env.Anonymous()
		keys := []string{"MIN_LENGTH", "DIGIT", "SPECIAL", "UPPER", "LOWER", "NOT_USERNAME", "STRONG"}
		all := func(except ...string) map[string]bool {
			m := map[string]bool{}
			for _, k := range keys {
				m[k] = !slices.Contains(except, k)
			}
			return m
		}
		cases := []struct {
			name, password string
			personal       map[string]any
			strength       string // "" when not asserted
			strengths      []string
			acceptable     bool
			met            map[string]bool
		}{
			{name: "password", password: "password", strength: "WEAK", met: all("DIGIT", "SPECIAL", "UPPER", "STRONG")},
			{name: "short", password: "Ab1!", strength: "WEAK", met: all("MIN_LENGTH", "STRONG")},
			{name: "no digit", password: "Horse-Battery-Staple-Correct!", met: all("DIGIT"), strength: "STRONG"},
			{name: "no special", password: "HorseBatteryStaple9Correct", met: all("SPECIAL"), strength: "STRONG"},
			{name: "no upper", password: "horse-battery-staple-9-correct", met: all("UPPER"), strength: "STRONG"},
			{name: "no lower", password: "HORSE-BATTERY-STAPLE-9-CORRECT", met: all("LOWER"), strength: "STRONG"},
			{name: "Good is not enough", password: profGood, strength: "GOOD", met: all("STRONG")},
			{name: "long passphrase", password: profStrong2, strength: "STRONG", acceptable: true, met: all()},
			{name: "random with symbols", password: "q7#Vt!9zL&x2@Rm", strength: "STRONG", acceptable: true, met: all()},
			{name: "contains the username", password: "Vrindavan#2024", personal: map[string]any{"username": "vrindavan"},
				strength: "WEAK", met: all("NOT_USERNAME", "STRONG")},
			{name: "contains the username in another case", password: "Zebra!Quilt-9-PT.JORDAN-Harbor", personal: map[string]any{"username": "pt.jordan"},
				strengths: []string{"GOOD", "STRONG"}, met: all("NOT_USERNAME")},
			{name: "same password without the username", password: "Vrindavan#2024", strength: "STRONG", acceptable: true, met: all()},
			{name: "the person's name", password: "Jordan#Reyes2024!", personal: map[string]any{"firstName": "Jordan", "lastName": "Reyes"},
				strength: "WEAK", met: all("STRONG")},
			{name: "empty", password: "", strength: "WEAK", met: all("MIN_LENGTH", "DIGIT", "SPECIAL", "UPPER", "LOWER", "STRONG")},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := profCheckPassword(t, anon, tc.password, tc.personal)
				got := c.met()
				for _, k := range keys {
					if _, ok := got[k]; !ok {
						t.Errorf("requirement %s missing: %v", k, got)
					} else if got[k] != tc.met[k] {
						t.Errorf("%s met = %v, want %v", k, got[k], tc.met[k])
					}
				}
				for _, r := range c.PasswordStrength.Requirements {
					if strings.TrimSpace(r.Message) == "" {
						t.Errorf("requirement %s has no message", r.Key)
					}
				}
				if tc.strength != "" && c.PasswordStrength.Strength != tc.strength {
					t.Errorf("strength = %s, want %s", c.PasswordStrength.Strength, tc.strength)
				}
				if tc.strengths != nil && !slices.Contains(tc.strengths, c.PasswordStrength.Strength) {
					t.Errorf("strength = %s, want one of %v", c.PasswordStrength.Strength, tc.strengths)
				}
				if c.PasswordStrength.Acceptable != tc.acceptable {
					t.Errorf("acceptable = %v, want %v", c.PasswordStrength.Acceptable, tc.acceptable)
				}
			})
		}
		// Over 256 characters: MAX_LENGTH is not met.
		long := profCheckPassword(t, anon, strings.Repeat("Zq7!Kw#p", 40), nil)
		if long.met()["MAX_LENGTH"] || long.PasswordStrength.Acceptable {
			t.Errorf("300-character password: %+v", long.PasswordStrength)
		}
		// The same password is weaker for the person it names.
		plain := profCheckPassword(t, anon, "Jordan#Reyes2024!", nil)
		named := profCheckPassword(t, anon, "Jordan#Reyes2024!", map[string]any{"firstName": "Jordan", "lastName": "Reyes"})
		order := []string{"WEAK", "FAIR", "GOOD", "STRONG"}
		if slices.Index(order, named.PasswordStrength.Strength) >= slices.Index(order, plain.PasswordStrength.Strength) {
			t.Errorf("strength with the person's names %s, without %s: want weaker", named.PasswordStrength.Strength, plain.PasswordStrength.Strength)
		}
	})
}

type profDuplicate struct {
	User    struct{ ID, Username string }
	Reasons []string
}

func profDuplicates(t *testing.T, c *apitest.Client, in map[string]any) ([]profDuplicate, *apitest.Response) {
	t.Helper()
	r := c.Do(`query($in: DuplicateProvidersInput!) { duplicateProviders(input: $in) { user { id username } reasons } }`,
		map[string]any{"in": in})
	if len(r.Errors) > 0 {
		return nil, r
	}
	var out struct{ DuplicateProviders []profDuplicate }
	r.Decode(t, &out)
	return out.DuplicateProviders, r
}

// TestProfDuplicateProviders: same NPI, same license number and state, same
// email, similar current or earlier name; placeholders never match; View
// Users is needed; other organizations are never searched (R14, R1).
func TestProfDuplicateProviders(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		jordan, casey := p.userID(t, "pt.jordan"), p.userID(t, "ot.casey")
		profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": jordan, "npi": profNPI2, "licenseNumber": "PT777", "licenseState": "CA"})
		profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": casey, "firstName": "Casey", "lastName": "Whitmore", "fullName": "Casey Whitmore"})
		// Providers with names beyond ASCII.
		for _, u := range []struct{ username, first, last string }{{"pt.tran", "Lan", "Trần"}, {"pt.alvarez", "José", "Álvarez"}} {
			in := p.input(u.username, "PT", profNorthside)
			in["firstName"], in["lastName"], in["status"] = u.first, u.last, "INACTIVE"
			profMustSucceed(t, p.admin, "createUser", in)
		}

		cases := []struct {
			name    string
			in      map[string]any
			user    string   // username expected among the answers ("" for none)
			reasons []string // its exact reasons
			absent  []string // usernames that must not be answered
			empty   bool     // the answer must be empty
		}{
			{name: "same NPI", in: map[string]any{"npi": profNPI2}, user: "pt.jordan", reasons: []string{"SAME_NPI"}},
			{name: "same license and state, any case", in: map[string]any{"licenseNumber": "pt777", "licenseState": "ca"}, user: "pt.jordan", reasons: []string{"SAME_LICENSE"}},
			{name: "same license, other state", in: map[string]any{"licenseNumber": "PT777", "licenseState": "NY"}, absent: []string{"pt.jordan"}},
			{name: "same email, any case", in: map[string]any{"email": "PT.Jordan@Sunrise-Therapy.EXAMPLE"}, user: "pt.jordan", reasons: []string{"SAME_EMAIL"}},
			{name: "similar name", in: map[string]any{"firstName": "Jordon", "lastName": "Reyes"}, user: "pt.jordan", reasons: []string{"SIMILAR_NAME"}},
			{name: "same name, other case", in: map[string]any{"firstName": "JORDAN", "lastName": "reyes"}, user: "pt.jordan", reasons: []string{"SIMILAR_NAME"}},
			{name: "previous name", in: map[string]any{"firstName": "Casey", "lastName": "Nguyen"}, user: "ot.casey", reasons: []string{"SIMILAR_PREVIOUS_NAME"}},
			{name: "misspelled previous name", in: map[string]any{"firstName": "Casey", "lastName": "Nguyem"}, user: "ot.casey", reasons: []string{"SIMILAR_PREVIOUS_NAME"}},
			{name: "last name misspelled early", in: map[string]any{"firstName": "Jordan", "lastName": "Rayes"}, user: "pt.jordan", reasons: []string{"SIMILAR_NAME"}},
			{name: "last name without its apostrophe", in: map[string]any{"firstName": "Samira", "lastName": "ONeill"}, user: "pt.sam", reasons: []string{"SIMILAR_NAME"}},
			{name: "accent typed, none stored", in: map[string]any{"firstName": "Jordan", "lastName": "Réyes"}, user: "pt.jordan", reasons: []string{"SIMILAR_NAME"}},
			{name: "accent stored, none typed", in: map[string]any{"firstName": "Jose", "lastName": "Alvarez"}, user: "pt.alvarez", reasons: []string{"SIMILAR_NAME"}},
			{name: "same non-ASCII name", in: map[string]any{"firstName": "Lan", "lastName": "Trần"}, user: "pt.tran", reasons: []string{"SIMILAR_NAME"}},
			{name: "same accented name", in: map[string]any{"firstName": "José", "lastName": "Álvarez"}, user: "pt.alvarez", reasons: []string{"SIMILAR_NAME"}},
			{name: "current name after the rename", in: map[string]any{"firstName": "Casey", "lastName": "Whitmore"}, user: "ot.casey", reasons: []string{"SIMILAR_NAME"}},
			{name: "several reasons", in: map[string]any{"npi": profNPI2, "email": "pt.jordan@sunrise-therapy.example", "firstName": "Jordan", "lastName": "Reyes"},
				user: "pt.jordan", reasons: []string{"SAME_EMAIL", "SAME_NPI", "SIMILAR_NAME"}},
			{name: "unrelated", in: map[string]any{"firstName": "Xavier", "lastName": "Quortle", "npi": profNPI1}, empty: true},
			{name: "placeholder NPI", in: map[string]any{"npi": profPlaceholderNPI}, empty: true},
			{name: "placeholder license", in: map[string]any{"licenseNumber": profPlaceholderLicense}, empty: true},
			{name: "placeholder license and state", in: map[string]any{"licenseNumber": profPlaceholderLicense, "licenseState": "CA"}, empty: true},
			{name: "both placeholders", in: map[string]any{"npi": profPlaceholderNPI, "licenseNumber": profPlaceholderLicense}, empty: true},
			{name: "excluding the profile edited", in: map[string]any{"npi": profNPI2, "excludeUserId": jordan}, absent: []string{"pt.jordan"}},
		}
		// The stored names of the users expected, current and earlier.
		storedNames := map[string][]string{
			"pt.jordan": {"Jordan Reyes"}, "pt.sam": {"Samira O'Neill"}, "pt.tran": {"Lan Trần"},
			"pt.alvarez": {"José Álvarez"}, "ot.casey": {"Casey Whitmore", "Casey Nguyen"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				// Premise of the name cases: the product's own similarity
				// rule (credentials.NameSimilar) calls the names similar.
				if first, ok := tc.in["firstName"].(string); ok && tc.user != "" {
					name := first + " " + tc.in["lastName"].(string)
					similar := false
					for _, stored := range storedNames[tc.user] {
						similar = similar || credentials.NameSimilar(name, stored)
					}
					if !similar {
						t.Fatalf("premise: NameSimilar(%q, %v) is false", name, storedNames[tc.user])
					}
				}
				got, r := profDuplicates(t, p.admin, tc.in)
				if got == nil && r != nil && len(r.Errors) > 0 {
					t.Fatalf("duplicateProviders: %s", r.Body)
				}
				if tc.empty && len(got) != 0 {
					t.Errorf("answers = %+v, want none", got)
				}
				var names []string
				for _, d := range got {
					names = append(names, d.User.Username)
					if strings.HasPrefix(d.User.Username, "harbor") {
						t.Errorf("another organization's user answered: %+v", d)
					}
					if len(d.Reasons) == 0 {
						t.Errorf("%s answered without a reason", d.User.Username)
					}
				}
				for _, a := range tc.absent {
					if slices.Contains(names, a) {
						t.Errorf("answers %v include %s", names, a)
					}
				}
				if tc.user != "" {
					i := slices.IndexFunc(got, func(d profDuplicate) bool { return d.User.Username == tc.user })
					if i < 0 {
						t.Fatalf("answers %v lack %s", names, tc.user)
					}
					if rs := profSorted(got[i].Reasons...); !slices.Equal(rs, profSorted(tc.reasons...)) {
						t.Errorf("%s reasons = %v, want %v", tc.user, rs, profSorted(tc.reasons...))
					}
				}
			})
		}

		t.Run("needs View Users", func(t *testing.T) {
			_, r := profDuplicates(t, env.LoginDemo("front.desk"), map[string]any{"npi": profNPI2})
			if r == nil || r.Code() != "FORBIDDEN" {
				t.Errorf("front.desk: %s", r.Body)
			}
		})
		t.Run("another organization", func(t *testing.T) {
			got, r := profDuplicates(t, env.LoginDemo("harbor.admin"), map[string]any{"npi": profNPI2, "firstName": "Jordan", "lastName": "Reyes"})
			if len(got) != 0 || (r != nil && len(r.Errors) > 0) {
				t.Errorf("harbor.admin: %s", r.Body)
			}
		})
	})
}

const profUpdateClinic = `mutation($in: UpdateClinicInput!) { updateClinic(input: $in) { clinic { id name } userErrors { field message code } } }`

type profClinicPayload struct {
	UpdateClinic struct {
		Clinic     *profNamed
		UserErrors []apitest.UserError
	}
}

// TestProfUpdateClinic: Company Admin renames a clinic; names are unique in
// the organization, any case; others are refused; another organization's
// clinic is not found.
func TestProfUpdateClinic(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		lake, north, down := p.clinics[profLakeview], p.clinics[profNorthside], p.clinics[profDowntown]
		assertNames := func(t *testing.T, want ...string) {
			t.Helper()
			var got []string
			for n := range profClinicIDs(t, p.admin) {
				got = append(got, n)
			}
			if sort.Strings(got); !slices.Equal(got, profSorted(want...)) {
				t.Errorf("clinics = %v, want %v", got, profSorted(want...))
			}
		}
		cases := []struct {
			name    string
			by      *apitest.Client
			in      map[string]any
			code    string // GraphQL error code
			errs    []string
			renamed string
			after   []string // clinic names afterwards
		}{
			{name: "rename by Company Admin", by: p.admin, in: map[string]any{"id": lake, "name": "  Sunrise Lakeview West "},
				renamed: "Sunrise Lakeview West", after: []string{profDowntown, profNorthside, "Sunrise Lakeview West"}},
			{name: "name of another clinic, other case", by: p.admin, in: map[string]any{"id": north, "name": "SUNRISE DOWNTOWN"},
				errs: []string{"name=NAME_TAKEN"}, after: []string{profDowntown, profNorthside, "Sunrise Lakeview West"}},
			{name: "empty name", by: p.admin, in: map[string]any{"id": north, "name": "  "},
				errs: []string{"name=REQUIRED"}, after: []string{profDowntown, profNorthside, "Sunrise Lakeview West"}},
			{name: "case change of its own name", by: p.admin, in: map[string]any{"id": north, "name": "Sunrise NORTHSIDE"},
				renamed: "Sunrise NORTHSIDE", after: []string{profDowntown, "Sunrise NORTHSIDE", "Sunrise Lakeview West"}},
			{name: "without Company Admin", by: env.LoginDemo("front.desk"), in: map[string]any{"id": down, "name": "Desk Clinic"},
				code: "FORBIDDEN", after: []string{profDowntown, "Sunrise NORTHSIDE", "Sunrise Lakeview West"}},
			{name: "another organization's clinic", by: env.LoginDemo("harbor.admin"), in: map[string]any{"id": down, "name": "Harbor Annex"},
				code: "NOT_FOUND", after: []string{profDowntown, "Sunrise NORTHSIDE", "Sunrise Lakeview West"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.by.Do(profUpdateClinic, map[string]any{"in": tc.in})
				switch {
				case tc.code != "":
					if r.Code() != tc.code {
						t.Errorf("code %q, want %s: %s", r.Code(), tc.code, r.Body)
					}
				default:
					if len(r.Errors) > 0 {
						t.Fatalf("GraphQL errors: %s", r.Body)
					}
					var out profClinicPayload
					r.Decode(t, &out)
					var got []string
					for _, e := range out.UpdateClinic.UserErrors {
						got = append(got, profDeref(e.Field)+"="+e.Code)
					}
					if !slices.Equal(got, tc.errs) {
						t.Errorf("userErrors = %v, want %v", got, tc.errs)
					}
					if tc.renamed != "" && (out.UpdateClinic.Clinic == nil || out.UpdateClinic.Clinic.Name != tc.renamed || out.UpdateClinic.Clinic.ID != tc.in["id"]) {
						t.Errorf("clinic = %+v, want %s", out.UpdateClinic.Clinic, tc.renamed)
					}
					if tc.renamed == "" && out.UpdateClinic.Clinic != nil {
						t.Errorf("clinic returned despite errors: %+v", out.UpdateClinic.Clinic)
					}
				}
				assertNames(t, tc.after...)
			})
		}
	})
}
