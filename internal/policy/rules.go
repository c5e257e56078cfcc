// Package policy holds what the ent schema enforces below every service: the
// privacy rules that keep each organization's data to itself (R1) and
// managers to the users of their clinics (R2, R3), and the hooks that keep a
// user's derived columns current and end an inactivated user's sessions
// (R5, R6, R17, R25). It depends on ent and the viewer only (and on the
// pure name folding of internal/credentials), so that ent/schema imports no
// service and a broken service cannot block `go generate ./ent`.
//
// The rules are attached to the ent schema (ent/schema/policy.go), so they run
// below the resolvers on every query ent builds: top-level queries, node and
// nodes, connections, and eager-loaded edges alike. Work the system does on its
// own behalf (sign-in, seeding) runs with privacy.DecisionContext(ctx,
// privacy.Allow), which skips them.
package policy

import (
	"context"
	"errors"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/entql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/licenseadjustment"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
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
			return privacy.Denyf("policy: unexpected filter type %T", f)
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
			return privacy.Denyf("policy: %s has no organization", m.Type())
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
	return privacy.UserQueryRuleFunc(func(ctx context.Context, q *ent.UserQuery) error {
		v := viewer.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("%w", ErrUnauthenticated)
		}
		if !v.Can(viewer.PermViewUsers) || len(v.ClinicIDs) == 0 {
			q.Where(user.ID(v.UserID))
			return privacy.Skip
		}
		q.Where(user.OrganizationID(v.OrganizationID))
		if !v.AllClinics {
			q.Where(sharesClinic(v))
		}
		return privacy.Skip
	})
}

// sharesClinic: the user is the viewer, or has one of the viewer's clinics.
// A correlated EXISTS on the join table's primary key (user_id, clinic_id)
// costs one index probe per candidate row, so a first page stops early.
func sharesClinic(v *viewer.Viewer) predicate.User {
	return predicate.User(func(s *sql.Selector) {
		t := sql.Table(user.ClinicsTable)
		s.Where(sql.Or(
			sql.EQ(s.C(user.FieldID), v.UserID),
			sql.Exists(sql.Select(t.C(user.ClinicsPrimaryKey[0])).From(t).Where(sql.And(
				sql.ColumnsEQ(t.C(user.ClinicsPrimaryKey[0]), s.C(user.FieldID)),
				sql.InInts(t.C(user.ClinicsPrimaryKey[1]), v.ClinicIDs...),
			))),
		))
	})
}

// FilterVisibleAuditEvents confines a manager who has access to only some
// of the organization's clinics to the audit records about what they may
// see (R3, R31): AuditEventsVisibleTo. Support and managers of every clinic
// see the whole organization's trail (FilterOrganization).
func FilterVisibleAuditEvents() privacy.QueryRule {
	return privacy.AuditEventQueryRuleFunc(func(ctx context.Context, q *ent.AuditEventQuery) error {
		v := viewer.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("%w", ErrUnauthenticated)
		}
		if !v.Support && !v.AllClinics {
			q.Where(AuditEventsVisibleTo(v.UserID, v.ClinicIDs))
		}
		return privacy.Skip
	})
}

// AuditEventsVisibleTo are the audit records a manager with access to
// clinicIDs may read (R3): a record about a user only if that user is the
// manager or has access to one of the clinics; a record about a clinic, or
// a license adjustment, only if it is one of the clinics'; records about
// the organization as a whole (or nothing in particular) always.
func AuditEventsVisibleTo(userID int, clinicIDs []int) predicate.AuditEvent {
	return predicate.AuditEvent(func(s *sql.Selector) {
		inClinics := func(column string) *sql.Predicate {
			if len(clinicIDs) == 0 {
				return sql.False()
			}
			return sql.InInts(column, clinicIDs...)
		}
		targetUser, targetType, targetID := s.C(auditevent.FieldTargetUserID), s.C(auditevent.FieldTargetType), s.C(auditevent.FieldTargetID)
		access := sql.Table(user.ClinicsTable)
		adjustments := sql.Table(licenseadjustment.Table)
		notA := func(kind string) *sql.Predicate { return sql.Or(sql.IsNull(targetType), sql.NEQ(targetType, kind)) }
		s.Where(sql.And(
			sql.Or(sql.IsNull(targetUser), sql.EQ(targetUser, userID),
				sql.Exists(sql.Select(access.C(user.ClinicsPrimaryKey[0])).From(access).Where(sql.And(
					sql.ColumnsEQ(access.C(user.ClinicsPrimaryKey[0]), targetUser),
					inClinics(access.C(user.ClinicsPrimaryKey[1])))))),
			sql.Or(notA("Clinic"), inClinics(targetID)),
			sql.Or(notA("LicenseAdjustment"),
				sql.Exists(sql.Select(adjustments.C(licenseadjustment.FieldID)).From(adjustments).Where(sql.And(
					sql.ColumnsEQ(adjustments.C(licenseadjustment.FieldID), targetID),
					inClinics(adjustments.C(licenseadjustment.FieldClinicID)))))),
		))
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

// FilterRequestedByViewer narrows a query of objects that record who asked
// for them (staff-list imports) to the viewer's own.
func FilterRequestedByViewer() privacy.QueryRule {
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v := viewer.FromContext(ctx)
		if v == nil {
			return privacy.Denyf("%w", ErrUnauthenticated)
		}
		rf, ok := f.(interface{ WhereRequestedByID(entql.IntP) })
		if !ok {
			return privacy.Denyf("policy: unexpected filter type %T", f)
		}
		rf.WhereRequestedByID(entql.IntEQ(v.UserID))
		return privacy.Skip
	})
}
