package licenses

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/testdb"
)

// The tests of this package run on both supported databases (R23: "on every
// supported database"), each on a database of its own (internal/testdb):
// PostgreSQL is skipped when there is none, unless REQUIRE_POSTGRES=1.

func TestMain(m *testing.M) { testdb.Main(m) }

// databases are the supported kinds.
var databases = []string{dialect.SQLite, dialect.Postgres}

// onEveryDatabase runs test in parallel subtests, one per database kind.
func onEveryDatabase(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, kind := range databases {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			test(t, newFixture(t, kind))
		})
	}
}

// system is a context that bypasses the privacy rules, as system work does.
func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// fixture is a migrated, empty database with one organization of two
// clinics, and the Service under test.
type fixture struct {
	db                *db.DB
	client            *ent.Client
	svc               *Service
	orgID             int
	clinicID, clinic2 int
	clinicName        string
	users             atomic.Int64 // names users uniquely
	ctx               context.Context
}

func newFixture(t *testing.T, kind string) *fixture {
	t.Helper()
	ctx := system(context.Background())
	d, _ := testdb.New(t, kind, "migrated", nil)
	f := &fixture{db: d, client: d.Client, ctx: ctx, clinicName: "Main Street"}
	f.svc = New(d.Client, d.Dialect, events.New(d.Dialect, d.URL), nil)
	org, err := d.Client.Organization.Create().SetName("Test Practice").Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.orgID = org.ID
	for i, name := range []string{f.clinicName, "Riverside"} {
		c, err := d.Client.Clinic.Create().SetName(name).SetOrganizationID(org.ID).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			f.clinicID = c.ID
		} else {
			f.clinic2 = c.ID
		}
	}
	return f
}

// newUsers creates n inactive users of a type at the first clinic and
// returns their IDs.
func (f *fixture) newUsers(t *testing.T, n int, typ staff.UserType) []int {
	t.Helper()
	builders := make([]*ent.UserCreate, n)
	for i := range builders {
		k := f.users.Add(1)
		builders[i] = f.client.User.Create().
			SetOrganizationID(f.orgID).
			SetUsername(fmt.Sprintf("user%d", k)).
			SetEmail(fmt.Sprintf("user%d@example.com", k)).
			SetPasswordHash("not a hash").
			SetUserType(typ).
			SetFirstName("Test").
			SetLastName(fmt.Sprintf("User%d", k)).
			SetFullName(fmt.Sprintf("Test User%d", k)).
			SetHomeClinicID(f.clinicID)
	}
	users, err := f.client.User.CreateBulk(builders...).Save(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, n)
	for i, u := range users {
		ids[i] = u.ID
	}
	return ids
}

// add adds n licenses of class at a clinic in a transaction of its own.
func (f *fixture) add(t *testing.T, clinicID int, class staff.LicenseClass, n int) {
	t.Helper()
	if err := f.withTx(func(tx *ent.Tx) error { return f.svc.Add(f.ctx, tx, f.orgID, clinicID, class, n) }); err != nil {
		t.Fatal(err)
	}
}
