package apitest_test

// API tests of the containment of privileges (SPEC R32-R35, R2, R14 under
// concurrency): each attack that once let staff take over a practice, beside
// its legitimate neighbour, on SQLite and PostgreSQL.

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// conEnv is the demo practice plus three managers of the test's own:
// viewer (View Users only, Downtown), north (Edit Users, Northside only) and
// clerk (Edit Users, Downtown only).
type conEnv struct {
	*profEnv
	support, viewer, north, clerk *apitest.Client
	ids                           map[string]string
}

func conSetup(t *testing.T, env *apitest.Env) *conEnv {
	t.Helper()
	c := &conEnv{profEnv: profSetup(t, env), support: env.LoginDemo(demo.SupportUsername), ids: map[string]string{}}
	// Clerical licenses for the managers this test adds.
	for _, clinic := range []string{profDowntown, profNorthside} {
		add := adjAsk(t, c.admin, map[string]any{"clinicId": c.clinics[clinic], "class": "CLERICAL", "kind": "ADD", "quantity": 10})
		if add.Adjustment == nil {
			t.Fatalf("adding licenses: %+v", add.UserErrors)
		}
		if p, r := adjAct(t, c.support, "processLicenseAdjustment", add.Adjustment.ID, nil); p.Adjustment == nil {
			t.Fatalf("processing the adjustment: %s", r.Body)
		}
	}
	c.viewer = c.manager(t, "con.viewer", profDowntown, []string{"VIEW_PATIENTS", "VIEW_USERS"})
	c.north = c.manager(t, "con.north", profNorthside, []string{"VIEW_PATIENTS", "VIEW_USERS", "EDIT_USERS"})
	c.clerk = c.manager(t, "con.clerk", profDowntown, []string{"VIEW_PATIENTS", "VIEW_USERS", "EDIT_USERS"})
	for _, u := range []string{"admin", "pt.jordan", "ot.casey", "slp.riley"} {
		c.ids[u] = c.userID(t, u)
	}
	return c
}

// manager creates an active Clerical user of one clinic, as the Company
// Admin, and signs in as them.
func (c *conEnv) manager(t *testing.T, username, clinic string, perms []string) *apitest.Client {
	t.Helper()
	p := profMustSucceed(t, c.admin, "createUser", conNewUser(username, "CLERICAL", c.clinics[clinic], perms))
	if p.User.Status != "ACTIVE" {
		t.Fatalf("%s was saved %s: %v", username, p.User.Status, p.warningCodes())
	}
	c.ids[username] = p.User.ID
	return c.env.Login(username, profStrong)
}

func conNewUser(username, userType, clinicID string, perms []string) map[string]any {
	in := map[string]any{
		"username": username, "email": username + "@containment.example", "password": profStrong,
		"userType": userType, "firstName": "Con", "lastName": strings.ReplaceAll(username, ".", " "),
		"homeClinicId": clinicID, "clinicIds": []string{clinicID}, "permissions": perms,
	}
	if userType != "CLERICAL" && userType != "BILLER" {
		in["npi"], in["licenseNumber"] = profPlaceholderNPI, profPlaceholderLicense
	}
	return in
}

// conForbidden asserts a FORBIDDEN answer whose message names why.
func conForbidden(t *testing.T, what string, r *apitest.Response, because string) {
	t.Helper()
	if r.Code() != "FORBIDDEN" {
		t.Fatalf("%s: want FORBIDDEN, got %s", what, r.Body)
	}
	if !strings.Contains(r.Errors[0].Message, because) {
		t.Errorf("%s: the refusal %q does not say %q", what, r.Errors[0].Message, because)
	}
}

// conHasError asserts a userError with the code on the field.
func conHasError(t *testing.T, what string, p *profPayload, r *apitest.Response, want string) {
	t.Helper()
	if p == nil {
		t.Fatalf("%s: GraphQL errors instead of userErrors: %s", what, r.Body)
	}
	if p.User != nil || !slices.Contains(p.errs(), want) {
		t.Fatalf("%s: want userError %s and no user, got user %v, errors %v", what, want, p.User != nil, p.errs())
	}
}

func (c *conEnv) exists(t *testing.T, username string) bool {
	t.Helper()
	var out struct {
		Users struct{ TotalCount int }
	}
	profMustDo(t, c.admin, `query($u: String) { users(filter: {username: $u}) { totalCount } }`, map[string]any{"u": username}, &out)
	return out.Users.TotalCount > 0
}

func conDo(c *apitest.Client, mutation, input, fields string, in map[string]any) *apitest.Response {
	return c.Do(fmt.Sprintf(`mutation($in: %s!) { %s(input: $in) { %s } }`, input, mutation, fields), map[string]any{"in": in})
}

// R32: a View Users holder adds users, but grants nothing administrative
// they lack; a Company Admin still grants everything; a clerical manager
// still grants SOAP permissions to a therapist.
func TestContainmentNobodyGrantsMoreThanTheyHold(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		downtown := c.clinics[profDowntown]

		attacks := []struct {
			name  string
			extra map[string]any
			want  string
		}{
			{"admin shortcut", map[string]any{"admin": true}, "permissions=PERMISSION_NOT_GRANTABLE"},
			{"Edit Users", map[string]any{"permissions": []string{"VIEW_PATIENTS", "EDIT_USERS"}}, "permissions=PERMISSION_NOT_GRANTABLE"},
			{"Company Admin", map[string]any{"permissions": []string{"COMPANY_ADMIN"}}, "permissions=PERMISSION_NOT_GRANTABLE"},
			{"restricted", map[string]any{"permissions": []string{"BILLING_ADMIN"}}, "permissions=FORBIDDEN"},
			{"a clinic not theirs", map[string]any{"clinicIds": []string{downtown, c.clinics[profLakeview]}}, "clinicIds=CLINIC_NOT_ACCESSIBLE"},
		}
		for i, a := range attacks {
			username := fmt.Sprintf("con.escalate%d", i)
			in := conNewUser(username, "CLERICAL", downtown, []string{"VIEW_PATIENTS"})
			for k, v := range a.extra {
				in[k] = v
			}
			p, r := profCall(t, c.viewer, "createUser", in)
			conHasError(t, "View Users grants "+a.name, p, r, a.want)
			if c.exists(t, username) {
				t.Fatalf("%s: the refused user was written", a.name)
			}
		}

		// Copying from the Company Admin copies only what the viewer holds.
		in := conNewUser("con.copycat", "CLERICAL", downtown, []string{"VIEW_PATIENTS"})
		in["copyPermissionsFrom"] = []string{c.ids["admin"]}
		p := profMustSucceed(t, c.viewer, "createUser", in)
		for _, k := range p.User.permKeys() {
			if k != "VIEW_PATIENTS" && k != "VIEW_USERS" {
				t.Errorf("copying from the Company Admin granted %s to a View Users holder's new user", k)
			}
		}
		if got := p.User.clinicNames(); !slices.Equal(got, []string{profDowntown}) {
			t.Errorf("copied clinics %v, want only the viewer's %s", got, profDowntown)
		}
		if !slices.Contains(p.warningCodes(), "PERMISSIONS_NOT_COPIED") {
			t.Errorf("no PERMISSIONS_NOT_COPIED warning: %v", p.warningCodes())
		}
		// The new account can do nothing administrative (it was the attack).
		copycat := env.Login("con.copycat", profStrong)
		r := conDo(copycat, "setUserStatus", "SetUserStatusInput", "user { id }",
			map[string]any{"userId": c.ids["con.clerk"], "status": "INACTIVE"})
		conForbidden(t, "the copied account inactivates a colleague", r, "Edit Users")

		// R2: requesting an adjustment changes the bill: Edit Users.
		r = c.viewer.Do(adjRequest, map[string]any{"in": map[string]any{
			"clinicId": downtown, "class": "CLERICAL", "kind": "ADD", "quantity": 1}})
		conForbidden(t, "View Users requests an adjustment", r, "Edit Users")

		// Neighbours: what one holds, and clinical permissions, stay grantable.
		p = profMustSucceed(t, c.viewer, "createUser", conNewUser("con.helper", "CLERICAL", downtown, []string{"VIEW_PATIENTS", "EDIT_PATIENTS", "VIEW_USERS"}))
		if got := p.User.permKeys(); !slices.Equal(got, []string{"EDIT_PATIENTS", "VIEW_PATIENTS", "VIEW_USERS"}) {
			t.Errorf("granted %v", got)
		}
		p = profMustSucceed(t, c.admin, "createUser", func() map[string]any {
			in := conNewUser("con.admin.made", "CLERICAL", downtown, []string{"VIEW_PATIENTS"})
			in["admin"] = true
			return in
		}())
		for _, k := range profAdministrative {
			if !slices.Contains(p.User.permKeys(), k) {
				t.Errorf("the Company Admin's Admin shortcut did not grant %s: %v", k, p.User.permKeys())
			}
		}
		soap := []string{"VIEW_PATIENTS", "START_SOAP_NOTES", "FINISH_SOAP_NOTES"}
		p = profMustSucceed(t, c.clerk, "updateUser", map[string]any{"id": c.ids["ot.casey"], "permissions": soap})
		if got := p.User.permKeys(); !slices.Equal(got, profSorted(soap...)) {
			t.Errorf("the clerical manager granted %v, want %v", got, soap)
		}
		// ... but not an administrative permission they lack.
		pp, rr := profCall(t, c.clerk, "updateUser", map[string]any{"id": c.ids["ot.casey"], "permissions": append(soap, "CLINIC_ADMIN")})
		conHasError(t, "Edit Users grants Clinic Admin", pp, rr, "permissions=PERMISSION_NOT_GRANTABLE")
	})
}

// R33: a manager of one clinic cannot touch the Company Admin who shares it
// (nor anyone with a clinic they lack), but still manages their own staff
// and may send the admin a reset email.
func TestContainmentNobodyManagesSomeoneMorePowerful(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		admin := c.ids["admin"]

		userMutations := []struct{ mutation, input, fields string }{
			{"setUserPassword", "SetUserPasswordInput", "user { id }"},
			{"setUserStatus", "SetUserStatusInput", "user { id }"},
			{"updateUser", "UpdateUserInput", "user { id }"},
			{"clearLockout", "ClearLockoutInput", "user { id }"},
			{"removeProfilePicture", "RemoveImageInput", "user { id }"},
		}
		inputFor := func(mutation, id string) map[string]any {
			switch mutation {
			case "setUserPassword":
				return map[string]any{"userId": id, "password": profStrong2}
			case "setUserStatus":
				return map[string]any{"userId": id, "status": "INACTIVE"}
			case "updateUser":
				return map[string]any{"id": id, "firstName": "Owned"}
			}
			return map[string]any{"userId": id}
		}
		for _, m := range userMutations {
			r := conDo(c.north, m.mutation, m.input, m.fields, inputFor(m.mutation, admin))
			conForbidden(t, "Northside manager "+m.mutation+" on the Company Admin", r, "Company Admin")
		}
		r := c.north.Do(secSessionsQuery, map[string]any{"u": admin})
		conForbidden(t, "Northside manager lists the admin's sessions", r, "Company Admin")
		r = c.north.Do(secRevokeByUser, map[string]any{"u": admin})
		conForbidden(t, "Northside manager revokes the admin's sessions", r, "Company Admin")
		// The admin's password still works: nothing changed.
		env.LoginDemo(demo.AdminUsername)

		// A user with a clinic the manager lacks (pt.jordan: Downtown too).
		r = conDo(c.north, "setUserStatus", "SetUserStatusInput", "user { id }", inputFor("setUserStatus", c.ids["pt.jordan"]))
		conForbidden(t, "Northside manager inactivates a Downtown therapist", r, profDowntown)

		// A reset email goes to the admin's own mailbox: allowed.
		r = conDo(c.north, "sendPasswordResetEmail", "SendPasswordResetEmailInput", "userErrors { code }", map[string]any{"userId": admin})
		if len(r.Errors) > 0 || strings.Contains(string(r.Data), "code") {
			t.Fatalf("sending the admin a reset email: %s", r.Body)
		}

		// Neighbours: the manager's own staff; the Company Admin over anyone.
		riley := c.ids["slp.riley"]
		profMustSucceed(t, c.north, "setUserPassword", inputFor("setUserPassword", riley))
		env.Login("slp.riley", profStrong2)
		if r := c.north.Do(secSessionsQuery, map[string]any{"u": riley}); len(r.Errors) > 0 {
			t.Fatalf("listing own staff's sessions: %s", r.Body)
		}
		for _, status := range []string{"INACTIVE", "ACTIVE"} {
			r := conDo(c.north, "setUserStatus", "SetUserStatusInput", "user { status } userErrors { code }", map[string]any{"userId": riley, "status": status})
			if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"status":"`+status+`"`) {
				t.Fatalf("Northside manager sets slp.riley %s: %s", status, r.Body)
			}
		}
		profMustSucceed(t, c.admin, "setUserPassword", inputFor("setUserPassword", c.ids["con.north"]))
	})
}

// R34: nobody raises themselves, by copying or by editing; a manager still
// edits their own name.
func TestContainmentNobodyRaisesThemselves(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		self := c.ids["con.north"]

		r := conDo(c.north, "copyUserPermissions", "CopyUserPermissionsInput", "user { id }",
			map[string]any{"targetUserId": self, "sourceUserIds": []string{c.ids["admin"]}})
		conForbidden(t, "copying the Company Admin onto oneself", r, "your own")
		r = conDo(c.north, "updateUser", "UpdateUserInput", "user { id }",
			map[string]any{"id": self, "permissions": []string{"VIEW_PATIENTS", "VIEW_USERS", "EDIT_USERS", "COMPANY_ADMIN"}})
		conForbidden(t, "granting oneself Company Admin", r, "your own")
		r = conDo(c.north, "updateUser", "UpdateUserInput", "user { id }",
			map[string]any{"id": self, "clinicIds": []string{c.clinics[profNorthside], c.clinics[profDowntown]}})
		conForbidden(t, "granting oneself a clinic", r, "your own")
		r = conDo(c.north, "setUserStatus", "SetUserStatusInput", "user { id }", map[string]any{"userId": self, "status": "INACTIVE"})
		conForbidden(t, "inactivating oneself", r, "your own")
		r = conDo(c.admin, "setUserStatus", "SetUserStatusInput", "user { id }", map[string]any{"userId": c.ids["admin"], "status": "INACTIVE"})
		conForbidden(t, "the only Company Admin inactivates themselves", r, "your own")

		// Still a plain manager: no clinics of the practice to create.
		r = c.north.Do(`mutation { createClinic(input: {name: "Mine"}) { clinic { id } } }`, nil)
		if r.Code() != "FORBIDDEN" {
			t.Fatalf("creating a clinic after the attempts: %s", r.Body)
		}
		var out struct{ Viewer profUser }
		profMustDo(t, c.north, `{ viewer { ...profUser } }`+profUserFields, nil, &out)
		if got := out.Viewer.permKeys(); !slices.Equal(got, []string{"EDIT_USERS", "VIEW_PATIENTS", "VIEW_USERS"}) || out.Viewer.Status != "ACTIVE" {
			t.Fatalf("the manager's own profile changed: %v %s", got, out.Viewer.Status)
		}

		// Neighbour: one's own name, with the unchanged permissions sent along
		// as a form would.
		p := profMustSucceed(t, c.north, "updateUser", map[string]any{"id": self, "firstName": "Morgan",
			"permissions": []string{"VIEW_USERS", "VIEW_PATIENTS", "EDIT_USERS"}})
		if p.User.FirstName != "Morgan" {
			t.Fatalf("first name %q", p.User.FirstName)
		}
	})
}

// R35: the last active Company Admin stays, also when two admins inactivate
// each other at the same moment.
func TestContainmentLastAdministratorStays(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		in := conNewUser("con.admin2", "CLERICAL", c.clinics[profDowntown], []string{"VIEW_PATIENTS"})
		in["admin"] = true
		in["clinicIds"] = []string{c.clinics[profDowntown], c.clinics[profNorthside], c.clinics[profLakeview]}
		admin2ID := profMustSucceed(t, c.admin, "createUser", in).User.ID
		adminID := c.ids["admin"]

		setStatus := func(cl *apitest.Client, id, status string) (*profPayload, *apitest.Response) {
			r := conDo(cl, "setUserStatus", "SetUserStatusInput",
				"user { id status } warnings { code message } userErrors { field message code }", map[string]any{"userId": id, "status": status})
			if len(r.Errors) > 0 {
				return nil, r
			}
			var data map[string]*profPayload
			r.Decode(t, &data)
			return data["setUserStatus"], r
		}

		// Support may do anything (R33), but not leave the practice
		// without a Company Admin.
		if p, r := setStatus(c.support, adminID, "INACTIVE"); p == nil || p.User == nil {
			t.Fatalf("Support inactivates one of two Company Admins: %s", r.Body)
		}
		p, r := setStatus(c.support, admin2ID, "INACTIVE")
		conHasError(t, "inactivating the last Company Admin", p, r, "status=LAST_ADMINISTRATOR")
		pp, rr := profCall(t, c.support, "updateUser", map[string]any{"id": admin2ID, "permissions": []string{"VIEW_PATIENTS", "VIEW_USERS"}})
		conHasError(t, "removing Company Admin from the last one", pp, rr, "permissions=LAST_ADMINISTRATOR")

		// Two Company Admins inactivate each other at once: one wins.
		if p, r := setStatus(c.support, adminID, "ACTIVE"); p == nil || p.User == nil {
			t.Fatalf("reactivating the admin: %s", r.Body)
		}
		for round := range 4 {
			a, b := env.LoginDemo(demo.AdminUsername), env.Login("con.admin2", profStrong)
			var wg sync.WaitGroup
			results := make([]*profPayload, 2)
			responses := make([]*apitest.Response, 2)
			for i, pair := range [][2]any{{a, admin2ID}, {b, adminID}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], responses[i] = setStatus(pair[0].(*apitest.Client), pair[1].(string), "INACTIVE")
				}()
			}
			wg.Wait()
			won := 0
			for i, p := range results {
				switch {
				case p != nil && p.User != nil:
					won++
				case p != nil && slices.Contains(p.errs(), "status=LAST_ADMINISTRATOR"):
				case p == nil && responses[i].Code() == "UNAUTHENTICATED":
					// The winner ended the loser's session first.
				default:
					t.Fatalf("round %d: unexpected answer %s", round, responses[i].Body)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d of two mutual inactivations succeeded, want exactly 1", round, won)
			}
			var active int
			for _, id := range []string{adminID, admin2ID} {
				var out struct{ Node profUser }
				profMustDo(t, c.support, `query($id: ID!) { node(id: $id) { ...profUser } }`+profUserFields, map[string]any{"id": id}, &out)
				if out.Node.Status == "ACTIVE" {
					active++
				}
			}
			if active != 1 {
				t.Fatalf("round %d: %d active Company Admins remain, want 1", round, active)
			}
			// Both active again for the next round (one already is).
			for _, id := range []string{adminID, admin2ID} {
				if p, r := setStatus(c.support, id, "ACTIVE"); p == nil {
					t.Fatalf("round %d: reactivating: %s", round, r.Body)
				}
			}
		}
	})
}

// R14: simultaneous creations never give a real NPI, or a real license
// number in one state, to two users of the organization.
func TestContainmentDuplicateProvidersUnderConcurrency(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		lakeview := c.clinics[profLakeview]
		race := func(what string, credentials func(in map[string]any), wantField string) {
			t.Helper()
			const n = 20
			var wg sync.WaitGroup
			results := make([]*profPayload, n)
			responses := make([]*apitest.Response, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					in := conNewUser(fmt.Sprintf("con.%s%02d", what, i), "PT", lakeview, []string{"VIEW_PATIENTS"})
					in["status"] = "INACTIVE"
					credentials(in)
					results[i], responses[i] = profCall(t, c.admin, "createUser", in)
				}()
			}
			wg.Wait()
			created := 0
			for i, p := range results {
				switch {
				case p == nil:
					t.Fatalf("%s: GraphQL error instead of a userError: %s", what, responses[i].Body)
				case p.User != nil:
					created++
				case !slices.Equal(p.errs(), []string{wantField + "=DUPLICATE_PROVIDER"}):
					t.Fatalf("%s: want only %s=DUPLICATE_PROVIDER, got %v", what, wantField, p.errs())
				}
			}
			if created != 1 {
				t.Fatalf("%s: %d of %d simultaneous creations succeeded, want exactly 1", what, created, n)
			}
		}
		race("npi", func(in map[string]any) { in["npi"] = profNPI1 }, "npi")
		race("lic", func(in map[string]any) {
			in["licenseNumber"], in["licenseState"] = "PT77001", "CA"
		}, "licenseNumber")

		// One after the other, the friendly check answers too; the same
		// number in another state, and the placeholders, are other people.
		in := conNewUser("con.lic.again", "PT", lakeview, []string{"VIEW_PATIENTS"})
		in["status"], in["licenseNumber"], in["licenseState"] = "INACTIVE", "pt77001", "ca"
		p, r := profCall(t, c.admin, "createUser", in)
		conHasError(t, "the same license number and state again", p, r, "licenseNumber=DUPLICATE_PROVIDER")
		in["licenseState"] = "NV"
		profMustSucceed(t, c.admin, "createUser", in)
		for i := range 2 {
			profMustSucceed(t, c.admin, "createUser", func() map[string]any {
				in := conNewUser(fmt.Sprintf("con.placeholder%d", i), "PT", lakeview, []string{"VIEW_PATIENTS"})
				in["status"] = "INACTIVE"
				return in
			}())
		}
		// Editing onto a taken NPI is refused too.
		pp, rr := profCall(t, c.admin, "updateUser", map[string]any{"id": c.ids["pt.jordan"], "npi": profNPI1})
		conHasError(t, "editing onto a taken NPI", pp, rr, "npi=DUPLICATE_PROVIDER")
	})
}
