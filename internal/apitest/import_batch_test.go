package apitest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/users"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// An import checks its rows with users.CreateBatch (the batch's reads at
// once) instead of createUser's per-row reads: every input gets exactly
// the errors createUser's own check gives it, including after the batch
// created a profile that a later input collides with.
func TestImportBatchChecksMatchCreateUser(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		sctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		client := env.DB.Client
		admin, err := client.User.Query().Where(user.Username(demo.AdminUsername)).WithPermissions().WithClinics().Only(sctx)
		if err != nil {
			t.Fatal(err)
		}
		v := &viewer.Viewer{UserID: admin.ID, Username: admin.Username, OrganizationID: *admin.OrganizationID, AllClinics: true}
		for _, p := range admin.Edges.Permissions {
			v.Permissions = append(v.Permissions, p.Key)
		}
		for _, c := range admin.Edges.Clinics {
			v.ClinicIDs = append(v.ClinicIDs, c.ID)
		}
		// A manager of one clinic only (R3).
		narrow := *v
		narrow.ClinicIDs, narrow.AllClinics = v.ClinicIDs[:1], false
		own, other := v.ClinicIDs[0], v.ClinicIDs[1]
		foreign, err := client.Clinic.Query().Where(clinic.OrganizationIDNEQ(v.OrganizationID)).FirstID(sctx)
		if err != nil {
			t.Fatal(err)
		}
		s := func(x string) *string { return &x }
		inactive := user.StatusINACTIVE
		// A provider with real credentials (R14).
		created, err := env.App.Profiles.Create(viewer.NewContext(context.Background(), v), users.CreateUserInput{
			Username: "imp.cb.provider", Email: "imp.cb.provider@example.org", FirstName: "Imp", LastName: "Provider",
			UserType: staff.PT, HomeClinicID: own, ClinicIDs: []int{own}, Permissions: []string{"VIEW_PATIENTS"},
			Status: &inactive, Npi: s("1234567893"), LicenseNumber: s("PT12345"), LicenseState: s("NY")})
		if err != nil || len(created.UserErrors) > 0 {
			t.Fatalf("creating a provider: %v %v", err, created)
		}
		provider := created.User
		in := func(name string, edit func(*users.CreateUserInput)) users.CreateUserInput {
			i := users.CreateUserInput{Username: "imp.cb." + name, Email: "imp.cb." + name + "@example.org",
				FirstName: "Imp", LastName: name, UserType: staff.UserType("CLERICAL"), HomeClinicID: own,
				ClinicIDs: []int{own}, Permissions: []string{"VIEW_PATIENTS"}, Status: &inactive}
			if edit != nil {
				edit(&i)
			}
			return i
		}
		ins := []users.CreateUserInput{
			in("ok", nil),
			in("bad", func(i *users.CreateUserInput) { i.Email = "not-an-email"; i.FirstName = "" }),
			in("taken", func(i *users.CreateUserInput) { i.Username = demo.AdminUsername; i.Email = admin.Email }),
			in("takenkey", func(i *users.CreateUserInput) { i.Username = " ADMIN " }),
			in("nohome", func(i *users.CreateUserInput) { i.HomeClinicID = 0; i.ClinicIDs = nil }),
			in("nosuch", func(i *users.CreateUserInput) { i.HomeClinicID = 987654 }),
			in("homeout", func(i *users.CreateUserInput) { i.ClinicIDs = []int{other} }),
			in("foreign", func(i *users.CreateUserInput) { i.ClinicIDs = []int{own, foreign} }),
			in("foreignhome", func(i *users.CreateUserInput) { i.HomeClinicID, i.ClinicIDs = foreign, []int{foreign} }),
			in("noclinics", func(i *users.CreateUserInput) { i.ClinicIDs = []int{} }),
			in("twoclinics", func(i *users.CreateUserInput) { i.ClinicIDs = []int{own, other} }),
			in("perm", func(i *users.CreateUserInput) { i.Permissions = []string{"FLY", "VIEW_PATIENTS"} }),
			in("noperm", func(i *users.CreateUserInput) { i.Permissions = []string{} }),
			in("admin", func(i *users.CreateUserInput) { t := true; i.Admin = &t }),
			in("clericalnpi", func(i *users.CreateUserInput) { i.Npi = s("1234567893"); i.LicenseState = s("ny") }),
			in("dupprovider", func(i *users.CreateUserInput) {
				i.UserType, i.Npi, i.LicenseNumber, i.LicenseState = provider.UserType, provider.Npi, provider.LicenseNumber, s(" "+*provider.LicenseState+" ")
			}),
			in("placeholder", func(i *users.CreateUserInput) {
				i.UserType, i.Npi, i.LicenseNumber = provider.UserType, s("9999999995"), s("00000")
			}),
			in("providerbare", func(i *users.CreateUserInput) { i.UserType = provider.UserType }),
			in("badtype", func(i *users.CreateUserInput) { i.UserType = "SUPPORT" }),
		}
		show := func(l apperr.List, err error) string {
			if err != nil {
				return "error: " + err.Error()
			}
			var out []string
			for _, e := range l {
				f := ""
				if e.Field != nil {
					f = *e.Field
				}
				out = append(out, fmt.Sprintf("%s:%s:%s", f, e.Code, e.Message))
			}
			slices.Sort(out) // rules with maps (checkCredentials) add in any order
			return fmt.Sprint(out)
		}
		for _, vw := range []*viewer.Viewer{v, &narrow} {
			ctx := viewer.NewContext(context.Background(), vw)
			cb, err := env.App.Profiles.NewCreateBatch(ctx, ins)
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range ins {
				want := show(env.App.Profiles.CheckCreate(ctx, i))
				if got := show(cb.CheckCreate(i)); got != want {
					t.Errorf("%s (viewer of %d clinics): batch check %s, createUser's %s", i.Username, len(vw.ClinicIDs), got, want)
				}
				if vw != v {
					continue
				}
				// Create reads less (the unique indexes decide), and answers
				// the same.
				p, err := cb.Create(i)
				var got string
				if err != nil {
					got = show(nil, err)
				} else {
					got = show(apperr.List(p.UserErrors), nil)
				}
				if got != want {
					t.Errorf("%s: batch create %s, createUser's check %s", i.Username, got, want)
				}
			}
		}
		// Created by the batch: a later input with its username or email
		// gets createUser's answer, not only the unique index's.
		ctx := viewer.NewContext(context.Background(), v)
		later := []users.CreateUserInput{in("first", nil), in("again", func(i *users.CreateUserInput) {
			i.Username, i.Email = "IMP.CB.FIRST", "imp.cb.first@example.org"
		}), in("sameemail", func(i *users.CreateUserInput) { i.Email = "Imp.Cb.First@Example.org" })}
		cb, err := env.App.Profiles.NewCreateBatch(ctx, later)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := cb.Create(later[0]); err != nil || len(p.UserErrors) > 0 {
			t.Fatalf("creating %s: %v %v", later[0].Username, err, p)
		}
		for _, i := range later[1:] {
			want := show(env.App.Profiles.CheckCreate(ctx, i))
			if got := show(cb.CheckCreate(i)); got != want {
				t.Errorf("%s after the batch created imp.cb.first: batch check %s, createUser's %s", i.Username, got, want)
			}
			p, err := cb.Create(i)
			if err != nil {
				t.Fatal(err)
			}
			if got := show(apperr.List(p.UserErrors), nil); got != want {
				t.Errorf("%s after the batch created imp.cb.first: batch create %s, createUser's check %s", i.Username, got, want)
			}
		}
	})
}
