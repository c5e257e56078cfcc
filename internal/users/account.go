package users

import (
	"context"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/credentials"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// SetPasswordInput is the input of setUserPassword.
type SetPasswordInput struct {
	UserID   int    `json:"userId"`
	Password string `json:"password"`
}

// SetPassword sets a user's password as a manager (R30, R7). The user's
// sessions end (R25): whoever knew the old password is signed out.
func (p *Profiles) SetPassword(ctx context.Context, in SetPasswordInput) (*UserPayload, error) {
	u, err := p.Editable(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	var errs apperr.List
	ValidatePassword(&errs, "password", in.Password, u.Username, u.FirstName, u.LastName, u.Email)
	if len(errs) > 0 {
		return failed(errs), nil
	}
	hash, err := passwords.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	var saved *ent.User
	err = txn.WithTx(ctx, p.client, func(tx *ent.Tx) error {
		if saved, err = tx.User.UpdateOneID(u.ID).SetPasswordHash(hash).SetPasswordChangedAt(time.Now()).SetPasswordSet(true).Save(ctx); err != nil {
			return err
		}
		if err := p.sessions.EndSessions(ctx, tx, u.ID); err != nil {
			return err
		}
		// Reset links sent before are void once the password changes.
		if err := voidResets(ctx, tx, u.ID, time.Now()); err != nil {
			return err
		}
		return audit.Record(ctx, tx.Client(), audit.Event{Action: auditevent.ActionUSER_PASSWORD_SET,
			OrganizationID: u.OrganizationID, TargetUserID: &u.ID})
	})
	if err != nil {
		return nil, err
	}
	return succeeded(saved, nil), nil
}

// ChangeUserTypeInput is the input of changeUserType.
type ChangeUserTypeInput struct {
	UserID   int            `json:"userId"`
	UserType staff.UserType `json:"userType"`
}

// Warning codes of a type change.
const (
	PermissionsRemoved     apperr.WarningCode = "PERMISSIONS_REMOVED"
	CredentialsPlaceholder apperr.WarningCode = "CREDENTIALS_PLACEHOLDER"
)

// ChangeType changes a user's type: Support only (R12). An active user moves
// to a license of the new type's class at their home clinic in the same
// step, or nothing changes (MAXIMUM_LICENSES_REACHED). Permissions the new
// type cannot hold are removed, and the user's sessions end.
func (p *Profiles) ChangeType(ctx context.Context, in ChangeUserTypeInput) (*UserPayload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Support {
		return nil, apperr.Forbidden("only Support can change a user's type")
	}
	u, err := p.Editable(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	newClass, ok := in.UserType.Class()
	if !ok {
		return failed(apperr.List{apperr.New("userType", apperr.InvalidUserType, "an organization's users cannot be of type %s", in.UserType)}), nil
	}
	oldClass, _ := u.UserType.Class()
	var warnings []*apperr.Warning
	var kept, removed []string
	for _, key := range permissionKeys(u) {
		if e, known := permissions.EntryOf(key); known && e.Available(in.UserType) {
			kept = append(kept, key)
		} else {
			removed = append(removed, key)
		}
	}
	if len(kept) == 0 {
		return failed(apperr.List{apperr.New("userType", permissions.PermissionRequired,
			"none of the user's permissions is available to %s: grant one first", in.UserType)}), nil
	}
	if len(removed) > 0 {
		warnings = append(warnings, &apperr.Warning{Code: PermissionsRemoved,
			Message: "removed permissions not available to " + string(in.UserType) + ": " + permissions.Names(removed)})
	}
	var saved *ent.User
	err = txn.WithTx(ctx, p.client, func(tx *ent.Tx) error {
		upd := tx.User.UpdateOneID(u.ID).SetUserType(in.UserType)
		switch {
		case !in.UserType.IsProvider():
			upd.ClearNpi().ClearLicenseNumber().ClearLicenseState()
		case u.Npi == nil || u.LicenseNumber == nil:
			// R8's placeholders until the manager enters the real ones.
			upd.SetNpi(derefOr(u.Npi, credentials.PlaceholderNPI)).
				SetLicenseNumber(derefOr(u.LicenseNumber, credentials.PlaceholderLicenseNumber))
			warnings = append(warnings, &apperr.Warning{Code: CredentialsPlaceholder,
				Message: "the provider's NPI and license were set to placeholders: enter the real ones"})
		}
		if len(removed) > 0 {
			ids, err := permissions.IDs(ctx, tx.Client(), kept)
			if err != nil {
				return err
			}
			upd.ClearPermissions().AddPermissionIDs(ids...)
		}
		if saved, err = upd.Save(ctx); err != nil {
			return err
		}
		if u.Status == user.StatusACTIVE && newClass != oldClass {
			if err := p.licenses.Release(ctx, tx, u.ID); err != nil {
				return err
			}
			if err := p.takeLicense(ctx, tx, u, *u.HomeClinicID, newClass, "userType"); err != nil {
				return err
			}
		}
		if err := p.sessions.EndSessions(ctx, tx, u.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx.Client(), audit.Event{Action: auditevent.ActionUSER_TYPE_CHANGED,
			OrganizationID: u.OrganizationID, TargetUserID: &u.ID,
			Before: map[string]any{"userType": string(u.UserType), "permissions": permissionKeys(u)},
			After:  map[string]any{"userType": string(in.UserType), "permissions": kept}})
	})
	if l, ok := apperr.AsList(err); ok {
		return failed(l), nil
	}
	if err != nil {
		return nil, err
	}
	return succeeded(saved, warnings), nil
}

// PasswordCheck answers passwordStrength (R7).
type PasswordCheck struct {
	Requirements []passwords.Requirement `json:"requirements"`
	Strength     passwords.Strength      `json:"strength"`
	Acceptable   bool                    `json:"acceptable"`
}

// PasswordStrength checks a password as the person types (R7), penalising
// their own name, username and email. It needs no sign-in (reset pages use
// it) and stores nothing.
func PasswordStrength(password string, username, email, firstName, lastName *string) *PasswordCheck {
	if len(password) > 4*passwords.MaxLength {
		password = password[:4*passwords.MaxLength]
	}
	c := passwords.Evaluate(password, derefOr(username, ""), derefOr(email, ""), derefOr(firstName, ""), derefOr(lastName, ""))
	return &PasswordCheck{Requirements: c.Requirements, Strength: c.Strength, Acceptable: c.OK()}
}
