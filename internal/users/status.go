package users

import (
	"context"
	"fmt"
	"strings"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// InvalidStatusTransition refuses a status change that is no change.
const InvalidStatusTransition apperr.Code = "INVALID_STATUS_TRANSITION"

// SetStatusInput is the input of setUserStatus.
type SetStatusInput struct {
	UserID int         `json:"userId"`
	Status user.Status `json:"status"`
}

// SetStatus makes a user Active or Inactive (R21, R23, R25). Activation
// takes a free license of the user's class at their home clinic, or fails
// with MAXIMUM_LICENSES_REACHED naming both; inactivation frees the license
// (still billed) and ends the user's sessions and live connections at once
// (auth.EndSessions). Inactivating one user and activating another of the same class is
// how a license is shared.
func (p *Profiles) SetStatus(ctx context.Context, in SetStatusInput) (*UserPayload, error) {
	u, err := p.Editable(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	if err := permissions.CheckNotSelf(viewer.FromContext(ctx), u.ID, "your own status"); err != nil {
		return nil, err
	}
	from := user.StatusINACTIVE
	if in.Status == user.StatusINACTIVE {
		from = user.StatusACTIVE
	}
	transition := func() *UserPayload {
		return failed(apperr.List{apperr.New("status", InvalidStatusTransition,
			"the user is already %s", strings.ToLower(string(in.Status)))})
	}
	if u.Status != from {
		return transition(), nil
	}
	if in.Status == user.StatusACTIVE {
		// Refused at once, without a transaction, when the clinic has no
		// free license of the class (most activations under contention).
		class, _ := u.UserType.Class()
		free, clinicName, err := p.licenses.Vacancy(ctx, *u.HomeClinicID, class)
		if err != nil {
			return nil, fmt.Errorf("changing status: %w", err)
		}
		if free <= 0 {
			return failed(apperr.List{licenses.NoLicense("status", class, clinicName)}), nil
		}
	}
	var saved *ent.User
	err = txn.WithTx(ctx, p.client, func(tx *ent.Tx) error {
		if in.Status == user.StatusINACTIVE && holdsCompanyAdmin(permissionKeys(u)) {
			if err := p.keepAnAdministrator(ctx, tx, u, "status"); err != nil {
				return err
			}
		}
		// Conditional on the current status, so of two concurrent changes
		// only one applies.
		n, err := tx.User.Update().Where(user.ID(u.ID), user.StatusEQ(from)).SetStatus(in.Status).Save(ctx)
		if err != nil {
			return err
		}
		if n != 1 {
			return apperr.List(transition().UserErrors)
		}
		if in.Status == user.StatusACTIVE {
			class, _ := u.UserType.Class()
			if err := p.takeLicense(ctx, tx, u, *u.HomeClinicID, class, "status"); err != nil {
				return err
			}
		} else {
			if err := p.licenses.Release(ctx, tx, u.ID); err != nil {
				return err
			}
			if err := p.sessions.EndSessions(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		if saved, err = tx.User.Get(ctx, u.ID); err != nil {
			return err
		}
		// An invited user saved Inactive was not emailed (their link could
		// not be used): activating them sends the invitation.
		if in.Status == user.StatusACTIVE && !u.PasswordSet && p.resets != nil {
			if err := p.resets.invite(ctx, tx, u, viewer.FromContext(ctx).UserID, "the invited user was activated"); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx.Client(), audit.Event{Action: auditevent.ActionUSER_STATUS_CHANGED,
			OrganizationID: u.OrganizationID, TargetUserID: &u.ID,
			Before: map[string]any{"status": string(from)}, After: map[string]any{"status": string(in.Status)}})
	})
	if l, ok := apperr.AsList(err); ok {
		return failed(l), nil
	}
	if err != nil {
		return nil, fmt.Errorf("changing status: %w", err)
	}
	return succeeded(saved, nil), nil
}
