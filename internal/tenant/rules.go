// Package tenant holds the privacy rules that keep each organization's data
// to itself (R1) and managers to the users of their clinics (R2, R3).
//
// The rules are attached to the ent schema (ent/schema/policy.go), so they run
// below the resolvers on every query ent builds: top-level queries, node and
// nodes, connections, and eager-loaded edges alike. Work the system does on its
// own behalf (sign-in, seeding) runs with privacy.DecisionContext(ctx,
// privacy.Allow), which skips them.
package tenant

import (
	"context"
	"errors"

	"entgo.io/ent/entql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// ErrUnauthenticated is the denial given to a request with no signed-in viewer.
var ErrUnauthenticated = errors.New("sign-in required")

// ErrWrongOrganization denies a write into another organization.
var ErrWrongOrganization = errors.New("the object belongs to another organization")

type orgFilter interface {
	WhereOrganizationID(entql.IntP)
}

type orgMutation interface {
	OrganizationID() (int, bool)
}

// RequireViewer denies anonymous access and allows Support staff everything.
func RequireViewer() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		v := viewer.FromContext(ctx)
		switch {
		case v == nil:
			return privacy.Denyf("%w", ErrUnauthenticated)
		case v.Support:
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// FilterOrganization confines queries, updates and deletes to the viewer's
// organization, and refuses to create an object in another one.
func FilterOrganization() privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		if v == nil || v.OrganizationID == 0 {
			return privacy.Denyf("%w", ErrUnauthenticated)
		}
		of, ok := f.(orgFilter)
		if !ok {
			return privacy.Denyf("tenant: unexpected filter type %T", f)
		}
		of.WhereOrganizationID(entql.IntEQ(v.OrganizationID))
		return privacy.Skip
	})
}

// CreateInOwnOrganization refuses a create whose organization is not the
// viewer's. Updates and deletes are filtered by FilterOrganization.
func CreateInOwnOrganization() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if !m.Op().Is(ent.OpCreate) {
			return privacy.Skip
		}
		v := viewer.FromContext(ctx)
		om, ok := m.(orgMutation)
		if !ok {
			return privacy.Denyf("tenant: %s has no organization", m.Type())
		}
		if id, set := om.OrganizationID(); !set || v == nil || id != v.OrganizationID {
			return privacy.Denyf("%w", ErrWrongOrganization)
		}
		return privacy.Skip
	})
}

// FilterVisibleUsers confines user queries to the viewer themself and, for
// holders of View Users, to the users of their organization who have access
// to at least one clinic the viewer has access to (R2, R3).
func FilterVisibleUsers() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		uf, ok := f.(*ent.UserFilter)
		if !ok || v == nil {
			return privacy.Denyf("%w", ErrUnauthenticated)
		}
		self := entql.FieldEQ("id", v.UserID)
		if !v.Can(viewer.PermViewUsers) || len(v.ClinicIDs) == 0 {
			uf.Where(self)
			return privacy.Skip
		}
		clinics := make([]any, len(v.ClinicIDs))
		for i, id := range v.ClinicIDs {
			clinics[i] = id
		}
		uf.WhereOrganizationID(entql.IntEQ(v.OrganizationID))
		uf.Where(entql.Or(self, entql.HasEdgeWith("clinics", entql.FieldIn("id", clinics...))))
		return privacy.Skip
	})
}

// FilterOwnOrganization confines organization queries to the viewer's own.
func FilterOwnOrganization() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		of, ok := f.(*ent.OrganizationFilter)
		if !ok || v == nil {
			return privacy.Denyf("%w", ErrUnauthenticated)
		}
		of.WhereID(entql.IntEQ(v.OrganizationID))
		return privacy.Skip
	})
}

// RequirePermission denies viewers without a permission (Support has all).
func RequirePermission(key string) privacy.QueryRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if !viewer.FromContext(ctx).Can(key) {
			return privacy.Denyf("needs the %s permission", key)
		}
		return privacy.Skip
	})
}
