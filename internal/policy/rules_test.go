package policy_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	_ "github.com/clinicemr/usermanager/ent/runtime" // the schema's policies and hooks
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/testdb"
	"github.com/clinicemr/usermanager/internal/viewer"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// tenants is two organizations: Sunrise with clinics north and south and
// four users, Harbor with one clinic and one user.
type tenants struct {
	client                   *ent.Client
	sunrise, harbor          int
	north, south, harborMain int
	// users by name: onlyNorth, onlySouth, both (north and south), harborUser
	users map[string]int
}

func newTenants(t *testing.T, kind string) *tenants {
	t.Helper()
	d, _ := testdb.New(t, kind, "migrated", nil)
	sys := privacy.DecisionContext(context.Background(), privacy.Allow)
	c := d.Client
	f := &tenants{client: c, users: map[string]int{}}
	org := func(name string) int {
		o, err := c.Organization.Create().SetName(name).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		return o.ID
	}
	clinic := func(name string, orgID int) int {
		cl, err := c.Clinic.Create().SetName(name).SetOrganizationID(orgID).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		return cl.ID
	}
	f.sunrise, f.harbor = org("Sunrise"), org("Harbor")
	f.north, f.south, f.harborMain = clinic("North", f.sunrise), clinic("South", f.sunrise), clinic("Harbor Main", f.harbor)
	for name, where := range map[string]struct {
		org     int
		clinics []int
	}{
		"onlyNorth": {f.sunrise, []int{f.north}}, "onlySouth": {f.sunrise, []int{f.south}},
		"both": {f.sunrise, []int{f.north, f.south}}, "harborUser": {f.harbor, []int{f.harborMain}},
	} {
		u, err := c.User.Create().SetOrganizationID(where.org).SetUsername(name).SetEmail(name + "@example.com").
			SetPasswordHash("not a hash").SetUserType(staff.Clerical).SetFirstName(name).SetLastName("Test").
			SetFullName(name + " Test").SetHomeClinicID(where.clinics[0]).AddClinicIDs(where.clinics...).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		f.users[name] = u.ID
	}
	return f
}

func (f *tenants) as(v *viewer.Viewer) context.Context {
	return viewer.NewContext(context.Background(), v)
}

func (f *tenants) visibleUsers(t *testing.T, ctx context.Context) []string {
	t.Helper()
	users, err := f.client.User.Query().Order(ent.Asc(user.FieldUsername)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	return names
}

func onEveryDatabase(t *testing.T, test func(t *testing.T, f *tenants)) {
	for _, kind := range []string{dialect.SQLite, dialect.Postgres} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			test(t, newTenants(t, kind))
		})
	}
}

// R1-R3: a manager sees the users of their organization who share one of
// their clinics (and themself); without View Users only themself; with
// every clinic, the whole organization; Support everyone.
func TestUsersVisibleByOrganizationAndClinic(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *tenants) {
		cases := []struct {
			name string
			v    *viewer.Viewer
			want []string
		}{
			{"north manager", &viewer.Viewer{UserID: f.users["onlyNorth"], OrganizationID: f.sunrise,
				Permissions: []string{viewer.PermViewUsers}, ClinicIDs: []int{f.north}}, []string{"both", "onlyNorth"}},
			{"south manager", &viewer.Viewer{UserID: f.users["onlySouth"], OrganizationID: f.sunrise,
				Permissions: []string{viewer.PermViewUsers}, ClinicIDs: []int{f.south}}, []string{"both", "onlySouth"}},
			{"without View Users", &viewer.Viewer{UserID: f.users["both"], OrganizationID: f.sunrise,
				ClinicIDs: []int{f.north, f.south}}, []string{"both"}},
			{"every clinic", &viewer.Viewer{UserID: f.users["both"], OrganizationID: f.sunrise, AllClinics: true,
				Permissions: []string{viewer.PermViewUsers}, ClinicIDs: []int{f.north, f.south}},
				[]string{"both", "onlyNorth", "onlySouth"}},
			{"other organization", &viewer.Viewer{UserID: f.users["harborUser"], OrganizationID: f.harbor, AllClinics: true,
				Permissions: []string{viewer.PermViewUsers}, ClinicIDs: []int{f.harborMain}}, []string{"harborUser"}},
			{"Support", &viewer.Viewer{Support: true}, []string{"both", "harborUser", "onlyNorth", "onlySouth"}},
		}
		for _, c := range cases {
			if got := f.visibleUsers(t, f.as(c.v)); !slices.Equal(got, c.want) {
				t.Errorf("%s sees %v, want %v", c.name, got, c.want)
			}
		}
		// By ID too, as node(id:) asks: another organization's user is not
		// found.
		north := f.as(&viewer.Viewer{UserID: f.users["onlyNorth"], OrganizationID: f.sunrise,
			Permissions: []string{viewer.PermViewUsers}, ClinicIDs: []int{f.north}})
		if _, err := f.client.User.Get(north, f.users["harborUser"]); !ent.IsNotFound(err) {
			t.Errorf("another organization's user by ID: %v, want not found", err)
		}
		if _, err := f.client.User.Get(north, f.users["onlySouth"]); !ent.IsNotFound(err) {
			t.Errorf("a user of a clinic the manager lacks, by ID: %v, want not found", err)
		}
	})
}

// R1: clinics and organizations are confined to the viewer's organization;
// anonymous queries are refused; nobody writes into another organization.
func TestTenantEntitiesConfinedToTheOrganization(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *tenants) {
		ctx := f.as(&viewer.Viewer{UserID: f.users["onlyNorth"], OrganizationID: f.sunrise,
			Permissions: []string{viewer.PermViewUsers}, ClinicIDs: []int{f.north}})
		clinics, err := f.client.Clinic.Query().IDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(clinics)
		if want := []int{f.north, f.south}; !slices.Equal(clinics, want) {
			t.Errorf("clinics %v, want Sunrise's %v", clinics, want)
		}
		orgs, err := f.client.Organization.Query().IDs(ctx)
		if err != nil || !slices.Equal(orgs, []int{f.sunrise}) {
			t.Errorf("organizations %v (%v), want only Sunrise", orgs, err)
		}

		_, err = f.client.Clinic.Query().All(context.Background())
		if !errors.Is(err, policy.ErrUnauthenticated) {
			t.Errorf("anonymous clinic query: %v, want %v", err, policy.ErrUnauthenticated)
		}

		err = f.client.Clinic.Create().SetName("Planted").SetOrganizationID(f.harbor).Exec(ctx)
		if !errors.Is(err, policy.ErrWrongOrganization) {
			t.Errorf("creating a clinic in another organization: %v, want %v", err, policy.ErrWrongOrganization)
		}
		touched := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		n, err := f.client.Clinic.Update().SetUpdatedAt(touched).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("an unfiltered update touched %d clinics, want Sunrise's 2", n)
		}
		harbor, err := f.client.Clinic.Get(privacy.DecisionContext(context.Background(), privacy.Allow), f.harborMain)
		if err != nil || harbor.UpdatedAt.Equal(touched) {
			t.Errorf("another organization's clinic was updated: %+v %v", harbor, err)
		}
	})
}
