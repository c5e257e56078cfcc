package apitest_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// R3 in the audit trail: a manager with access to only some clinics reads,
// and exports, only the records about users who have one of their clinics,
// about their clinics, and about the organization; a manager of every clinic
// reads them all.
func TestAuditTrailWithinManagersClinics(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		lakeview, downtown := stClinicID(t, admin, "Sunrise Lakeview"), stClinicID(t, admin, "Sunrise Downtown")
		const password = "Lakeview-Manager-Qx7!Rd2#"
		create := func(username, home string, perms []string) {
			t.Helper()
			r := admin.Do(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } userErrors { field code message } } }`,
				map[string]any{"in": map[string]any{
					"username": username, "email": username + "@sunrise-therapy.example", "password": password,
					"firstName": "Scope", "lastName": strings.ToUpper(username[:1]) + username[1:4] + "ington", "userType": "CLERICAL",
					"homeClinicId": home, "clinicIds": []string{home}, "permissions": perms,
				}})
			if len(r.Errors) > 0 || strings.Contains(string(r.Data), `"code"`) {
				t.Fatalf("creating %s: %s", username, r.Body)
			}
		}
		create("lakemgr", lakeview, []string{"VIEW_USERS"})
		create("downonly", downtown, []string{"VIEW_PATIENTS"})
		// Records about a Lakeview user and about Downtown-and-Northside one.
		for username, last := range map[string]string{"slpa.jamie": "Kowalska", "pt.jordan": "Reyes-Lopez"} {
			r := admin.Do(`mutation($in: UpdateUserInput!) { updateUser(input: $in) { userErrors { code message } } }`,
				map[string]any{"in": map[string]any{"id": imgUserID(t, admin, username), "lastName": last}})
			if len(r.Errors) > 0 || strings.Contains(string(r.Data), `"code"`) {
				t.Fatalf("updating %s: %s", username, r.Body)
			}
		}
		lake := env.Login("lakemgr", password)

		seen := expAllEvents(t, lake, nil)
		about := func(events map[string]audEvent, username string) bool {
			for _, e := range events {
				if e.TargetUser != nil && e.TargetUser.Username == username {
					return true
				}
			}
			return false
		}
		clinicCreated := func(events map[string]audEvent, name string) bool {
			for _, e := range events {
				if e.Action == "CLINIC_CREATED" && e.After["name"] == name {
					return true
				}
			}
			return false
		}
		if !about(seen, "slpa.jamie") || !about(seen, "lakemgr") || !clinicCreated(seen, "Sunrise Lakeview") {
			var got []string
			for _, e := range seen {
				u := ""
				if e.TargetUser != nil {
					u = e.TargetUser.Username
				}
				got = append(got, e.Action+"/"+e.TargetType+"/"+u)
			}
			t.Errorf("the Lakeview manager misses records about Lakeview: %v, jamie %v lakemgr %v clinic %v", got,
				about(seen, "slpa.jamie"), about(seen, "lakemgr"), clinicCreated(seen, "Sunrise Lakeview"))
		}
		for _, other := range []string{"downonly", "pt.jordan"} {
			if about(seen, other) {
				t.Errorf("the Lakeview manager reads records about %s, who has no Lakeview access", other)
			}
		}
		if clinicCreated(seen, "Sunrise Downtown") || clinicCreated(seen, "Sunrise Northside") {
			t.Error("the Lakeview manager reads the records of other clinics")
		}
		all := expAllEvents(t, admin, nil)
		if !about(all, "downonly") || !clinicCreated(all, "Sunrise Downtown") || len(all) <= len(seen) {
			t.Errorf("the manager of every clinic reads %d records, the Lakeview manager %d", len(all), len(seen))
		}

		// The export shows the Lakeview manager the same records.
		link, _ := expExport(t, lake, map[string]any{})
		status, rows := expGet(t, env, link)
		if status != 200 {
			t.Fatalf("export: status %d", status)
		}
		seen = expAllEvents(t, lake, nil) // now with the export's own record
		var exported, listed []string
		for _, row := range rows {
			exported = append(exported, row[expID])
		}
		for id := range seen {
			listed = append(listed, id)
		}
		slices.Sort(exported)
		slices.Sort(listed)
		if !slices.Equal(exported, listed) {
			t.Errorf("the Lakeview manager's export has %d records, auditEvents %d", len(exported), len(listed))
		}
	})
}
