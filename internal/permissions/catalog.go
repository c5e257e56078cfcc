// Package permissions holds the permission catalog (R16) and keeps the
// database's copy of it current.
package permissions

import (
	"context"
	"fmt"
	"slices"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Entry is one permission of the catalog.
type Entry struct {
	Key         string
	Name        string
	Description string
	// AvailableTo lists the user types that may hold it; others see it
	// greyed out.
	AvailableTo []staff.UserType
	// Restricted permissions are granted by Support only.
	Restricted bool
	// Administrative permissions are what the Admin shortcut grants.
	Administrative bool
}

// Keys of the catalog's permissions.
const (
	ViewPatients     = "VIEW_PATIENTS"
	EditPatients     = "EDIT_PATIENTS"
	ViewUsers        = viewer.PermViewUsers
	EditUsers        = viewer.PermEditUsers
	StartSOAPNotes   = "START_SOAP_NOTES"
	ForwardSOAPNotes = "FORWARD_SOAP_NOTES"
	FinishSOAPNotes  = "FINISH_SOAP_NOTES"
	CalendarAdmin    = "CALENDAR_ADMIN"
	ClinicAdmin      = viewer.PermClinicAdmin
	CompanyAdmin     = viewer.PermCompanyAdmin
	BillingAdmin     = "BILLING_ADMIN"
)

var (
	practice   = staff.PracticeUserTypes
	therapists = []staff.UserType{staff.PT, staff.OT, staff.SLP}
	clinicians = []staff.UserType{staff.PT, staff.OT, staff.SLP, staff.PTA, staff.COTA, staff.SLPA, staff.SPT, staff.SOT, staff.SSLP}
	supervised = []staff.UserType{staff.PTA, staff.COTA, staff.SLPA, staff.SPT, staff.SOT, staff.SSLP}
)

// Catalog is every permission of the platform.
var Catalog = []Entry{
	{ViewPatients, "View Patients", "Open patient charts.", practice, false, false},
	{EditPatients, "Edit Patients", "Add and edit patient demographics and cases.", practice, false, false},
	{ViewUsers, "View Users", "Open the User Manager: search and read users, add users (granting only what the granter holds).", practice, false, true},
	{EditUsers, "Edit Users", "Edit other users' profiles, switch them active or inactive, and request license adjustments.", practice, false, true},
	{StartSOAPNotes, "Start SOAP Notes", "Create and document SOAP notes.", clinicians, false, false},
	{ForwardSOAPNotes, "Forward SOAP Notes", "Forward SOAP notes to a supervising therapist for co-signature.", supervised, false, false},
	{FinishSOAPNotes, "Finish SOAP Notes", "Sign and finalize SOAP notes.", therapists, false, false},
	{CalendarAdmin, "Calendar Admin", "Manage the scheduler of the clinic.", practice, false, true},
	{ClinicAdmin, "Clinic Admin", "Manage the settings of the clinics the user can access.", practice, false, true},
	{CompanyAdmin, "Company Admin", "Manage the practice: add and edit clinics.", practice, false, true},
	{BillingAdmin, "Billing Admin", "Manage billing integration settings. Granted by Support only.", practice, true, false},
}

// Administrative returns the keys the Admin shortcut grants.
func Administrative() []string {
	var keys []string
	for _, e := range Catalog {
		if e.Administrative {
			keys = append(keys, e.Key)
		}
	}
	return keys
}

// Sync writes the catalog into the database: new entries are added, changed
// ones updated. Permissions are never removed, since users may hold them.
func Sync(ctx context.Context, client *ent.Client) error {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	existing, err := client.Permission.Query().All(ctx)
	if err != nil {
		return fmt.Errorf("reading permission catalog: %w", err)
	}
	byKey := make(map[string]*ent.Permission, len(existing))
	for _, p := range existing {
		byKey[p.Key] = p
	}
	for _, e := range Catalog {
		p, ok := byKey[e.Key]
		switch {
		case !ok:
			err = client.Permission.Create().SetKey(e.Key).SetName(e.Name).SetDescription(e.Description).
				SetAvailableTo(e.AvailableTo).SetRestricted(e.Restricted).SetAdministrative(e.Administrative).
				Exec(ctx)
		case p.Name != e.Name || p.Description != e.Description || !slices.Equal(p.AvailableTo, e.AvailableTo) ||
			p.Restricted != e.Restricted || p.Administrative != e.Administrative:
			err = p.Update().SetName(e.Name).SetDescription(e.Description).SetAvailableTo(e.AvailableTo).
				SetRestricted(e.Restricted).SetAdministrative(e.Administrative).Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("writing permission %s: %w", e.Key, err)
		}
	}
	return nil
}
