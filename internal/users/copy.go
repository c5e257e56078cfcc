package users

import (
	"context"
	"fmt"
	"slices"

	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// NotCopied is the warning for permissions a copy left out.
const NotCopied apperr.WarningCode = "PERMISSIONS_NOT_COPIED"

// CopyPermissionsInput is the input of copyUserPermissions.
type CopyPermissionsInput struct {
	TargetUserID  int   `json:"targetUserId"`
	SourceUserIDs []int `json:"sourceUserIds"`
}

// copyable collects what may be copied from source users onto a user of type
// t (R15): their permissions except the SOAP-note signing ones and those not
// available to t or not the viewer's to grant (R32: restricted ones, and
// administrative ones the viewer lacks), and their clinics the viewer can
// access. Sources may be active or inactive.
func (p *Profiles) copyable(ctx context.Context, sourceIDs []int, t staff.UserType) (keys []string, clinics []int, warnings []*apperr.Warning, err error) {
	v := viewer.FromContext(ctx)
	sources, err := p.client.User.Query().Where(user.IDIn(sourceIDs...)).WithPermissions().WithClinics().All(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(sources) != len(slices.Compact(slices.Sorted(slices.Values(sourceIDs)))) {
		return nil, nil, nil, apperr.NotFound("a source user does not exist or is not visible to you")
	}
	var skipped []string
	for _, s := range sources {
		for _, perm := range s.Edges.Permissions {
			e, known := permissions.EntryOf(perm.Key)
			switch {
			case slices.Contains(permissions.SOAPSigning, perm.Key):
				// Never copied: signing notes is personal.
			case !known || !e.Available(t) || !permissions.MayGrant(v, perm.Key):
				// Copying grants no more than the viewer could grant (R32).
				if !slices.Contains(skipped, perm.Key) {
					skipped = append(skipped, perm.Key)
				}
			default:
				keys = permissions.Union(keys, []string{perm.Key})
			}
		}
		for _, c := range s.Edges.Clinics {
			if v.HasClinic(c.ID) && !slices.Contains(clinics, c.ID) {
				clinics = append(clinics, c.ID)
			}
		}
	}
	if len(skipped) > 0 {
		warnings = append(warnings, &apperr.Warning{Code: NotCopied, Message: fmt.Sprintf(
			"not copied because not available to %s, restricted, or not yours to grant: %s", t, permissions.Names(skipped))})
	}
	return keys, clinics, warnings, nil
}

// CopyPermissions adds to a user the permissions and clinics of one or more
// source users (R15). Nothing the user has is removed.
func (p *Profiles) CopyPermissions(ctx context.Context, in CopyPermissionsInput) (*UserPayload, error) {
	u, err := p.Editable(ctx, in.TargetUserID)
	if err != nil {
		return nil, err
	}
	if err := permissions.CheckNotSelf(viewer.FromContext(ctx), u.ID, "your own permissions"); err != nil {
		return nil, err
	}
	if len(in.SourceUserIDs) == 0 {
		return failed(apperr.List{apperr.New("sourceUserIds", apperr.Required, "name at least one user to copy from")}), nil
	}
	keys, clinics, warnings, err := p.copyable(ctx, in.SourceUserIDs, u.UserType)
	if err != nil {
		return nil, err
	}
	payload, err := p.Update(ctx, UpdateUserInput{
		ID:           u.ID,
		Permissions:  permissions.Union(permissionKeys(u), keys),
		ClinicIDs:    union(clinicIDs(u), clinics),
		HomeClinicID: u.HomeClinicID,
	})
	if err != nil || payload.User == nil {
		return payload, err
	}
	payload.Warnings = append(payload.Warnings, warnings...)
	return payload, nil
}
