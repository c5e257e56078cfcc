package users

import (
	"context"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// ClearLockoutInput is the input of clearLockout.
type ClearLockoutInput struct {
	UserID int `json:"userId"`
}

// ClearLockout lets a user sign in again at once after repeated failures
// locked their account (R29). Needs Edit Users.
func (r *Resets) ClearLockout(ctx context.Context, in ClearLockoutInput) (*UserPayload, error) {
	u, err := r.profiles.Editable(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	until, err := r.lockout.ClearAccount(ctx, u)
	if err != nil {
		return nil, err
	}
	before := map[string]any{"lockedUntil": nil}
	if until != nil {
		before["lockedUntil"] = until.UTC().Format(time.RFC3339)
	}
	err = audit.Record(ctx, r.client, audit.Event{Action: auditevent.ActionLOCKOUT_CLEARED,
		OrganizationID: u.OrganizationID, TargetUserID: &u.ID, Before: before, After: map[string]any{"lockedUntil": nil}})
	if err != nil {
		return nil, err
	}
	return succeeded(u, nil), nil
}

// LockedUntil is when a user's sign-in lock ends, shown to managers (View
// Users) only; nil when not locked.
func (r *Resets) LockedUntil(ctx context.Context, u *ent.User) (*time.Time, error) {
	if v := viewer.FromContext(ctx); !v.Can(viewer.PermViewUsers) {
		return nil, nil
	}
	return r.lockout.AccountLockedUntil(ctx, u)
}
