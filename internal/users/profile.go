// Package users owns writing user profiles: the rules of a profile (R4-R16),
// creating and editing users, their status, copying permissions, pictures
// and signatures, and password resets (R30). Reading them (the search, the
// duplicate providers) is internal/directory's.
package users

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/auth"
	"github.com/clinicemr/usermanager/internal/credentials"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Codes of profile rules, besides those in apperr (R9, R3, R4, R14).
const (
	ClinicRequired        apperr.Code = "CLINIC_REQUIRED"
	ClinicNotAccessible   apperr.Code = "CLINIC_NOT_ACCESSIBLE"
	InvalidHomeClinic     apperr.Code = "INVALID_HOME_CLINIC"
	CredentialsNotAllowed apperr.Code = "CREDENTIALS_NOT_ALLOWED"
	DuplicateProviderCode apperr.Code = "DUPLICATE_PROVIDER"
)

// CreateUserInput is the input of createUser.
type CreateUserInput struct {
	Username            string         `json:"username"`
	Email               string         `json:"email"`
	Password            string         `json:"password"`
	UserType            staff.UserType `json:"userType"`
	FirstName           string         `json:"firstName"`
	LastName            string         `json:"lastName"`
	FullName            *string        `json:"fullName"`
	Status              *user.Status   `json:"status"`
	HomeClinicID        int            `json:"homeClinicId"`
	ClinicIDs           []int          `json:"clinicIds"`
	Permissions         []string       `json:"permissions"`
	Admin               *bool          `json:"admin"`
	CopyPermissionsFrom []int          `json:"copyPermissionsFrom"`
	Npi                 *string        `json:"npi"`
	LicenseNumber       *string        `json:"licenseNumber"`
	LicenseState        *string        `json:"licenseState"`
}

// UpdateUserInput is the input of updateUser: only the fields given change.
// ClinicIDs and Permissions, when given, are the complete new sets.
type UpdateUserInput struct {
	ID            int      `json:"id"`
	Username      *string  `json:"username"`
	Email         *string  `json:"email"`
	FirstName     *string  `json:"firstName"`
	LastName      *string  `json:"lastName"`
	FullName      *string  `json:"fullName"`
	HomeClinicID  *int     `json:"homeClinicId"`
	ClinicIDs     []int    `json:"clinicIds"`
	Permissions   []string `json:"permissions"`
	Admin         *bool    `json:"admin"`
	Npi           *string  `json:"npi"`
	LicenseNumber *string  `json:"licenseNumber"`
	LicenseState  *string  `json:"licenseState"`

	// access, set by updateUsersAccess, adds to and removes from the sets
	// Update reads, so a bulk change applies to each user as they are when
	// saved, not as they were when the call began.
	access *accessChange
}

// accessChange is one user's share of updateUsersAccess.
type accessChange struct {
	addPermissions, removePermissions []string
	addClinics, removeClinics         []int
}

// UserPayload answers the mutations that change a profile.
type UserPayload struct {
	User       *ent.User           `json:"user"`
	Warnings   []*apperr.Warning   `json:"warnings"`
	UserErrors []*apperr.UserError `json:"userErrors"`
}

func failed(errs apperr.List) *UserPayload {
	return &UserPayload{Warnings: []*apperr.Warning{}, UserErrors: errs}
}

func succeeded(u *ent.User, warnings []*apperr.Warning) *UserPayload {
	if warnings == nil {
		warnings = []*apperr.Warning{}
	}
	return &UserPayload{User: u.Detach(), Warnings: warnings, UserErrors: []*apperr.UserError{}}
}

// Profiles creates and edits user profiles with every rule of R4-R16.
type Profiles struct {
	client   *ent.Client
	licenses *licenses.Service
	sessions *auth.Service
	// resets sends the invitation of a user created without a password;
	// NewResets sets it.
	resets *Resets
	// permissionIDs caches the catalog's IDs by key: the catalog only
	// grows (syncCatalog at start), and its IDs never change.
	permissionIDs sync.Map
	// sqliteWriter lines up SetStatus's transactions on SQLite (status.go).
	sqliteWriter sync.Mutex
}

// permissionIDsOf returns the IDs of keys (nil if one is unknown, so that
// create looks them up and reports it).
func (p *Profiles) permissionIDsOf(ctx context.Context, keys []string) []int {
	ids := make([]int, 0, len(keys))
	var missing []string
	for _, k := range keys {
		if id, ok := p.permissionIDs.Load(k); ok {
			ids = append(ids, id.(int))
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return ids
	}
	found, err := p.client.Permission.Query().Where(permission.KeyIn(missing...)).All(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil || len(found) != len(missing) {
		return nil
	}
	for _, f := range found {
		p.permissionIDs.Store(f.Key, f.ID)
		ids = append(ids, f.ID)
	}
	return ids
}

// NewProfiles returns a Profiles service; sessions end through auth (R25).
func NewProfiles(client *ent.Client, lic *licenses.Service, sessions *auth.Service) *Profiles {
	return &Profiles{client: client, licenses: lic, sessions: sessions}
}

// Create adds a profile (createUser). View Users lets a manager add users
// (R2). Every broken rule is reported at once and nothing is written (R10).
// A new profile is Active if a license is free and otherwise saved Inactive
// with a warning (R24).
func (p *Profiles) Create(ctx context.Context, in CreateUserInput) (*UserPayload, error) {
	pc, errs, err := p.prepareCreate(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return failed(errs), nil
	}
	return p.create(ctx, in, pc)
}

// CheckCreate reports every rule a createUser with in would break, writing
// nothing (a staff-list import's dry run). A nil list means createUser
// would save the profile now (maybe Inactive, R24); an error is what
// createUser would return as a GraphQL error (FORBIDDEN, ...).
func (p *Profiles) CheckCreate(ctx context.Context, in CreateUserInput) (apperr.List, error) {
	_, errs, err := p.prepareCreate(ctx, in)
	return errs, err
}

// preparedCreate is a checked createUser: what create writes.
type preparedCreate struct {
	n        NewUser
	keys     []string
	home     *ent.Clinic
	warnings []*apperr.Warning
}

// prepareCreate checks every rule of a new profile (R10) without writing.
func (p *Profiles) prepareCreate(ctx context.Context, in CreateUserInput) (*preparedCreate, apperr.List, error) {
	return p.prepareCreateWith(ctx, in, nil, true)
}

// prepareCreateWith is prepareCreate with a batch's reads (nil: none):
// the clinics it read for many inputs (when they cover in), and, without
// unique, the uniqueness of an input that breaks no other rule left to the
// unique indexes (CreateBatch.Create).
func (p *Profiles) prepareCreateWith(ctx context.Context, in CreateUserInput, batch *CreateBatch, unique bool) (*preparedCreate, apperr.List, error) {
	if batch != nil && !batch.covers(in) {
		batch, unique = nil, true
	}
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, nil, apperr.Forbidden("adding users needs the View Users permission")
	}
	n := NewUser{
		Username: in.Username, Email: in.Email, Password: in.Password, UserType: in.UserType,
		FirstName: in.FirstName, LastName: in.LastName, HomeClinicID: in.HomeClinicID,
		ClinicIDs: in.ClinicIDs, NPI: normalized(in.Npi), LicenseNumber: upper(in.LicenseNumber),
		LicenseState: upper(in.LicenseState),
		// No password: invite the user to set their own (issue #13).
		Invite: in.Password == "",
	}
	if in.FullName != nil {
		n.FullName = *in.FullName
	}
	var errs apperr.List
	if n.Invite && p.resets == nil {
		return nil, nil, fmt.Errorf("users: invitations are not configured")
	}
	n.Validate(&errs)

	// The home clinic names the organization (Support may add users to any).
	var home *ent.Clinic
	if batch != nil {
		home = batch.homes[in.HomeClinicID]
	} else if home, err = p.client.Clinic.Query().Where(clinic.ID(in.HomeClinicID)).Only(ctx); err != nil && !ent.IsNotFound(err) {
		return nil, nil, err
	}
	if home == nil {
		errs.Add("homeClinicId", InvalidHomeClinic, "no such clinic")
		if len(n.ClinicIDs) == 0 {
			errs.Add("clinicIds", ClinicRequired, "a profile needs at least one clinic")
		}
	} else {
		n.OrganizationID = home.OrganizationID
		var found []int
		if batch != nil {
			found = batch.clinicsOf(n.OrganizationID, n.ClinicIDs)
		}
		if err := p.checkClinicsFound(ctx, &errs, n.OrganizationID, n.HomeClinicID, n.ClinicIDs, nil, found); err != nil {
			return nil, nil, err
		}
	}

	// Permissions: those chosen, the Admin shortcut, and any copied (R15).
	keys := in.Permissions
	if in.Admin != nil && *in.Admin {
		keys = permissions.WithAdmin(keys)
	}
	var warnings []*apperr.Warning
	if len(in.CopyPermissionsFrom) > 0 {
		copied, clinics, w, err := p.copyable(ctx, in.CopyPermissionsFrom, n.UserType)
		if err != nil {
			return nil, nil, err
		}
		keys = permissions.Union(keys, copied)
		n.ClinicIDs = union(n.ClinicIDs, clinics)
		warnings = append(warnings, w...)
	}
	permissions.CheckGrant(ctx, &errs, "permissions", keys, nil, n.UserType)
	n.Permissions = keys

	p.checkCredentials(&errs, n.UserType, n.NPI, n.LicenseNumber, n.LicenseState)
	// Every broken rule is reported at once (R10): the uniqueness reads
	// are left to the indexes only when nothing else is wrong.
	if unique || len(errs) > 0 {
		if err := CheckUnique(ctx, p.client, &errs, n.Username, n.Email); err != nil {
			return nil, nil, err
		}
		if home != nil {
			if err := p.checkDuplicateNPI(ctx, &errs, n.OrganizationID, n.NPI, 0); err != nil {
				return nil, nil, err
			}
			if err := p.checkDuplicateLicense(ctx, &errs, n.OrganizationID, n.LicenseNumber, n.LicenseState, 0); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	return &preparedCreate{n: n, keys: keys, home: home, warnings: warnings}, nil, nil
}

// create writes a profile prepareCreate checked.
func (p *Profiles) create(ctx context.Context, in CreateUserInput, pc *preparedCreate) (*UserPayload, error) {
	n := pc.n
	n.PermissionIDs = p.permissionIDsOf(ctx, n.Permissions)
	inactive := in.Status != nil && *in.Status == user.StatusINACTIVE
	var created *ent.User
	var warnings []*apperr.Warning
	err := txn.WithTx(ctx, p.client, func(tx *ent.Tx) error {
		u, activated, err := create(ctx, tx, p.licenses, n, !inactive)
		if err != nil {
			return err
		}
		created, warnings = u, pc.createdWarnings(inactive, activated)
		if err := audit.Record(ctx, tx.Client(), pc.createdEvent(u)); err != nil {
			return err
		}
		if n.Invite && u.Status == user.StatusACTIVE {
			return p.resets.invite(ctx, tx, u, viewer.FromContext(ctx).UserID, invitedOnCreate)
		}
		return nil
	})
	if l, ok := apperr.AsList(err); ok {
		return failed(l), nil
	}
	if err != nil {
		return nil, err
	}
	return succeeded(created, warnings), nil
}

// invitedOnCreate is the reason of the invitation a new user without a
// password gets.
const invitedOnCreate = "the user was created without a password"

// createdWarnings are the warnings of the profile pc, created and, unless
// it was asked to be inactive, activated or not (R24).
func (pc *preparedCreate) createdWarnings(inactive, activated bool) []*apperr.Warning {
	warnings := slices.Clone(pc.warnings)
	if !inactive && !activated {
		w := SavedInactive(pc.n.UserType, pc.home.Name)
		if pc.n.Invite {
			w.Message += " Send the invitation (sendInvitation) once the user is Active."
		}
		warnings = append(warnings, w)
	}
	return warnings
}

// createdEvent is the USER_CREATED record of u, created from pc.
func (pc *preparedCreate) createdEvent(u *ent.User) audit.Event {
	after := Snapshot(u, pc.keys, pc.n.ClinicIDs)
	if pc.n.Invite {
		// An inactive user's link could not be used (resetPassword
		// refuses inactive accounts): they are invited once active.
		after["invited"] = true
		after["invitationSent"] = u.Status == user.StatusACTIVE
	}
	return audit.Event{Action: auditevent.ActionUSER_CREATED, OrganizationID: &pc.n.OrganizationID,
		TargetUserID: &u.ID, After: after}
}

// SavedInactive is the warning of R24.
func SavedInactive(t staff.UserType, clinicName string) *apperr.Warning {
	class, _ := t.Class()
	return &apperr.Warning{
		Code: apperr.SavedInactiveNoLicense,
		Message: fmt.Sprintf("No %s license is available at %s, so the user was saved Inactive. "+
			"Request a license adjustment, then make the user Active.", strings.ToLower(string(class)), clinicName),
	}
}

// Update edits a profile (updateUser): Edit Users (R2), Biller profiles only
// from their home clinic (R13). Moving an active user's home clinic moves
// their license in the same transaction or fails (R23).
func (p *Profiles) Update(ctx context.Context, in UpdateUserInput) (*UserPayload, error) {
	u, err := p.Editable(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	oldKeys := permissionKeys(u)
	oldClinics := clinicIDs(u)
	if c := in.access; c != nil {
		if len(c.addPermissions)+len(c.removePermissions) > 0 {
			in.Permissions = without(permissions.Union(oldKeys, c.addPermissions), c.removePermissions)
		}
		if len(c.addClinics)+len(c.removeClinics) > 0 {
			in.ClinicIDs = without(union(oldClinics, c.addClinics), c.removeClinics)
		}
	}
	var errs apperr.List

	username, email := pick(in.Username, u.Username), pick(in.Email, u.Email)
	first, last, full := pick(in.FirstName, u.FirstName), pick(in.LastName, u.LastName), pick(in.FullName, u.FullName)
	if in.FullName == nil && u.FullName == u.FirstName+" "+u.LastName {
		// The display name was the default: it follows the names.
		full = strings.TrimSpace(first + " " + last)
	}
	if in.Username != nil || in.Email != nil {
		ValidateUsername(&errs, "username", username, email)
	}
	if in.Email != nil {
		ValidateEmail(&errs, "email", email)
	}
	if in.FirstName != nil {
		ValidateName(&errs, "firstName", first, 100)
	}
	if in.LastName != nil {
		ValidateName(&errs, "lastName", last, 100)
	}
	if in.FullName != nil {
		ValidateName(&errs, "fullName", full, 200)
	}
	home := derefOr(u.HomeClinicID, 0)
	if in.HomeClinicID != nil {
		home = *in.HomeClinicID
	}
	clinics := oldClinics
	if in.ClinicIDs != nil {
		clinics = in.ClinicIDs
	}
	if in.ClinicIDs != nil || in.HomeClinicID != nil {
		// Clinics the manager cannot access stay as they are (R3).
		v := viewer.FromContext(ctx)
		for _, id := range oldClinics {
			if !v.HasClinic(id) && !slices.Contains(clinics, id) {
				clinics = append(clinics, id)
			}
		}
		if err := p.checkClinics(ctx, &errs, *u.OrganizationID, home, clinics, oldClinics); err != nil {
			return nil, err
		}
	}
	keys := oldKeys
	if in.Permissions != nil {
		keys = in.Permissions
	}
	if in.Admin != nil && *in.Admin {
		keys = permissions.WithAdmin(keys)
	}
	if in.Permissions != nil || in.Admin != nil {
		permissions.CheckGrant(ctx, &errs, "permissions", keys, oldKeys, u.UserType)
	}
	if !sameSet(keys, oldKeys) || !sameSet(clinics, oldClinics) || home != derefOr(u.HomeClinicID, 0) {
		if err := permissions.CheckNotSelf(viewer.FromContext(ctx), u.ID, "your own permissions or clinics"); err != nil {
			return nil, err
		}
	}
	npi, lic, state := u.Npi, u.LicenseNumber, u.LicenseState
	if in.Npi != nil {
		npi = normalized(in.Npi)
	}
	if in.LicenseNumber != nil {
		lic = upper(in.LicenseNumber)
	}
	if in.LicenseState != nil {
		state = upper(in.LicenseState)
	}
	if in.Npi != nil || in.LicenseNumber != nil || in.LicenseState != nil {
		p.checkCredentials(&errs, u.UserType, npi, lic, state)
		if in.Npi != nil {
			if err := p.checkDuplicateNPI(ctx, &errs, *u.OrganizationID, npi, u.ID); err != nil {
				return nil, err
			}
		}
		if in.LicenseNumber != nil || in.LicenseState != nil {
			if err := p.checkDuplicateLicense(ctx, &errs, *u.OrganizationID, lic, state, u.ID); err != nil {
				return nil, err
			}
		}
	}
	if err := p.checkUniqueExcept(ctx, &errs, u, in.Username, in.Email); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return failed(errs), nil
	}

	var updated *ent.User
	err = txn.WithTx(ctx, p.client, func(tx *ent.Tx) error {
		if holdsCompanyAdmin(oldKeys) && !holdsCompanyAdmin(keys) {
			if err := p.keepAnAdministrator(ctx, tx, u, "permissions"); err != nil {
				return err
			}
		}
		upd := tx.User.UpdateOneID(u.ID).
			SetUsername(strings.TrimSpace(username)).SetEmail(strings.TrimSpace(email)).
			SetFirstName(strings.TrimSpace(first)).SetLastName(strings.TrimSpace(last)).
			SetFullName(strings.TrimSpace(full)).
			SetNillableNpi(npi).SetNillableLicenseNumber(lic).SetNillableLicenseState(state)
		if full != u.FullName && !slices.Contains(u.PreviousNames, u.FullName) {
			// Earlier names help find duplicate providers (R14).
			upd.AppendPreviousNames([]string{u.FullName})
		}
		if home != derefOr(u.HomeClinicID, 0) {
			upd.SetHomeClinicID(home)
		}
		if in.ClinicIDs != nil || in.HomeClinicID != nil {
			upd.ClearClinics().AddClinicIDs(clinics...)
		}
		if in.Permissions != nil || in.Admin != nil {
			ids, err := permissions.IDs(ctx, tx.Client(), keys)
			if err != nil {
				return err
			}
			upd.ClearPermissions().AddPermissionIDs(ids...)
		}
		saved, err := upd.Save(ctx)
		if ent.IsConstraintError(err) {
			return uniqueViolation(err)
		}
		if err != nil {
			return err
		}
		if home != derefOr(u.HomeClinicID, 0) && u.Status == user.StatusACTIVE {
			if err := p.moveLicense(ctx, tx, saved, home); err != nil {
				return err
			}
		}
		updated = saved
		return p.auditUpdate(ctx, tx.Client(), u, saved, oldKeys, keys, oldClinics, clinics)
	})
	if l, ok := apperr.AsList(err); ok {
		return failed(l), nil
	}
	if err != nil {
		return nil, err
	}
	return succeeded(updated, nil), nil
}

// moveLicense gives an active user a license at their new home clinic in
// place of the one they hold (R23).
func (p *Profiles) moveLicense(ctx context.Context, tx *ent.Tx, u *ent.User, home int) error {
	class, _ := u.UserType.Class()
	if err := p.licenses.Release(ctx, tx, u.ID); err != nil {
		return err
	}
	return p.takeLicense(ctx, tx, u, home, class, "homeClinicId")
}

// takeLicense gives u a free license of class at a clinic inside tx, or
// fails with MAXIMUM_LICENSES_REACHED (on field) naming both (R23).
func (p *Profiles) takeLicense(ctx context.Context, tx *ent.Tx, u *ent.User, clinicID int, class staff.LicenseClass, field string) error {
	ok, err := p.licenses.Allocate(ctx, tx, *u.OrganizationID, clinicID, class, u.ID)
	if err != nil || ok {
		return err
	}
	c, err := tx.Clinic.Get(ctx, clinicID)
	if err != nil {
		return err
	}
	return apperr.List{licenses.NoLicense(field, class, c.Name)}
}

func (p *Profiles) auditUpdate(ctx context.Context, client *ent.Client, before, after *ent.User, oldKeys, keys []string, oldClinics, clinics []int) error {
	org := before.OrganizationID
	b, a := Snapshot(before, nil, nil), Snapshot(after, nil, nil)
	for k := range b {
		if fmt.Sprint(b[k]) == fmt.Sprint(a[k]) {
			delete(b, k)
			delete(a, k)
		}
	}
	if len(a) > 0 {
		if err := audit.Record(ctx, client, audit.Event{Action: auditevent.ActionUSER_UPDATED,
			OrganizationID: org, TargetUserID: &after.ID, Before: b, After: a}); err != nil {
			return err
		}
	}
	if !sameSet(oldKeys, keys) {
		if err := audit.Record(ctx, client, audit.Event{Action: auditevent.ActionUSER_PERMISSIONS_CHANGED,
			OrganizationID: org, TargetUserID: &after.ID,
			Before: map[string]any{"permissions": oldKeys}, After: map[string]any{"permissions": keys}}); err != nil {
			return err
		}
	}
	if !sameSet(oldClinics, clinics) {
		return audit.Record(ctx, client, audit.Event{Action: auditevent.ActionUSER_CLINICS_CHANGED,
			OrganizationID: org, TargetUserID: &after.ID,
			Before: map[string]any{"clinicIds": encodeIDs(oldClinics)}, After: map[string]any{"clinicIds": encodeIDs(clinics)}})
	}
	return nil
}

// Editable loads a profile the viewer may manage: visible (R1, R3), Edit
// Users (R2), a Biller only from their home clinic (R13), and nobody more
// powerful than the viewer (R33).
func (p *Profiles) Editable(ctx context.Context, id int) (*ent.User, error) {
	u, err := p.Reachable(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := permissions.CheckManage(viewer.FromContext(ctx), u); err != nil {
		return nil, err
	}
	return u, nil
}

// Reachable is Editable without R33: what a manager may do to someone more
// powerful, such as sending them a reset link that goes to their own
// mailbox.
func (p *Profiles) Reachable(ctx context.Context, id int) (*ent.User, error) {
	v, err := editor(ctx)
	if err != nil {
		return nil, err
	}
	u, err := p.client.User.Query().Where(user.ID(id)).WithClinics().WithPermissions().Only(ctx)
	if err := reachable(v, u, err); err != nil {
		return nil, err
	}
	return u, nil
}

// editor is the viewer, who must hold Edit Users (R2).
func editor(ctx context.Context) (*viewer.Viewer, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermEditUsers) {
		return nil, apperr.Forbidden("editing users needs the Edit Users permission")
	}
	return v, nil
}

// reachable applies Reachable's rules to u as read (with err) under the
// privacy filter that keeps invisible users out (R1, R3).
func reachable(v *viewer.Viewer, u *ent.User, err error) error {
	if ent.IsNotFound(err) {
		return apperr.NotFound("no such user")
	}
	if err != nil {
		return err
	}
	if u.OrganizationID == nil {
		return apperr.Forbidden("Support accounts are not edited here")
	}
	if u.UserType == staff.Biller && !v.Support && (u.HomeClinicID == nil || v.CurrentClinicID != *u.HomeClinicID) {
		return apperr.Forbidden("a Biller profile can be edited only from the user's home clinic: switch the current clinic (X-Clinic-Id) to it")
	}
	return nil
}

// checkClinics applies R9 and R3: at least one clinic, the home clinic among
// them, all of the organization, and only clinics the viewer can access
// (except ones the user already had, given in kept).
func (p *Profiles) checkClinics(ctx context.Context, errs *apperr.List, orgID, home int, ids, kept []int) error {
	return p.checkClinicsFound(ctx, errs, orgID, home, ids, kept, nil)
}

// checkClinicsFound is checkClinics given found, the clinics of ids in the
// organization (nil: read them).
func (p *Profiles) checkClinicsFound(ctx context.Context, errs *apperr.List, orgID, home int, ids, kept, found []int) error {
	v := viewer.FromContext(ctx)
	if len(ids) == 0 {
		errs.Add("clinicIds", ClinicRequired, "a profile needs at least one clinic")
		return nil
	}
	if !slices.Contains(ids, home) {
		errs.Add("homeClinicId", InvalidHomeClinic, "the home clinic must be one of the user's clinics")
	}
	if found == nil {
		var err error
		found, err = p.client.Clinic.Query().
			Where(clinic.IDIn(ids...), clinic.OrganizationID(orgID)).IDs(privacy.DecisionContext(ctx, privacy.Allow))
		if err != nil {
			return err
		}
	}
	for _, id := range ids {
		switch {
		case !slices.Contains(found, id):
			errs.Add("clinicIds", ClinicRequired, "no such clinic in the user's organization")
		case !v.HasClinic(id) && !slices.Contains(kept, id):
			errs.Add("clinicIds", ClinicNotAccessible, "you can grant only clinics you have access to")
		}
	}
	return nil
}

// checkCredentials applies R4 and R8: provider profiles carry an NPI and a
// license number with its state; Clerical and Biller profiles carry none.
func (p *Profiles) checkCredentials(errs *apperr.List, t staff.UserType, npi, lic, state *string) {
	if !t.IsProvider() {
		for field, v := range map[string]*string{"npi": npi, "licenseNumber": lic, "licenseState": state} {
			if v != nil && *v != "" {
				errs.Add(field, CredentialsNotAllowed, "only provider profiles carry an NPI or a license")
			}
		}
		return
	}
	required := map[string]*string{"npi": npi, "licenseNumber": lic}
	if lic != nil && *lic != "" && !credentials.IsPlaceholderLicense(*lic) {
		// The state goes with a real license number.
		required["licenseState"] = state
	}
	for field, v := range required {
		if v == nil || *v == "" {
			hint := ""
			switch field {
			case "npi":
				hint = " (use 9999999995 if it is unknown)"
			case "licenseNumber":
				hint = " (use 00000 if it is unknown)"
			}
			errs.Add(field, apperr.Required, "a provider profile needs %s%s", field, hint)
		}
	}
	credentials.Validate(errs, nonEmpty(npi), nonEmpty(lic), nonEmpty(state))
}

// checkDuplicateNPI refuses a real NPI another user of the organization
// already has (R14). It looks across the whole organization, beyond the
// clinics the manager can see.
func (p *Profiles) checkDuplicateNPI(ctx context.Context, errs *apperr.List, orgID int, npi *string, self int) error {
	if npi == nil || *npi == "" || credentials.IsPlaceholderNPI(*npi) {
		return nil
	}
	taken, err := p.client.User.Query().
		Where(user.OrganizationID(orgID), user.Npi(*npi), user.IDNEQ(self)).
		Exist(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return err
	}
	if taken {
		errs.Add("npi", DuplicateProviderCode, "another user of the organization already has NPI %s: look for the existing profile (duplicateProviders) instead of adding the provider again", *npi)
	}
	return nil
}

// checkDuplicateLicense refuses a real license number in a state that another
// user of the organization already has (R14), like checkDuplicateNPI.
func (p *Profiles) checkDuplicateLicense(ctx context.Context, errs *apperr.List, orgID int, lic, state *string, self int) error {
	if lic == nil || *lic == "" || credentials.IsPlaceholderLicense(*lic) || state == nil || *state == "" {
		return nil
	}
	taken, err := p.client.User.Query().
		Where(user.OrganizationID(orgID), user.LicenseNumber(*lic), user.LicenseState(*state), user.IDNEQ(self)).
		Exist(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		return err
	}
	if taken {
		errs.Add("licenseNumber", DuplicateProviderCode, "another user of the organization already has license %s in %s: look for the existing profile (duplicateProviders) instead of adding the provider again", *lic, *state)
	}
	return nil
}

func (p *Profiles) checkUniqueExcept(ctx context.Context, errs *apperr.List, u *ent.User, username, email *string) error {
	sctx := privacy.DecisionContext(ctx, privacy.Allow)
	if username != nil && policy.Key(*username) != u.UsernameKey {
		taken, err := p.client.User.Query().Where(user.UsernameKey(policy.Key(*username))).Exist(sctx)
		if err != nil {
			return err
		}
		if taken {
			errs.Add("username", apperr.UsernameTaken, "the username %q is taken", *username)
		}
	}
	if email != nil && policy.Key(*email) != u.EmailKey {
		taken, err := p.client.User.Query().Where(user.EmailKey(policy.Key(*email))).Exist(sctx)
		if err != nil {
			return err
		}
		if taken {
			errs.Add("email", apperr.EmailTaken, "the email address %q is already used by another profile", *email)
		}
	}
	return nil
}

// Snapshot is the audit view of a profile: never the password hash.
func Snapshot(u *ent.User, keys []string, clinics []int) map[string]any {
	m := map[string]any{
		"username": u.Username, "email": u.Email, "userType": string(u.UserType),
		"firstName": u.FirstName, "lastName": u.LastName, "fullName": u.FullName,
		"status": string(u.Status), "homeClinicId": gid.Encode(derefOr(u.HomeClinicID, 0)),
		"npi": derefOr(u.Npi, ""), "licenseNumber": derefOr(u.LicenseNumber, ""), "licenseState": derefOr(u.LicenseState, ""),
	}
	if keys != nil {
		m["permissions"] = keys
	}
	if clinics != nil {
		m["clinicIds"] = encodeIDs(clinics)
	}
	return m
}

func permissionKeys(u *ent.User) []string {
	var keys []string
	for _, p := range u.Edges.Permissions {
		keys = append(keys, p.Key)
	}
	return keys
}

func clinicIDs(u *ent.User) []int {
	var ids []int
	for _, c := range u.Edges.Clinics {
		ids = append(ids, c.ID)
	}
	return ids
}

func union(a, b []int) []int {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func pick(p *string, old string) string {
	if p != nil {
		return *p
	}
	return old
}

func derefOr[T any](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}

func normalized(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	return &t
}

// upper normalizes a license number or state (ASCII upper case only, so
// no other letter can turn into a valid one).
func upper(s *string) *string {
	if s == nil {
		return nil
	}
	t := credentials.Normalize(*s)
	return &t
}

func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// encodeIDs gives IDs as clients see them (audit values are read by clients).
func encodeIDs(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = gid.Encode(id)
	}
	return out
}
