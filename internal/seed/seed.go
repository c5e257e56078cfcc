// Package seed loads a large practice of realistic staff, for benchmarks and
// demos at the sizes practices reach (usermanager seed).
//
// The organization, its clinics and its administrator are created through
// onboarding, with every rule applied. The staff are then written in
// batches of 1,000 users per transaction through ent, so the user hooks
// (folded keys and search text) run as for any user: realistic types,
// about 70% active each holding a license of their class at their home
// clinic, one in five with access to a second clinic, the permissions of
// their type, and a few free licenses in every clinic.
package seed

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/app"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/onboarding"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Limits of one run.
const (
	MaxUsers   = 5_000_000
	MaxClinics = 1_000
	batch      = 1_000
	activePct  = 70 // percent of staff who are Active, each holding a license
	sparePct   = 5  // free licenses per clinic and class, in percent of those held
)

// Options describe the practice to load.
type Options struct {
	// Users is the number of staff besides the administrator.
	Users int
	// Clinics is the number of clinics (at least 1).
	Clinics int
	// Organization is the practice's name.
	Organization string
	// AdminUsername and AdminPassword sign in as the practice's
	// administrator (Company Admin with access to every clinic).
	AdminUsername string
	AdminPassword string
	// Progress, if set, is called after each batch with the staff written
	// so far.
	Progress func(done int)
}

// Practice is what Load created.
type Practice struct {
	OrganizationID  int
	ClinicIDs       []int
	AdministratorID int
	// Users counts every user created, the administrator included.
	Users    int
	Licenses int
	Took     time.Duration
}

// Load creates the practice through a's services (before a is started).
func Load(ctx context.Context, a *app.App, opts Options) (*Practice, error) {
	switch {
	case opts.Users < 0 || opts.Users > MaxUsers:
		return nil, fmt.Errorf("the number of users is between 0 and %d", MaxUsers)
	case opts.Clinics < 1 || opts.Clinics > MaxClinics:
		return nil, fmt.Errorf("the number of clinics is between 1 and %d", MaxClinics)
	case strings.TrimSpace(opts.Organization) == "":
		return nil, errors.New("the organization needs a name")
	}
	start := time.Now()
	support := viewer.NewContext(ctx, &viewer.Viewer{Support: true})
	out, err := a.Onboarding.CreateOrganization(support, onboarding.CreateOrganizationInput{
		Name:       opts.Organization,
		ClinicName: clinicName(opts.Organization, 0),
		Licenses:   []*licenses.QuantityInput{{Class: staff.ClericalClass, Quantity: 1}},
		Administrator: &onboarding.AdministratorInput{
			Username: opts.AdminUsername, Email: opts.AdminUsername + "@" + domain(opts.Organization),
			Password: opts.AdminPassword, FirstName: "Practice", LastName: "Administrator",
		},
	})
	if err != nil {
		return nil, err
	}
	if len(out.UserErrors) > 0 {
		var msgs []string
		for _, e := range out.UserErrors {
			msgs = append(msgs, e.Message)
		}
		return nil, fmt.Errorf("creating the organization: %s", strings.Join(msgs, "; "))
	}
	p := &Practice{OrganizationID: out.Organization.ID, AdministratorID: out.Administrator.ID,
		ClinicIDs: []int{out.Clinic.ID}, Users: 1, Licenses: 1}
	for i := 1; i < opts.Clinics; i++ {
		res, err := a.Onboarding.CreateClinic(support, onboarding.CreateClinicInput{
			OrganizationID: &p.OrganizationID, Name: clinicName(opts.Organization, i),
		})
		if err != nil {
			return nil, err
		}
		if len(res.UserErrors) > 0 {
			return nil, fmt.Errorf("creating clinic %d: %s", i+1, res.UserErrors[0].Message)
		}
		p.ClinicIDs = append(p.ClinicIDs, res.Clinic.ID)
	}
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	if err := a.DB.Client.User.UpdateOneID(p.AdministratorID).AddClinicIDs(p.ClinicIDs[1:]...).Exec(sys); err != nil {
		return nil, err
	}
	if err := loadStaff(sys, a, p, opts); err != nil {
		return nil, err
	}
	if err := a.DB.Analyze(ctx); err != nil {
		return nil, err
	}
	p.Took = time.Since(start)
	return p, nil
}

// loadStaff writes opts.Users staff members and their licenses.
func loadStaff(ctx context.Context, a *app.App, p *Practice, opts Options) error {
	client := a.DB.Client
	// The staff share one password nobody knows: hashing one per user
	// would take hours, and seeded staff are not meant to sign in.
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	hash, err := passwords.Hash("Seed-" + base64.RawURLEncoding.EncodeToString(secret) + "-1!")
	if err != nil {
		return err
	}
	permIDs, err := permissionIDs(ctx, client)
	if err != nil {
		return err
	}
	g := generator{practice: p, domain: domain(opts.Organization), hash: hash, permissionIDs: permIDs}
	held := map[clinicClass]int{}
	if a.DB.Dialect == dialect.Postgres {
		if err := copyStaff(ctx, a.DB.SQL, g, opts, held); err != nil {
			return err
		}
	} else if err := createStaff(ctx, client, g, opts, held); err != nil {
		return err
	}
	return addSpares(ctx, client, p, held)
}

// member is one seeded staff member.
type member struct {
	username, email, first, last string
	userType                     staff.UserType
	status                       user.Status
	home                         int
	access                       []int
}

// generator makes the same practice on every database.
type generator struct {
	practice      *Practice
	domain        string
	hash          string
	permissionIDs map[staff.UserType][]int
}

// member returns the i-th staff member: names cycle through the lists (one
// in a thousand has a rare last name), types in turn, 70% active, a home
// clinic in turn and one in five with access to the next clinic too.
func (g generator) member(i int) member {
	first, last := firstNames[(i*7919)%len(firstNames)], lastNames[(i/len(firstNames)+i*31)%len(lastNames)]
	if i%1000 == 7 {
		last = rareLastNames[(i/1000)%len(rareLastNames)]
	}
	username := fmt.Sprintf("%s.%s%d", strings.ToLower(first), strings.ToLower(last), i)
	m := member{username: username, email: username + "@" + g.domain, first: first, last: last,
		userType: staff.PracticeUserTypes[i%len(staff.PracticeUserTypes)], status: user.StatusINACTIVE}
	if i%100 < activePct {
		m.status = user.StatusACTIVE
	}
	clinics := g.practice.ClinicIDs
	m.home = clinics[i%len(clinics)]
	m.access = []int{m.home}
	if i%5 == 3 && len(clinics) > 1 {
		m.access = append(m.access, clinics[(i+1)%len(clinics)])
	}
	return m
}

// licenseClass is the class of license m holds, if any.
func (m member) licenseClass() (staff.LicenseClass, bool) {
	class, ok := m.userType.Class()
	return class, ok && m.status == user.StatusACTIVE
}

// createStaff writes the staff through ent, in batches of one transaction
// each (SQLite).
func createStaff(ctx context.Context, client *ent.Client, g generator, opts Options, held map[clinicClass]int) error {
	p := g.practice
	for from := 0; from < opts.Users; from += batch {
		tx, err := client.Tx(ctx)
		if err != nil {
			return err
		}
		n := min(batch, opts.Users-from)
		users := make([]*ent.UserCreate, n)
		members := make([]member, n)
		for j := range users {
			m := g.member(from + j)
			members[j] = m
			users[j] = tx.User.Create().
				SetOrganizationID(p.OrganizationID).
				SetUsername(m.username).SetEmail(m.email).SetPasswordHash(g.hash).
				SetUserType(m.userType).SetFirstName(m.first).SetLastName(m.last).SetFullName(m.first + " " + m.last).
				SetStatus(m.status).SetHomeClinicID(m.home).AddClinicIDs(m.access...).
				AddPermissionIDs(g.permissionIDs[m.userType]...)
		}
		created, err := tx.User.CreateBulk(users...).Save(ctx)
		if err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("writing users %d to %d: %w", from+1, from+n, err)
		}
		var lic []*ent.LicenseCreate
		for j, u := range created {
			class, ok := members[j].licenseClass()
			if !ok {
				continue
			}
			held[clinicClass{members[j].home, class}]++
			lic = append(lic, tx.License.Create().SetOrganizationID(p.OrganizationID).
				SetClinicID(members[j].home).SetClass(class).SetHolderID(u.ID))
		}
		if err := tx.License.CreateBulk(lic...).Exec(ctx); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("writing the licenses of users %d to %d: %w", from+1, from+n, err)
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		p.Users += n
		p.Licenses += len(lic)
		if opts.Progress != nil {
			opts.Progress(from + n)
		}
	}
	return nil
}

type clinicClass struct {
	clinicID int
	class    staff.LicenseClass
}

// addSpares adds free licenses: sparePct of those held, at least one, per
// clinic and class in use.
func addSpares(ctx context.Context, client *ent.Client, p *Practice, held map[clinicClass]int) error {
	var spares []*ent.LicenseCreate
	for k, n := range held {
		for range max(1, n*sparePct/100) {
			spares = append(spares, client.License.Create().SetOrganizationID(p.OrganizationID).
				SetClinicID(k.clinicID).SetClass(k.class))
		}
	}
	for len(spares) > 0 {
		n := min(batch, len(spares))
		if err := client.License.CreateBulk(spares[:n]...).Exec(ctx); err != nil {
			return fmt.Errorf("writing free licenses: %w", err)
		}
		p.Licenses += n
		spares = spares[n:]
	}
	return nil
}

// permissionIDs maps each user type to the IDs of the permissions staff of
// that type usually have: clinical work for clinicians, the scheduler for
// clerical staff, reading charts for billers.
func permissionIDs(ctx context.Context, client *ent.Client) (map[staff.UserType][]int, error) {
	perms, err := client.Permission.Query().Where(permission.KeyIn(
		permissions.ViewPatients, permissions.EditPatients, permissions.StartSOAPNotes,
		permissions.ForwardSOAPNotes, permissions.FinishSOAPNotes, permissions.CalendarAdmin)).All(ctx)
	if err != nil {
		return nil, err
	}
	id := map[string]int{}
	for _, p := range perms {
		id[p.Key] = p.ID
	}
	ids := func(keys ...string) []int {
		out := make([]int, 0, len(keys))
		for _, k := range keys {
			if i, ok := id[k]; ok {
				out = append(out, i)
			}
		}
		return out
	}
	byType := map[staff.UserType][]int{}
	for _, t := range staff.PracticeUserTypes {
		class, _ := t.Class()
		switch {
		case t == staff.Biller:
			byType[t] = ids(permissions.ViewPatients)
		case class == staff.Therapist:
			byType[t] = ids(permissions.ViewPatients, permissions.EditPatients, permissions.StartSOAPNotes, permissions.FinishSOAPNotes)
		case class == staff.ClericalClass:
			byType[t] = ids(permissions.ViewPatients, permissions.EditPatients, permissions.CalendarAdmin)
		default:
			byType[t] = ids(permissions.ViewPatients, permissions.EditPatients, permissions.StartSOAPNotes, permissions.ForwardSOAPNotes)
		}
	}
	return byType, nil
}

func clinicName(org string, i int) string { return fmt.Sprintf("%s Clinic %02d", org, i+1) }

// domain is the organization's email domain: its name, folded.
func domain(org string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(org) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		b.WriteString("practice")
	}
	return b.String() + ".example"
}
