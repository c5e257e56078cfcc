package apitest_test

// API tests of the bulk changes setUsersStatus and updateUsersAccess (issue
// #13): each user on their own under the single-user rules, licenses taken
// in the order given and never over-allocated, one audit record per change
// tied to the call, and one live counts update per clinic.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/organization"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
)

const (
	bulkStatusMutation = `mutation($in: SetUsersStatusInput!) { setUsersStatus(input: $in) {
		bulkOperationId succeeded failed userErrors { field code message }
		results { userId user { id status } userErrors { field code message } } } }`
	bulkAccessMutation = `mutation($in: UpdateUsersAccessInput!) { updateUsersAccess(input: $in) {
		bulkOperationId succeeded failed userErrors { field code message }
		results { userId user { id status } userErrors { field code message } } } }`
	bulkDowntown  = "Sunrise Downtown"
	bulkNorthside = "Sunrise Northside"
)

type bulkResult struct {
	UserID     string
	User       *struct{ ID, Status string }
	UserErrors []apitest.UserError
}

type bulkPayload struct {
	BulkOperationID *string
	Succeeded       int
	Failed          int
	UserErrors      []apitest.UserError
	Results         []bulkResult
}

// bulkOptions: a bulk call of a hundred users makes a hundred changes; under
// -race and a loaded machine that can pass OPERATION_TIMEOUT's 15 s, which is
// not what these tests are about.
var bulkOptions = apitest.Options{OperationTimeout: 2 * time.Minute}

func (r bulkResult) codes() []string {
	var out []string
	for _, e := range r.UserErrors {
		out = append(out, e.Code)
	}
	return out
}

// bulkCall runs a bulk mutation and returns its payload, failing on GraphQL
// errors.
func bulkCall(t *testing.T, c *apitest.Client, mutation string, in map[string]any) bulkPayload {
	t.Helper()
	var out map[string]bulkPayload
	c.MustDo(mutation, map[string]any{"in": in}, &out)
	for _, p := range out {
		return p
	}
	t.Fatalf("no payload")
	return bulkPayload{}
}

// bulkFixture reaches the demo practice's rows directly.
type bulkFixture struct {
	env    *apitest.Env
	ctx    context.Context
	orgID  int
	clinic map[string]int
}

func bulkSetup(t *testing.T, env *apitest.Env) *bulkFixture {
	t.Helper()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	org := env.DB.Client.Organization.Query().Where(organization.Name("Sunrise Therapy Group")).OnlyX(ctx)
	f := &bulkFixture{env: env, ctx: ctx, orgID: org.ID, clinic: map[string]int{}}
	for _, name := range []string{bulkDowntown, bulkNorthside} {
		f.clinic[name] = env.DB.Client.Clinic.Query().Where(clinic.OrganizationID(org.ID), clinic.Name(name)).OnlyIDX(ctx)
	}
	return f
}

// seed adds n Inactive Clerical users of one clinic with View Patients,
// directly (a signed-in API call per user would be slow), and returns their
// IDs as clients see them, in creation order.
func (f *bulkFixture) seed(t *testing.T, prefix, clinicName string, n int) []string {
	t.Helper()
	c := f.env.DB.Client
	view := c.Permission.Query().Where(permission.Key("VIEW_PATIENTS")).OnlyIDX(f.ctx)
	cl := f.clinic[clinicName]
	builders := make([]*ent.UserCreate, n)
	for i := range builders {
		name := fmt.Sprintf("%s.%03d", prefix, i)
		builders[i] = c.User.Create().SetOrganizationID(f.orgID).
			SetUsername(name).SetEmail(name + "@bulk.example").SetPasswordHash("not a hash").
			SetUserType(staff.Clerical).SetFirstName("Bulk").SetLastName(fmt.Sprintf("Clerk%03d", i)).
			SetFullName(fmt.Sprintf("Bulk Clerk%03d", i)).SetStatus(user.StatusINACTIVE).
			SetHomeClinicID(cl).AddClinicIDs(cl).AddPermissionIDs(view)
	}
	users := c.User.CreateBulk(builders...).SaveX(f.ctx)
	ids := make([]string, n)
	for i, u := range users {
		ids[i] = gid.Encode(u.ID)
	}
	return ids
}

// freeClerical makes exactly n Clerical licenses free at a clinic, adding
// licenses as billing would.
func (f *bulkFixture) freeClerical(t *testing.T, admin *apitest.Client, clinicName string, n int) {
	t.Helper()
	_, _, available := stCounts(t, admin, gid.Encode(f.clinic[clinicName]), "CLERICAL")
	if available > n {
		t.Fatalf("%s already has %d free Clerical licenses, more than %d", clinicName, available, n)
	}
	err := txn.WithTx(f.ctx, f.env.DB.Client, func(tx *ent.Tx) error {
		return f.env.App.Licenses.Add(f.ctx, tx, f.orgID, f.clinic[clinicName], staff.ClericalClass, n-available)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, available = stCounts(t, admin, gid.Encode(f.clinic[clinicName]), "CLERICAL"); available != n {
		t.Fatalf("%s has %d free Clerical licenses, want %d", clinicName, available, n)
	}
}

// statuses reads the users' statuses from the database.
func (f *bulkFixture) statuses(t *testing.T, ids []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range ids {
		n, err := gid.Decode(id)
		if err != nil {
			t.Fatal(err)
		}
		u, err := f.env.DB.Client.User.Get(f.ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = string(u.Status)
	}
	return out
}

// access reads a user's permission keys and clinic names.
func (f *bulkFixture) access(t *testing.T, id string) (perms, clinics []string) {
	t.Helper()
	n, _ := gid.Decode(id)
	u := f.env.DB.Client.User.Query().Where(user.ID(n)).WithPermissions().WithClinics().OnlyX(f.ctx)
	for _, p := range u.Edges.Permissions {
		perms = append(perms, p.Key)
	}
	for _, c := range u.Edges.Clinics {
		clinics = append(clinics, c.Name)
	}
	slices.Sort(perms)
	slices.Sort(clinics)
	return perms, clinics
}

// bulkAuditOf returns the after.bulkOperationId ("" when none) of each of a
// user's audit records of an action, newest first.
func bulkAuditOf(t *testing.T, c *apitest.Client, userID, action string) []string {
	t.Helper()
	var out struct {
		AuditEvents struct {
			Edges []struct {
				Node struct {
					After map[string]any
				}
			}
		}
	}
	c.MustDo(`query($u: ID, $a: [AuditEventAction!]) { auditEvents(first: 100, filter: {userId: $u, actions: $a}) {
		edges { node { after } } } }`, map[string]any{"u": userID, "a": []string{action}}, &out)
	var ops []string
	for _, e := range out.AuditEvents.Edges {
		op, _ := e.Node.After["bulkOperationId"].(string)
		ops = append(ops, op)
	}
	return ops
}

// Licenses are taken in the order given: of 100 inactive clerks for 30 free
// licenses, the first 30 listed become Active, the others are told why; a
// user listed twice counts once; users who cannot be changed get their own
// code; the counts agree and each change is audited with the call's ID.
func TestBulkActivationTakesLicensesInOrder(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, bulkOptions, func(t *testing.T, env *apitest.Env) {
		f := bulkSetup(t, env)
		admin := env.LoginDemo(demo.AdminUsername)
		downtown := gid.Encode(f.clinic[bulkDowntown])
		clerks := f.seed(t, "bk.order", bulkDowntown, 100)
		f.freeClerical(t, admin, bulkDowntown, 30)
		total, inUse, _ := stCounts(t, admin, downtown, "CLERICAL")

		order := slices.Clone(clerks)
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		active := imgUserID(t, admin, "pt.jordan")
		self := imgUserID(t, admin, demo.AdminUsername)
		unknown := gid.Encode(987654321)
		given := slices.Concat([]string{active, order[0], unknown}, order[1:50], []string{order[3], self}, order[50:])

		p := bulkCall(t, admin, bulkStatusMutation, map[string]any{"userIds": given, "status": "ACTIVE"})
		if p.BulkOperationID == nil || len(p.UserErrors) > 0 {
			t.Fatalf("bulk activation refused: %+v", p.UserErrors)
		}
		distinct := slices.Concat([]string{active, order[0], unknown}, order[1:50], []string{self}, order[50:])
		if len(p.Results) != len(distinct) {
			t.Fatalf("%d results, want %d (one per distinct user)", len(p.Results), len(distinct))
		}
		want := map[string]string{}
		for i, id := range order {
			want[id] = "MAXIMUM_LICENSES_REACHED"
			if i < 30 {
				want[id] = ""
			}
		}
		want[active], want[unknown], want[self] = "INVALID_STATUS_TRANSITION", "NOT_FOUND", "FORBIDDEN"
		for i, r := range p.Results {
			if r.UserID != distinct[i] {
				t.Fatalf("result %d is user %s, want %s (the order given)", i, r.UserID, distinct[i])
			}
			switch w := want[r.UserID]; {
			case w == "" && (len(r.UserErrors) > 0 || r.User == nil || r.User.Status != "ACTIVE"):
				t.Errorf("result %d (%s): want ACTIVE, got user %+v errors %v", i, r.UserID, r.User, r.codes())
			case w != "" && (r.User != nil || !slices.Equal(r.codes(), []string{w})):
				t.Errorf("result %d (%s): want only %s, got user %+v errors %v", i, r.UserID, w, r.User, r.codes())
			}
		}
		if p.Succeeded != 30 || p.Failed != len(distinct)-30 {
			t.Fatalf("succeeded %d failed %d, want 30 and %d", p.Succeeded, p.Failed, len(distinct)-30)
		}
		st := f.statuses(t, clerks)
		for i, id := range order {
			if wantStatus := map[bool]string{true: "ACTIVE", false: "INACTIVE"}[i < 30]; st[id] != wantStatus {
				t.Fatalf("clerk %d of the order is %s, want %s", i, st[id], wantStatus)
			}
		}
		if t2, u2, a2 := stCounts(t, admin, downtown, "CLERICAL"); t2 != total || u2 != inUse+30 || a2 != 0 {
			t.Fatalf("Clerical counts at Downtown: total %d inUse %d available %d, want %d %d 0", t2, u2, a2, total, inUse+30)
		}

		// Audit: one status record per changed user, carrying the call's ID;
		// none for those not changed.
		for i, id := range order[:32] {
			ops := bulkAuditOf(t, admin, id, "USER_STATUS_CHANGED")
			switch {
			case i < 30 && !slices.Equal(ops, []string{*p.BulkOperationID}):
				t.Fatalf("clerk %d: status records %v, want one with bulkOperationId %s", i, ops, *p.BulkOperationID)
			case i >= 30 && len(ops) > 0:
				t.Fatalf("clerk %d was not changed but has status records %v", i, ops)
			}
		}

		// Inactivating them all frees the 30 licenses, each audited.
		p = bulkCall(t, admin, bulkStatusMutation, map[string]any{"userIds": clerks, "status": "INACTIVE"})
		if p.Succeeded != 30 || p.Failed != 70 {
			t.Fatalf("bulk inactivation: succeeded %d failed %d, want 30 and 70", p.Succeeded, p.Failed)
		}
		if _, u2, a2 := stCounts(t, admin, downtown, "CLERICAL"); u2 != inUse || a2 != 30 {
			t.Fatalf("after inactivation: inUse %d available %d, want %d and 30", u2, a2, inUse)
		}
		if ops := bulkAuditOf(t, admin, order[0], "USER_STATUS_CHANGED"); len(ops) != 2 || ops[0] != *p.BulkOperationID || ops[0] == ops[1] {
			t.Fatalf("first clerk's status records %v, want the inactivation's %s first", ops, *p.BulkOperationID)
		}
	})
}

// R33 and R2: a manager's bulk change changes only the users they may
// manage; someone without Edit Users is refused as a whole.
func TestBulkContainment(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, bulkOptions, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		admin, jordan, riley := c.ids["admin"], c.ids["pt.jordan"], c.ids["slp.riley"]

		// Northside's manager may manage slp.riley, not the Company Admin nor
		// a therapist who also works at Downtown.
		p := bulkCall(t, c.north, bulkStatusMutation, map[string]any{"userIds": []string{admin, riley, jordan}, "status": "INACTIVE"})
		if p.Succeeded != 1 || p.Failed != 2 {
			t.Fatalf("succeeded %d failed %d: %+v", p.Succeeded, p.Failed, p.Results)
		}
		for i, want := range []string{"FORBIDDEN", "", "FORBIDDEN"} {
			r := p.Results[i]
			if want == "" && (r.User == nil || r.User.Status != "INACTIVE" || len(r.UserErrors) > 0) ||
				want != "" && (r.User != nil || !slices.Equal(r.codes(), []string{want})) {
				t.Fatalf("result %d: user %+v errors %v, want %q", i, r.User, r.codes(), want)
			}
		}
		st := c.bulkStatuses(t, admin, riley, jordan)
		if st[admin] != "ACTIVE" || st[jordan] != "ACTIVE" || st[riley] != "INACTIVE" {
			t.Fatalf("statuses after the bulk change: %v", st)
		}
		// Access changes are contained the same way.
		p = bulkCall(t, c.north, bulkAccessMutation, map[string]any{"userIds": []string{jordan, riley}, "addPermissions": []string{"EDIT_PATIENTS"}})
		if p.Succeeded != 1 || !slices.Equal(p.Results[0].codes(), []string{"FORBIDDEN"}) || len(p.Results[1].UserErrors) > 0 {
			t.Fatalf("access change over jordan and riley: %+v", p.Results)
		}

		// View Users alone: refused as setUserStatus is.
		r := c.viewer.Do(bulkStatusMutation, map[string]any{"in": map[string]any{"userIds": []string{riley}, "status": "ACTIVE"}})
		if r.Code() != "FORBIDDEN" {
			t.Fatalf("bulk change without Edit Users: %s", r.Body)
		}
		r = c.viewer.Do(bulkAccessMutation, map[string]any{"in": map[string]any{"userIds": []string{riley}, "addPermissions": []string{"VIEW_PATIENTS"}}})
		if r.Code() != "FORBIDDEN" {
			t.Fatalf("bulk access change without Edit Users: %s", r.Body)
		}
	})
}

// bulkStatuses reads users' statuses as the Company Admin sees them.
func (c *conEnv) bulkStatuses(t *testing.T, ids ...string) map[string]string {
	t.Helper()
	var out struct {
		Nodes []struct{ ID, Status string }
	}
	profMustDo(t, c.admin, `query($ids: [ID!]!) { nodes(ids: $ids) { ... on User { id status } } }`, map[string]any{"ids": ids}, &out)
	m := map[string]string{}
	for _, n := range out.Nodes {
		m[n.ID] = n.Status
	}
	return m
}

// updateUsersAccess adds and removes permissions and clinics for several
// users, each audited with the call's ID; a permission the manager may not
// grant (R32) fails for every user and changes nothing; the home clinic
// cannot be removed.
func TestBulkUpdateAccess(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, bulkOptions, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		f := bulkSetup(t, env)
		ids := f.seed(t, "bk.access", bulkDowntown, 3)
		northside := gid.Encode(f.clinic[bulkNorthside])

		p := bulkCall(t, c.admin, bulkAccessMutation, map[string]any{"userIds": ids,
			"addPermissions": []string{"EDIT_PATIENTS", "VIEW_USERS"}, "removePermissions": []string{"VIEW_PATIENTS"},
			"addClinicIds": []string{northside}})
		if p.Succeeded != 3 || p.Failed != 0 || p.BulkOperationID == nil {
			t.Fatalf("bulk access change: %+v", p)
		}
		for _, id := range ids {
			perms, clinics := f.access(t, id)
			if !slices.Equal(perms, []string{"EDIT_PATIENTS", "VIEW_USERS"}) || !slices.Equal(clinics, []string{bulkDowntown, bulkNorthside}) {
				t.Fatalf("user %s: permissions %v clinics %v", id, perms, clinics)
			}
			for _, action := range []string{"USER_PERMISSIONS_CHANGED", "USER_CLINICS_CHANGED"} {
				if ops := bulkAuditOf(t, c.admin, id, action); !slices.Equal(ops, []string{*p.BulkOperationID}) {
					t.Fatalf("user %s: %s records %v, want one with %s", id, action, ops, *p.BulkOperationID)
				}
			}
		}

		// Removing a clinic; the home clinic stays (INVALID_HOME_CLINIC).
		p = bulkCall(t, c.admin, bulkAccessMutation, map[string]any{"userIds": ids, "removeClinicIds": []string{northside}})
		if p.Succeeded != 3 {
			t.Fatalf("removing Northside: %+v", p.Results)
		}
		p = bulkCall(t, c.admin, bulkAccessMutation, map[string]any{"userIds": ids[:1],
			"addClinicIds": []string{northside}, "removeClinicIds": []string{gid.Encode(f.clinic[bulkDowntown])}})
		if p.Failed != 1 || !slices.Equal(p.Results[0].codes(), []string{"INVALID_HOME_CLINIC"}) {
			t.Fatalf("removing the home clinic: %+v", p.Results)
		}

		// R32: the Downtown clerk (Edit Users, no Company Admin) cannot grant
		// Company Admin: every user fails, nothing changes, not even the part
		// the clerk may do.
		p = bulkCall(t, c.clerk, bulkAccessMutation, map[string]any{"userIds": ids,
			"addPermissions": []string{"COMPANY_ADMIN", "VIEW_PATIENTS"}})
		if p.Succeeded != 0 || p.Failed != 3 {
			t.Fatalf("granting Company Admin: %+v", p.Results)
		}
		for i, r := range p.Results {
			if r.User != nil || !slices.Equal(r.codes(), []string{"PERMISSION_NOT_GRANTABLE"}) {
				t.Fatalf("user %d: %+v %v", i, r.User, r.codes())
			}
			if perms, clinics := f.access(t, ids[i]); !slices.Equal(perms, []string{"EDIT_PATIENTS", "VIEW_USERS"}) || !slices.Equal(clinics, []string{bulkDowntown}) {
				t.Fatalf("user %d changed: %v %v", i, perms, clinics)
			}
		}
		// What the clerk may grant, they grant.
		p = bulkCall(t, c.clerk, bulkAccessMutation, map[string]any{"userIds": ids, "addPermissions": []string{"VIEW_PATIENTS"}, "removePermissions": []string{"EDIT_PATIENTS"}})
		if p.Succeeded != 3 {
			t.Fatalf("the clerk's change: %+v", p.Results)
		}
		if perms, _ := f.access(t, ids[2]); !slices.Equal(perms, []string{"VIEW_PATIENTS", "VIEW_USERS"}) {
			t.Fatalf("after the clerk's change: %v", perms)
		}
	})
}

// Live counts: a bulk change of several users of two clinics is one update
// for each clinic's subscribers and one for the organization's, with every
// change in it.
func TestBulkLiveCountsOnce(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, bulkOptions, func(t *testing.T, env *apitest.Env) {
		f := bulkSetup(t, env)
		admin := env.LoginDemo(demo.AdminUsername)
		downtown := gid.Encode(f.clinic[bulkDowntown])
		ids := slices.Concat(f.seed(t, "bk.live", bulkDowntown, 6), f.seed(t, "bk.livenorth", bulkNorthside, 4))
		f.freeClerical(t, admin, bulkDowntown, 6)
		f.freeClerical(t, admin, bulkNorthside, 4)

		for _, protocol := range []string{apitest.GraphQLTransportWS, apitest.SSE} {
			clinicSub := admin.Subscribe(protocol, liveCountsSub, map[string]any{"c": downtown})
			orgSub := admin.Subscribe(protocol, liveCountsSub, map[string]any{"c": nil})
			firstClinic := liveDecodeCounts(t, protocol+": first clinic counts", clinicSub.Next(liveWait))
			firstOrg := liveDecodeCounts(t, protocol+": first organization counts", orgSub.Next(liveWait))
			clinicSub.Quiet(200 * time.Millisecond)
			orgSub.Quiet(50 * time.Millisecond)

			status := map[string]string{apitest.GraphQLTransportWS: "ACTIVE", apitest.SSE: "INACTIVE"}[protocol]
			if p := bulkCall(t, admin, bulkStatusMutation, map[string]any{"userIds": ids, "status": status}); p.Succeeded != 10 {
				t.Fatalf("%s: bulk %s: %+v", protocol, status, p.Results)
			}
			sign := map[string]int{"ACTIVE": 1, "INACTIVE": -1}[status]
			got := liveDecodeCounts(t, protocol+": clinic after the bulk change", clinicSub.Next(liveWait))
			if want := firstClinic["CLERICAL"].InUse + 6*sign; got["CLERICAL"].InUse != want {
				t.Fatalf("%s: the clinic's update has Clerical inUse %d, want %d", protocol, got["CLERICAL"].InUse, want)
			}
			got = liveDecodeCounts(t, protocol+": organization after the bulk change", orgSub.Next(liveWait))
			if want := firstOrg["CLERICAL"].InUse + 10*sign; got["CLERICAL"].InUse != want {
				t.Fatalf("%s: the organization's update has Clerical inUse %d, want %d", protocol, got["CLERICAL"].InUse, want)
			}
			clinicSub.Quiet(500 * time.Millisecond)
			orgSub.Quiet(50 * time.Millisecond)
			clinicSub.Close()
			orgSub.Close()
		}
	})
}

// R23 under concurrency: two bulk activations competing for the same free
// licenses never hand out more than there are.
func TestBulkConcurrentActivations(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, bulkOptions, func(t *testing.T, env *apitest.Env) {
		f := bulkSetup(t, env)
		admin := env.LoginDemo(demo.AdminUsername)
		other := env.LoginDemo(demo.AdminUsername)
		downtown := gid.Encode(f.clinic[bulkDowntown])
		ids := f.seed(t, "bk.race", bulkDowntown, 40)
		f.freeClerical(t, admin, bulkDowntown, 10)
		total, _, _ := stCounts(t, admin, downtown, "CLERICAL")

		reversed := slices.Clone(ids)
		slices.Reverse(reversed)
		var wg sync.WaitGroup
		payloads := make([]bulkPayload, 2)
		for i, c := range []*apitest.Client{admin, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				list := map[int][]string{0: ids, 1: reversed}[i]
				r := c.Do(bulkStatusMutation, map[string]any{"in": map[string]any{"userIds": list, "status": "ACTIVE"}})
				if len(r.Errors) > 0 {
					t.Errorf("bulk activation %d: %s", i, r.Body)
					return
				}
				var out struct{ SetUsersStatus bulkPayload }
				r.Decode(t, &out)
				payloads[i] = out.SetUsersStatus
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if n := payloads[0].Succeeded + payloads[1].Succeeded; n != 10 {
			t.Fatalf("%d activations succeeded in all, want 10", n)
		}
		active := 0
		for _, s := range f.statuses(t, ids) {
			if s == "ACTIVE" {
				active++
			}
		}
		t2, inUse, available := stCounts(t, admin, downtown, "CLERICAL")
		if active != 10 || t2 != total || available != 0 || inUse != total {
			t.Fatalf("%d of the clerks active; counts total %d inUse %d available %d", active, t2, inUse, available)
		}
	})
}

// Problems of the call as a whole change nobody and say why.
func TestBulkWholeCallErrors(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, bulkOptions, func(t *testing.T, env *apitest.Env) {
		f := bulkSetup(t, env)
		admin := env.LoginDemo(demo.AdminUsername)
		ids := f.seed(t, "bk.whole", bulkDowntown, 3)
		f.freeClerical(t, admin, bulkDowntown, 3)
		many := slices.Clone(ids)
		for i := len(many); i < 501; i++ {
			many = append(many, gid.Encode(900000000+i))
		}
		refused := func(what string, p bulkPayload, code string) {
			t.Helper()
			if p.BulkOperationID != nil || len(p.Results) != 0 || p.Succeeded != 0 || p.Failed != 0 ||
				len(p.UserErrors) == 0 || p.UserErrors[0].Code != code {
				t.Fatalf("%s: want only the userError %s, got %+v", what, code, p)
			}
		}
		refused("no users", bulkCall(t, admin, bulkStatusMutation, map[string]any{"userIds": []string{}, "status": "ACTIVE"}), "REQUIRED")
		refused("501 users", bulkCall(t, admin, bulkStatusMutation, map[string]any{"userIds": many, "status": "ACTIVE"}), "TOO_MANY_ITEMS")
		refused("501 users' access", bulkCall(t, admin, bulkAccessMutation, map[string]any{"userIds": many, "addPermissions": []string{"EDIT_PATIENTS"}}), "TOO_MANY_ITEMS")
		refused("no users' access", bulkCall(t, admin, bulkAccessMutation, map[string]any{"userIds": []string{}, "addPermissions": []string{"EDIT_PATIENTS"}}), "REQUIRED")
		refused("nothing to change", bulkCall(t, admin, bulkAccessMutation, map[string]any{"userIds": ids}), "REQUIRED")
		refused("nothing to change (empty lists)", bulkCall(t, admin, bulkAccessMutation, map[string]any{"userIds": ids,
			"addPermissions": []string{}, "removeClinicIds": []string{}}), "REQUIRED")
		refused("added and removed", bulkCall(t, admin, bulkAccessMutation, map[string]any{"userIds": ids,
			"addPermissions": []string{"EDIT_PATIENTS", "VIEW_PATIENTS"}, "removePermissions": []string{"VIEW_PATIENTS"}}), "NOT_APPLICABLE")
		refused("clinic added and removed", bulkCall(t, admin, bulkAccessMutation, map[string]any{"userIds": ids,
			"addClinicIds": []string{gid.Encode(f.clinic[bulkNorthside])}, "removeClinicIds": []string{gid.Encode(f.clinic[bulkNorthside])}}), "NOT_APPLICABLE")
		refused("unknown permission", bulkCall(t, admin, bulkAccessMutation, map[string]any{"userIds": ids,
			"removePermissions": []string{"NO_SUCH_PERMISSION"}}), "UNKNOWN_PERMISSION")

		for id, s := range f.statuses(t, ids) {
			if s != "INACTIVE" {
				t.Fatalf("user %s is %s after refused calls", id, s)
			}
		}
		for _, id := range ids {
			if perms, clinics := f.access(t, id); !slices.Equal(perms, []string{"VIEW_PATIENTS"}) || !slices.Equal(clinics, []string{bulkDowntown}) {
				t.Fatalf("user %s changed by refused calls: %v %v", id, perms, clinics)
			}
		}
		// The same 3 users go through on their own.
		if p := bulkCall(t, admin, bulkStatusMutation, map[string]any{"userIds": ids, "status": "ACTIVE"}); p.Succeeded != 3 {
			t.Fatalf("the valid call: %+v", p)
		}
	})
}
