package schema

import (
	"entgo.io/ent"

	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Privacy policies. The rules live in internal/policy; system work bypasses
// them with privacy.DecisionContext(ctx, privacy.Allow).

// Policy confines every tenant entity to the viewer's organization (R1).
func (TenantMixin) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{policy.RequireViewer(), policy.FilterOrganization()},
		Mutation: privacy.MutationPolicy{
			policy.RequireViewer(), policy.CreateInOwnOrganization(), policy.FilterOrganization(),
		},
	}
}

// Policy shows users to the viewer per R1-R3. Users are written by the
// services in internal/, which check permissions first; the filter here
// still keeps those writes inside the organization.
func (User) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{policy.RequireViewer(), policy.FilterVisibleUsers()},
		Mutation: privacy.MutationPolicy{
			policy.RequireViewer(), policy.CreateInOwnOrganization(), policy.FilterOrganization(),
		},
	}
}

// Policy lets every signed-in viewer read the catalog; only the system
// writes it.
func (Permission) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{policy.RequireViewer(), privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}

// Policy shows an organization to its own members and to Support.
func (Organization) Policy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{policy.RequireViewer(), policy.FilterOwnOrganization()},
		Mutation: privacy.MutationPolicy{policy.RequireViewer(), privacy.AlwaysDenyRule()},
	}
}

// Policy keeps sign-in records to the system (internal/auth).
func (Session) Policy() ent.Policy { return systemOnly() }

// Policy keeps sign-in records to the system (internal/auth).
func (RefreshToken) Policy() ent.Policy { return systemOnly() }

func systemOnly() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
	}
}

// Hooks keep the user's derived columns (case-insensitive keys, search text)
// current on every write, and end an inactivated user's sessions (R25).
func (User) Hooks() []ent.Hook {
	return []ent.Hook{policy.NormalizeHook(), policy.EndSessionsOnInactivationHook()}
}

// Policy shows an organization's audit trail to its managers (View Users)
// and all of it to Support. Anyone may add records (the services write them
// in the viewer's transaction); the schema's hook refuses updates and
// deletes to everyone.
func (AuditEvent) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{policy.RequireViewer(), policy.RequirePermission(viewer.PermViewUsers), policy.FilterOrganization(),
			policy.FilterVisibleAuditEvents()},
		Mutation: privacy.MutationPolicy{
			privacy.OnMutationOperation(privacy.AlwaysAllowRule(), ent.OpCreate),
			privacy.AlwaysDenyRule(),
		},
	}
}

// Policy keeps password-reset links to the system (internal/users, reset.go).
func (PasswordReset) Policy() ent.Policy { return systemOnly() }

// Policy keeps sign-in throttling to the system (internal/lockout).
func (LoginThrottle) Policy() ent.Policy { return systemOnly() }

// Policy shows an import only to the manager who started it (its row
// errors name the people of the file) with View Users; the importer's own
// service writes it.
func (UserImport) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{policy.RequirePermission(viewer.PermViewUsers), policy.FilterRequestedByViewer()},
	}
}

// Policy: an import's row errors need View Users (and the organization,
// TenantMixin); they are read through their import.
func (UserImportError) Policy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{policy.RequirePermission(viewer.PermViewUsers)},
	}
}
