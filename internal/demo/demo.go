// Package demo loads a demo practice into an empty embedded database, so a
// newcomer can sign in and explore the API at once.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/app"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/onboarding"
	"github.com/clinicemr/usermanager/internal/passwords"
	p "github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/users"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Credentials tell how to sign in to the demo data.
type Credentials struct {
	AdminUsername   string
	SupportUsername string
	Password        string
	// File is where the credentials were written.
	File string
}

// Usernames of the demo accounts.
const (
	AdminUsername   = "admin"
	SupportUsername = "support"
)

// Load fills an empty database with the demo practice, through the services
// of a (the composition root), before they are started. It does nothing and
// returns nil credentials when the database already has an organization.
func Load(ctx context.Context, a *app.App, dataDir string) (*Credentials, error) {
	d := a.DB
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	if n, err := d.Client.Organization.Query().Count(sys); err != nil || n > 0 {
		return nil, err
	}
	password, err := newPassword()
	if err != nil {
		return nil, err
	}
	if _, err := users.CreateSupport(ctx, d.Client, SupportUsername, "support@usermanager.example",
		password, "Sam", "Support"); err != nil {
		return nil, fmt.Errorf("demo support account: %w", err)
	}
	if err := loadPractice(ctx, a, password); err != nil {
		return nil, err
	}
	if err := loadSecondPractice(ctx, a, password); err != nil {
		return nil, err
	}
	creds := &Credentials{AdminUsername: AdminUsername, SupportUsername: SupportUsername, Password: password,
		File: filepath.Join(dataDir, "demo-credentials.txt")}
	text := fmt.Sprintf("Demo accounts (password for all of them: %s)\n"+
		"  %s    administrator of Sunrise Therapy Group\n"+
		"  %s  platform Support\n"+
		"  every demo user's username is listed by the users query; they share the password\n",
		password, AdminUsername, SupportUsername)
	if err := os.WriteFile(creds.File, []byte(text), 0o600); err != nil {
		return nil, err
	}
	return creds, nil
}

// asSupport runs onboarding as platform Support would.
func asSupport(ctx context.Context) context.Context {
	return viewer.NewContext(ctx, &viewer.Viewer{Support: true})
}

type demoUser struct {
	username, first, last string
	userType              staff.UserType
	home                  int // index into the clinics
	extra                 []int
}

var (
	therapistPerms = []string{p.ViewPatients, p.EditPatients, p.StartSOAPNotes, p.FinishSOAPNotes}
	assistantPerms = []string{p.ViewPatients, p.EditPatients, p.StartSOAPNotes, p.ForwardSOAPNotes}
	clericalPerms  = []string{p.ViewPatients, p.EditPatients, p.CalendarAdmin}
	billerPerms    = []string{p.ViewPatients}
)

func permsOf(t staff.UserType) []string {
	class, _ := t.Class()
	switch {
	case t == staff.Biller:
		return billerPerms
	case class == staff.Therapist:
		return therapistPerms
	case class == staff.ClericalClass:
		return clericalPerms
	}
	return assistantPerms
}

func loadPractice(ctx context.Context, a *app.App, password string) error {
	d, lic, ob := a.DB, a.Licenses, a.Onboarding
	out, err := ob.CreateOrganization(asSupport(ctx), onboarding.CreateOrganizationInput{
		Name:       "Sunrise Therapy Group",
		ClinicName: "Sunrise Downtown",
		Licenses: []*licenses.QuantityInput{
			{Class: staff.Therapist, Quantity: 4}, {Class: staff.Assistant, Quantity: 3},
			{Class: staff.Student, Quantity: 2}, {Class: staff.ClericalClass, Quantity: 3},
		},
		Administrator: &onboarding.AdministratorInput{
			Username: AdminUsername, Email: "admin@sunrise-therapy.example", Password: password,
			FirstName: "Alex", LastName: "Morgan",
		},
	})
	if err != nil {
		return err
	}
	if len(out.UserErrors) > 0 {
		return fmt.Errorf("demo organization: %s", out.UserErrors[0].Message)
	}
	org, admin := out.Organization, out.Administrator
	sys := privacy.DecisionContext(ctx, privacy.Allow)
	clinics := []*ent.Clinic{out.Clinic}
	for _, c := range []struct {
		name   string
		counts [4]int
	}{{"Sunrise Northside", [4]int{3, 2, 1, 2}}, {"Sunrise Lakeview", [4]int{1, 1, 1, 1}}} {
		res, err := ob.CreateClinic(asSupport(ctx), onboarding.CreateClinicInput{
			OrganizationID: &org.ID, Name: c.name, Licenses: quantities(c.counts),
		})
		if err != nil {
			return err
		}
		clinics = append(clinics, res.Clinic)
	}
	clinicIDs := make([]int, len(clinics))
	for i, c := range clinics {
		clinicIDs[i] = c.ID
	}
	// The administrator manages every clinic.
	if err := d.Client.User.UpdateOne(admin).AddClinicIDs(clinicIDs[1:]...).Exec(sys); err != nil {
		return err
	}
	staffList := []demoUser{
		{"pt.jordan", "Jordan", "Reyes", staff.PT, 0, []int{1}},
		{"ot.casey", "Casey", "Nguyen", staff.OT, 0, nil},
		{"slp.riley", "Riley", "Okafor", staff.SLP, 1, nil},
		{"pta.taylor", "Taylor", "Brooks", staff.PTA, 0, nil},
		{"cota.morgan", "Morgan", "Patel", staff.COTA, 1, nil},
		{"slpa.jamie", "Jamie", "Kowalski", staff.SLPA, 2, nil},
		{"spt.avery", "Avery", "Lindqvist", staff.SPT, 0, nil},
		{"sot.quinn", "Quinn", "Haddad", staff.SOT, 1, nil},
		{"sslp.rowan", "Rowan", "Silva", staff.SSLP, 2, nil},
		{"front.desk", "Dana", "Whitfield", staff.Clerical, 0, []int{1, 2}},
		{"billing.lee", "Lee", "Ramirez", staff.Biller, 0, nil},
		{"pt.sam", "Samira", "O'Neill", staff.PT, 2, nil},
		{"pt.fillin", "Chris", "Delaney", staff.PT, 2, nil}, // no Therapist license left at Lakeview: saved Inactive
	}
	// One hash for the password every demo user shares: argon2id is slow on
	// purpose, and the demo loads on every first run (and every test).
	hash, err := passwords.Hash(password)
	if err != nil {
		return err
	}
	return txn.WithTx(sys, d.Client, func(tx *ent.Tx) error {
		for _, u := range staffList {
			access := []int{clinicIDs[u.home]}
			for _, e := range u.extra {
				access = append(access, clinicIDs[e])
			}
			_, _, err := users.Create(sys, tx, lic, users.NewUser{
				OrganizationID: org.ID, Username: u.username, Email: u.username + "@sunrise-therapy.example",
				Password: password, PasswordHash: hash, UserType: u.userType, FirstName: u.first, LastName: u.last,
				FullName: u.first + " " + u.last, HomeClinicID: clinicIDs[u.home], ClinicIDs: access,
				Permissions: permsOf(u.userType), NPI: npiFor(u.userType), LicenseNumber: licenseFor(u.userType),
			})
			if err != nil {
				return fmt.Errorf("demo user %s: %w", u.username, err)
			}
		}
		return nil
	})
}

// loadSecondPractice adds a second organization, so tenant isolation can be
// seen: Sunrise's administrator never sees Harbor's data.
func loadSecondPractice(ctx context.Context, a *app.App, password string) error {
	out, err := a.Onboarding.CreateOrganization(asSupport(ctx), onboarding.CreateOrganizationInput{
		Name: "Harbor Rehab", ClinicName: "Harbor Main",
		Licenses: quantities([4]int{2, 1, 0, 1}),
		Administrator: &onboarding.AdministratorInput{
			Username: "harbor.admin", Email: "admin@harbor-rehab.example", Password: password,
			FirstName: "Harper", LastName: "Quint",
		},
	})
	if err == nil && len(out.UserErrors) > 0 {
		err = fmt.Errorf("demo organization: %s", out.UserErrors[0].Message)
	}
	return err
}

func quantities(c [4]int) []*licenses.QuantityInput {
	out := make([]*licenses.QuantityInput, len(staff.LicenseClasses))
	for i, class := range staff.LicenseClasses {
		out[i] = &licenses.QuantityInput{Class: class, Quantity: c[i]}
	}
	return out
}

func npiFor(t staff.UserType) *string {
	if !t.IsProvider() {
		return nil
	}
	s := "9999999995" // R8's placeholder for an unknown NPI
	return &s
}

func licenseFor(t staff.UserType) *string {
	if !t.IsProvider() {
		return nil
	}
	s := "00000" // R8's placeholder for an unknown license number
	return &s
}

// newPassword returns a random password meeting R7.
func newPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "Demo-" + base64.RawURLEncoding.EncodeToString(b) + "-7!", nil
}
