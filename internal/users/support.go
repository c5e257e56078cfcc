package users

import (
	"context"
	"strings"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/staff"
)

// CreateSupport creates a platform Support account: no organization, no
// clinics, no license (R1). It is a system operation (the create-support
// command and the demo data), so it bypasses the privacy rules; the rules of
// usernames, emails and passwords still apply.
func CreateSupport(ctx context.Context, client *ent.Client, username, email, password, firstName, lastName string) (*ent.User, error) {
	var errs apperr.List
	ValidateUsername(&errs, "username", username, email)
	ValidateEmail(&errs, "email", email)
	ValidateName(&errs, "firstName", firstName, 100)
	ValidateName(&errs, "lastName", lastName, 100)
	ValidatePassword(&errs, "password", password, username, firstName, lastName, email)
	sctx := privacy.DecisionContext(ctx, privacy.Allow)
	if len(errs) == 0 {
		if err := CheckUnique(sctx, client, &errs, username, email); err != nil {
			return nil, err
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	hash, err := passwords.Hash(password)
	if err != nil {
		return nil, err
	}
	u, err := client.User.Create().
		SetUsername(strings.TrimSpace(username)).
		SetEmail(strings.TrimSpace(email)).
		SetPasswordHash(hash).
		SetUserType(staff.Support).
		SetFirstName(firstName).
		SetLastName(lastName).
		SetFullName(firstName + " " + lastName).
		SetStatus(user.StatusACTIVE).
		Save(sctx)
	if ent.IsConstraintError(err) {
		return nil, uniqueViolation(err)
	}
	return u, err
}
