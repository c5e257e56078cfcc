package users_test

import (
	"context"
	"slices"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/app"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/testdb"
	"github.com/clinicemr/usermanager/internal/users"
	"github.com/clinicemr/usermanager/internal/viewer"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// copyFixture is one organization with clinics north and south, a source
// user holding much in both, a target therapist of north, and the services.
type copyFixture struct {
	app                    *app.App
	org, north, south      int
	source, target, editor int
}

func newCopyFixture(t *testing.T) *copyFixture {
	t.Helper()
	d, _ := testdb.New(t, dialect.SQLite, "catalog", func(ctx context.Context, d *db.DB) (string, error) {
		return "", permissions.Sync(ctx, d.Client)
	})
	secret := []byte("copy-test-secret-0123456789abcdef-0123456789")
	a, err := app.New(t.Context(), d, app.Settings{Secret: secret, BlobURL: "mem://", MailOutboxDir: t.TempDir(),
		Resets: users.ResetConfig{Key: secret}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	sys := privacy.DecisionContext(t.Context(), privacy.Allow)
	c := d.Client
	f := &copyFixture{app: a}
	o, err := c.Organization.Create().SetName("Sunrise").Save(sys)
	if err != nil {
		t.Fatal(err)
	}
	f.org = o.ID
	for _, cl := range []struct {
		name string
		id   *int
	}{{"North", &f.north}, {"South", &f.south}} {
		x, err := c.Clinic.Create().SetName(cl.name).SetOrganizationID(f.org).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		*cl.id = x.ID
	}
	mk := func(name string, t2 staff.UserType, keys []string, clinics ...int) int {
		ids, err := c.Permission.Query().Where(permission.KeyIn(keys...)).IDs(sys)
		if err != nil || len(ids) != len(keys) {
			t.Fatalf("permissions %v: %v", keys, err)
		}
		u, err := c.User.Create().SetOrganizationID(f.org).SetUsername(name).SetEmail(name + "@example.com").
			SetPasswordHash("not a hash").SetUserType(t2).SetFirstName(name).SetLastName("Test").
			SetFullName(name + " Test").SetHomeClinicID(clinics[0]).AddClinicIDs(clinics...).
			AddPermissionIDs(ids...).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	f.source = mk("source", staff.PT, []string{permissions.ViewPatients, permissions.StartSOAPNotes,
		permissions.FinishSOAPNotes, permissions.EditUsers, permissions.CompanyAdmin, permissions.BillingAdmin}, f.north, f.south)
	f.target = mk("target", staff.PT, []string{permissions.ViewPatients}, f.north)
	f.editor = mk("editor", staff.Clerical, []string{permissions.ViewUsers, permissions.EditUsers}, f.north)
	return f
}

func (f *copyFixture) copy(v *viewer.Viewer, target int) (*users.UserPayload, error) {
	ctx := viewer.NewContext(context.Background(), v)
	return f.app.Profiles.CopyPermissions(ctx, users.CopyPermissionsInput{TargetUserID: target, SourceUserIDs: []int{f.source}})
}

func keysAndClinics(t *testing.T, f *copyFixture, id int) ([]string, []int) {
	t.Helper()
	x, err := f.app.DB.Client.User.Query().WithPermissions().WithClinics().
		Where(user.ID(id)).Only(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range x.Edges.Permissions {
		keys = append(keys, p.Key)
	}
	var clinics []int
	for _, c := range x.Edges.Clinics {
		clinics = append(clinics, c.ID)
	}
	slices.Sort(keys)
	slices.Sort(clinics)
	return keys, clinics
}

// R15, R32: a copy adds only what the target lacks and the copier could
// grant: never the SOAP-note signing permissions, never an administrative
// permission the copier lacks, never a restricted one (but by Support), and
// never a clinic the copier cannot access.
func TestCopyPermissionsGrantsNoMoreThanTheCopierHolds(t *testing.T) {
	t.Parallel()
	f := newCopyFixture(t)
	editor := &viewer.Viewer{UserID: f.editor, OrganizationID: f.org, ClinicIDs: []int{f.north},
		Permissions: []string{permissions.ViewUsers, permissions.EditUsers}}
	p, err := f.copy(editor, f.target)
	if err != nil || len(p.UserErrors) > 0 {
		t.Fatalf("copy: %v %+v", err, p)
	}
	keys, clinics := keysAndClinics(t, f, f.target)
	if want := []string{permissions.EditUsers, permissions.ViewPatients}; !slices.Equal(keys, want) {
		t.Errorf("the target holds %v, want %v", keys, want)
	}
	if !slices.Equal(clinics, []int{f.north}) {
		t.Errorf("the target has clinics %v, want only north %d (south is not the copier's)", clinics, f.north)
	}
	if len(p.Warnings) == 0 || p.Warnings[0].Code != users.NotCopied {
		t.Errorf("warnings %+v, want %s", p.Warnings, users.NotCopied)
	}

	// Support copies the restricted and administrative ones too, and south.
	if p, err := f.copy(&viewer.Viewer{Support: true}, f.target); err != nil || len(p.UserErrors) > 0 {
		t.Fatalf("Support's copy: %v %+v", err, p)
	}
	keys, clinics = keysAndClinics(t, f, f.target)
	for _, k := range []string{permissions.CompanyAdmin, permissions.BillingAdmin} {
		if !slices.Contains(keys, k) {
			t.Errorf("Support's copy did not add %s: %v", k, keys)
		}
	}
	for _, k := range []string{permissions.StartSOAPNotes, permissions.FinishSOAPNotes} {
		if slices.Contains(keys, k) {
			t.Errorf("a copy added the signing permission %s", k)
		}
	}
	if len(clinics) != 2 {
		t.Errorf("Support's copy gave clinics %v, want north and south", clinics)
	}

	// Not onto oneself (R34).
	_, err = f.copy(editor, f.editor)
	if e, ok := apperr.AsError(err); !ok || e.Code != apperr.CodeForbidden {
		t.Errorf("copying onto oneself: %v, want FORBIDDEN", err)
	}
}
