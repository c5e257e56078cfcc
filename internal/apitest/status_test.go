package apitest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

const stSetStatus = `mutation($id: ID!, $s: UserStatus!) { setUserStatus(input: {userId: $id, status: $s}) {
	user { status license { class } } userErrors { field code message } } }`

type stPayload struct {
	SetUserStatus struct {
		User *struct {
			Status  string
			License *struct{ Class string }
		}
		UserErrors []apitest.UserError
	}
}

func stSet(t testing.TB, c *apitest.Client, id, status string) stPayload {
	t.Helper()
	var out stPayload
	c.MustDo(stSetStatus, map[string]any{"id": id, "s": status}, &out)
	return out
}

func stCounts(t *testing.T, c *apitest.Client, clinicID, class string) (total, inUse, available int) {
	t.Helper()
	var out struct {
		LicenseCounts []struct {
			Class                   string
			Total, InUse, Available int
		}
	}
	c.MustDo(`query($c: ID) { licenseCounts(clinicId: $c) { class total inUse available } }`, map[string]any{"c": clinicID}, &out)
	for _, lc := range out.LicenseCounts {
		if lc.Class == class {
			return lc.Total, lc.InUse, lc.Available
		}
	}
	t.Fatalf("no %s count", class)
	return
}

func stClinicID(t *testing.T, c *apitest.Client, name string) string {
	t.Helper()
	var out struct {
		Clinics struct {
			Edges []struct{ Node struct{ ID, Name string } }
		}
	}
	c.MustDo(`query($n: String!) { clinics(where: {name: $n}) { edges { node { id name } } } }`, map[string]any{"n": name}, &out)
	if len(out.Clinics.Edges) != 1 {
		t.Fatalf("clinic %s: %+v", name, out)
	}
	return out.Clinics.Edges[0].Node.ID
}

// R21, R23, R25: a license is shared by inactivating one user and activating
// another of the same class at the same home clinic; never across classes.
func TestStatusShareLicense(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		lakeview := stClinicID(t, admin, "Sunrise Lakeview")
		sam, fillin, jamie := imgUserID(t, admin, "pt.sam"), imgUserID(t, admin, "pt.fillin"), imgUserID(t, admin, "slpa.jamie")
		samSession := env.LoginDemo("pt.sam")

		// No Therapist license is free at Lakeview: the fill-in cannot start.
		out := stSet(t, admin, fillin, "ACTIVE")
		if len(out.SetUserStatus.UserErrors) != 1 || out.SetUserStatus.UserErrors[0].Code != "MAXIMUM_LICENSES_REACHED" ||
			!strings.Contains(strings.ToLower(out.SetUserStatus.UserErrors[0].Message), "therapist") ||
			!strings.Contains(out.SetUserStatus.UserErrors[0].Message, "Sunrise Lakeview") {
			t.Fatalf("activation without a license: %+v", out.SetUserStatus)
		}
		// Freeing an Assistant license does not help a Therapist.
		if out := stSet(t, admin, jamie, "INACTIVE"); out.SetUserStatus.User == nil || out.SetUserStatus.User.Status != "INACTIVE" {
			t.Fatalf("inactivate slpa.jamie: %+v", out.SetUserStatus)
		}
		if out := stSet(t, admin, fillin, "ACTIVE"); len(out.SetUserStatus.UserErrors) != 1 || out.SetUserStatus.UserErrors[0].Code != "MAXIMUM_LICENSES_REACHED" {
			t.Fatalf("a Therapist took an Assistant license: %+v", out.SetUserStatus)
		}

		total, inUse, available := stCounts(t, admin, lakeview, "THERAPIST")
		if total != 1 || inUse != 1 || available != 0 {
			t.Fatalf("Lakeview therapist counts %d/%d/%d", total, inUse, available)
		}
		// Inactivate pt.sam: the license stays billed and becomes available,
		// and pt.sam's session ends at once.
		if out := stSet(t, admin, sam, "INACTIVE"); out.SetUserStatus.User == nil || out.SetUserStatus.User.License != nil {
			t.Fatalf("inactivate pt.sam: %+v", out.SetUserStatus)
		}
		if total, inUse, available = stCounts(t, admin, lakeview, "THERAPIST"); total != 1 || inUse != 0 || available != 1 {
			t.Fatalf("after inactivation %d/%d/%d", total, inUse, available)
		}
		if r := samSession.Do(`{ viewer { username } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("inactivated user's token still works: %s", r.Body)
		}
		// The fill-in takes it.
		if out := stSet(t, admin, fillin, "ACTIVE"); out.SetUserStatus.User == nil || out.SetUserStatus.User.License == nil ||
			out.SetUserStatus.User.License.Class != "THERAPIST" {
			t.Fatalf("activate pt.fillin: %+v", out.SetUserStatus)
		}
		env.LoginDemo("pt.fillin")
		if total, inUse, _ = stCounts(t, admin, lakeview, "THERAPIST"); total != 1 || inUse != 1 {
			t.Fatalf("after sharing %d/%d", total, inUse)
		}
		// Activating an active user is no transition.
		if out := stSet(t, admin, fillin, "ACTIVE"); len(out.SetUserStatus.UserErrors) != 1 || out.SetUserStatus.UserErrors[0].Code != "INVALID_STATUS_TRANSITION" {
			t.Fatalf("active to active: %+v", out.SetUserStatus)
		}
		// Needs Edit Users; another organization cannot.
		if r := env.LoginDemo("front.desk").Do(stSetStatus, map[string]any{"id": sam, "s": "ACTIVE"}); r.Code() != "FORBIDDEN" {
			t.Fatalf("front.desk: %s", r.Body)
		}
		if r := env.LoginDemo("harbor.admin").Do(stSetStatus, map[string]any{"id": sam, "s": "ACTIVE"}); r.Code() != "NOT_FOUND" {
			t.Fatalf("harbor.admin: %s", r.Body)
		}
	})
}

// R23: under many more concurrent activations than licenses, exactly as many
// succeed as there are licenses, on every database.
func TestStatusConcurrentActivations(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		const licenses, users = 3, 12
		support := env.LoginDemo(demo.SupportUsername)
		admin := env.LoginDemo(demo.AdminUsername)
		var org struct {
			Organizations struct {
				Edges []struct{ Node struct{ ID, Name string } }
			}
		}
		support.MustDo(`{ organizations(where: {name: "Sunrise Therapy Group"}) { edges { node { id name } } } }`, nil, &org)
		var clinic struct {
			CreateClinic struct{ Clinic struct{ ID string } }
		}
		support.MustDo(`mutation($o: ID!) { createClinic(input: {organizationId: $o, name: "Sunrise Rush", licenses: [{class: THERAPIST, quantity: 3}]}) { clinic { id } } }`,
			map[string]any{"o": org.Organizations.Edges[0].Node.ID}, &clinic)
		clinicID := clinic.CreateClinic.Clinic.ID
		ids := make([]string, users)
		for i := range ids {
			var out struct {
				CreateUser struct {
					User       *struct{ ID string }
					UserErrors []apitest.UserError
				}
			}
			support.MustDo(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } userErrors { field code message } } }`,
				map[string]any{"in": map[string]any{
					"username": fmt.Sprintf("rush.pt%d", i), "email": fmt.Sprintf("rush.pt%d@sunrise-therapy.example", i),
					"password": "Rush-hour-Therapist-77!", "userType": "PT", "firstName": "Rush", "lastName": fmt.Sprintf("Therapist%d", i),
					"status": "INACTIVE", "homeClinicId": clinicID, "clinicIds": []string{clinicID},
					"permissions": []string{"VIEW_PATIENTS"}, "npi": "9999999995", "licenseNumber": "00000", "licenseState": "AZ",
				}}, &out)
			if out.CreateUser.User == nil {
				t.Fatalf("createUser: %+v", out.CreateUser.UserErrors)
			}
			ids[i] = out.CreateUser.User.ID
		}
		var (
			wg              sync.WaitGroup
			mu              sync.Mutex
			activated, full int
			start           = make(chan struct{})
		)
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r := support.Do(stSetStatus, map[string]any{"id": id, "s": "ACTIVE"})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case strings.Contains(string(r.Body), `"status":"ACTIVE"`):
					activated++
				case strings.Contains(string(r.Body), "MAXIMUM_LICENSES_REACHED"):
					full++
				default:
					t.Errorf("unexpected answer: %s", r.Body)
				}
			}()
		}
		close(start)
		wg.Wait()
		if activated != licenses || full != users-licenses {
			t.Fatalf("activated %d, refused %d; want %d and %d", activated, full, licenses, users-licenses)
		}
		total, inUse, available := stCounts(t, support, clinicID, "THERAPIST")
		if total != licenses || inUse != licenses || available != 0 {
			t.Fatalf("counts %d/%d/%d", total, inUse, available)
		}
		var active struct{ Users struct{ TotalCount int } }
		admin.MustDo(`query($c: ID!) { users(filter: {clinicId: $c, statuses: [ACTIVE]}) { totalCount } }`, map[string]any{"c": clinicID}, &active)
		// admin lacks access to the new clinic (R3); Support sees them.
		support.MustDo(`query($c: ID!) { users(filter: {clinicId: $c, statuses: [ACTIVE]}) { totalCount } }`, map[string]any{"c": clinicID}, &active)
		if active.Users.TotalCount != licenses {
			t.Fatalf("active users %d, want %d", active.Users.TotalCount, licenses)
		}
	})
}
