package apitest_test

import (
	"slices"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// TestUserClinicsByNameAndPermissionsInCatalogOrder: a user's clinics are
// listed by name and their permissions in the catalog's order, whether the
// user is read alone or in a search (which loads the lists for a whole
// page), so that a client shows them the same way at every read.
func TestUserClinicsByNameAndPermissionsInCatalogOrder(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		type profile struct {
			Username    string
			Clinics     []struct{ Name string }
			Permissions []struct{ Key string }
		}
		check := func(how string, u profile) {
			t.Helper()
			var clinics, keys []string
			for _, cl := range u.Clinics {
				clinics = append(clinics, cl.Name)
			}
			for _, p := range u.Permissions {
				keys = append(keys, p.Key)
			}
			// front.desk was given Downtown, Northside and Lakeview, in
			// that order (their IDs' order too).
			if want := []string{searchDowntown, searchLakeview, searchNorthside}; !slices.Equal(clinics, want) {
				t.Errorf("%s: front.desk's clinics %v, want %v", how, clinics, want)
			}
			if want := []string{"VIEW_PATIENTS", "EDIT_PATIENTS", "CALENDAR_ADMIN"}; !slices.Equal(keys, want) {
				t.Errorf("%s: front.desk's permissions %v, want %v", how, keys, want)
			}
		}
		const fields = `username clinics { name } permissions { key }`
		var found struct {
			Users struct{ Edges []struct{ Node profile } }
		}
		c.MustDo(`{ users(first: 5, filter: {username: "front.desk"}) { edges { node { `+fields+` } } } }`, nil, &found)
		if len(found.Users.Edges) != 1 {
			t.Fatalf("searching front.desk found %d users", len(found.Users.Edges))
		}
		check("in a search", found.Users.Edges[0].Node)

		var alone struct{ Node profile }
		c.MustDo(`query($id: ID!) { node(id: $id) { ... on User { `+fields+` } } }`,
			map[string]any{"id": imgUserID(t, c, "front.desk")}, &alone)
		check("read alone", alone.Node)
	})
}
