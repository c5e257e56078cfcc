package users

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/staff"
)

// NewUser is a profile to create.
type NewUser struct {
	OrganizationID int
	Username       string
	Email          string
	Password       string
	// PasswordHash, when set, is stored instead of hashing Password: the
	// demo loader hashes the password its users share once.
	PasswordHash string
	// Invite: the user has no password yet (Password is ignored); they are
	// stored with an unusable hash and password_set false, and set their
	// own through an invitation link (see invite.go).
	Invite       bool
	UserType     staff.UserType
	FirstName    string
	LastName     string
	FullName     string
	HomeClinicID int
	ClinicIDs    []int
	Permissions  []string
	// PermissionIDs, when set, are the IDs of Permissions (the caller
	// looked them up); create then does not.
	PermissionIDs []int
	NPI           *string
	LicenseNumber *string
	LicenseState  *string
}

// Validate checks the rules of a new profile that need no database, adding
// every broken one to errs (R10). Fields are named with prefix.
func (n *NewUser) Validate(errs *apperr.List) {
	if n.FullName == "" {
		n.FullName = strings.TrimSpace(n.FirstName + " " + n.LastName)
	}
	ValidateUsername(errs, "username", n.Username, n.Email)
	ValidateEmail(errs, "email", n.Email)
	ValidateName(errs, "firstName", n.FirstName, 100)
	ValidateName(errs, "lastName", n.LastName, 100)
	ValidateName(errs, "fullName", n.FullName, 200)
	if _, ok := n.UserType.Class(); !ok {
		errs.Add("userType", apperr.InvalidUserType, "an organization's users cannot be of type %s", n.UserType)
	}
	if !n.Invite {
		ValidatePassword(errs, "password", n.Password, n.Username, n.FirstName, n.LastName, n.Email)
	}
}

// CheckUnique adds USERNAME_TAKEN and EMAIL_TAKEN when another profile on the
// platform already has them (R5, R6). The unique indexes stay the final word
// under concurrency; this gives the friendly answer in the common case.
func CheckUnique(ctx context.Context, client *ent.Client, errs *apperr.List, username, email string) error {
	sctx := privacy.DecisionContext(ctx, privacy.Allow) // uniqueness is platform-wide
	// One statement for both (a staff-list import runs this per row): at
	// most one user holds each key, so at most two rows come back.
	uk, ek := policy.Key(username), policy.Key(email)
	var found []struct {
		UsernameKey string `json:"username_key"`
		EmailKey    string `json:"email_key"`
	}
	err := client.User.Query().Where(user.Or(user.UsernameKey(uk), user.EmailKey(ek))).Limit(2).
		Select(user.FieldUsernameKey, user.FieldEmailKey).Scan(sctx, &found)
	if err != nil {
		return err
	}
	usernameTaken, emailTaken := false, false
	for _, f := range found {
		usernameTaken = usernameTaken || f.UsernameKey == uk
		emailTaken = emailTaken || f.EmailKey == ek
	}
	if usernameTaken {
		errs.Add("username", apperr.UsernameTaken, "the username %q is taken", username)
	}
	if emailTaken {
		errs.Add("email", apperr.EmailTaken, "the email address %q is already used by another profile", email)
	}
	return nil
}

// Create writes a validated profile inside tx and activates it if a license
// of its class is free at its home clinic; otherwise it stays Inactive and
// activated is false (R24). A unique-index violation from a concurrent create
// comes back as USERNAME_TAKEN, EMAIL_TAKEN or DUPLICATE_PROVIDER.
func Create(ctx context.Context, tx *ent.Tx, lic *licenses.Service, n NewUser) (u *ent.User, activated bool, err error) {
	return create(ctx, tx, lic, n, true)
}

// create writes a validated profile; with activate it tries to activate it.
func create(ctx context.Context, tx *ent.Tx, lic *licenses.Service, n NewUser, activate bool) (u *ent.User, activated bool, err error) {
	hash, err := passwordHash(n)
	if err != nil {
		return nil, false, err
	}
	perms, err := permissionIDs(ctx, tx, n)
	if err != nil {
		return nil, false, err
	}
	u, err = insertUser(tx, n, hash, perms).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, false, uniqueViolation(err)
	}
	if err != nil {
		return nil, false, err
	}
	if !activate {
		return u, false, nil
	}
	class, _ := n.UserType.Class()
	activated, err = lic.Allocate(ctx, tx, n.OrganizationID, n.HomeClinicID, class, u.ID)
	if err != nil || !activated {
		return u, false, err
	}
	// One UPDATE: UpdateOne would read the row back, and u is what it
	// would read (only the status and updated_at change).
	now := time.Now()
	rows, err := tx.User.Update().Where(user.ID(u.ID)).SetStatus(user.StatusACTIVE).SetUpdatedAt(now).Save(ctx)
	if err != nil {
		return nil, false, err
	}
	if rows != 1 {
		return nil, false, fmt.Errorf("users: activating the new user %d updated %d rows", u.ID, rows)
	}
	u.Status, u.UpdatedAt = user.StatusACTIVE, now
	return u, true, nil
}

// passwordHash is what n's password_hash column holds.
func passwordHash(n NewUser) (string, error) {
	switch {
	case n.Invite:
		return unusableHash()
	case n.PasswordHash != "":
		return n.PasswordHash, nil
	}
	return passwords.Hash(n.Password)
}

// permissionIDs are the IDs of n's permissions: n.PermissionIDs, or read in
// tx when the caller did not look them up.
func permissionIDs(ctx context.Context, tx *ent.Tx, n NewUser) ([]int, error) {
	perms := n.PermissionIDs
	if perms == nil {
		var err error
		if perms, err = tx.Permission.Query().Where(permission.KeyIn(n.Permissions...)).IDs(ctx); err != nil {
			return nil, err
		}
	}
	if len(perms) != len(n.Permissions) {
		return nil, fmt.Errorf("users: unknown permission among %v", n.Permissions)
	}
	return perms, nil
}

// insertUser is the insert of a validated profile, Inactive (create
// activates it when it takes a license).
func insertUser(tx *ent.Tx, n NewUser, hash string, perms []int) *ent.UserCreate {
	return tx.User.Create().
		SetOrganizationID(n.OrganizationID).
		SetUsername(strings.TrimSpace(n.Username)).
		SetEmail(strings.TrimSpace(n.Email)).
		SetPasswordHash(hash).
		SetPasswordSet(!n.Invite).
		SetUserType(n.UserType).
		SetFirstName(strings.TrimSpace(n.FirstName)).
		SetLastName(strings.TrimSpace(n.LastName)).
		SetFullName(strings.TrimSpace(n.FullName)).
		SetHomeClinicID(n.HomeClinicID).
		AddClinicIDs(n.ClinicIDs...).
		AddPermissionIDs(perms...).
		SetNillableNpi(n.NPI).
		SetNillableLicenseNumber(n.LicenseNumber).
		SetNillableLicenseState(n.LicenseState).
		SetStatus(user.StatusINACTIVE)
}

func uniqueViolation(err error) error {
	msg := err.Error()
	var errs apperr.List
	switch {
	case strings.Contains(msg, "username_key"):
		errs.Add("username", apperr.UsernameTaken, "the username is taken")
	case strings.Contains(msg, "email_key"):
		errs.Add("email", apperr.EmailTaken, "the email address is already used by another profile")
	// R14's partial unique indexes: PostgreSQL names the index, SQLite its
	// columns.
	case strings.Contains(msg, "user_real_npi_per_organization") || strings.Contains(msg, "users.npi"):
		errs.Add("npi", DuplicateProviderCode, "another user of the organization already has this NPI: look for the existing profile (duplicateProviders) instead of adding the provider again")
	case strings.Contains(msg, "user_real_license_per_organization") || strings.Contains(msg, "users.license_number"):
		errs.Add("licenseNumber", DuplicateProviderCode, "another user of the organization already has this license number in this state: look for the existing profile (duplicateProviders) instead of adding the provider again")
	default:
		return err
	}
	return errs
}
