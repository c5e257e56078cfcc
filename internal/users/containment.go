package users

import (
	"context"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/organization"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/permissions"
)

// keepAnAdministrator refuses, inside tx, a change that takes u's Company
// Admin away (inactivating u, or removing the permission) when u is the
// organization's last active Company Admin (R35), so that someone can always
// manage the practice. The organization's row is locked first on PostgreSQL
// (SQLite's immediate transactions are serialized already), so two Company
// Admins inactivating each other at once cannot both succeed.
func (p *Profiles) keepAnAdministrator(ctx context.Context, tx *ent.Tx, u *ent.User, field string) error {
	if u.OrganizationID == nil || u.Status != user.StatusACTIVE {
		return nil
	}
	sctx := privacy.DecisionContext(ctx, privacy.Allow)
	if p.licenses.Dialect() == dialect.Postgres {
		if _, err := tx.Organization.Query().Where(organization.ID(*u.OrganizationID)).ForUpdate().Only(sctx); err != nil {
			return err
		}
	}
	others, err := tx.User.Query().Where(
		user.OrganizationID(*u.OrganizationID), user.StatusEQ(user.StatusACTIVE), user.IDNEQ(u.ID),
		user.HasPermissionsWith(permission.Key(permissions.CompanyAdmin)),
	).Exist(sctx)
	if err != nil || others {
		return err
	}
	return apperr.List{apperr.New(field, permissions.LastAdministrator,
		"%s is the organization's last active Company Admin: make someone else Company Admin first", u.FullName)}
}

// holdsCompanyAdmin reports whether keys include Company Admin.
func holdsCompanyAdmin(keys []string) bool {
	for _, k := range keys {
		if k == permissions.CompanyAdmin {
			return true
		}
	}
	return false
}
