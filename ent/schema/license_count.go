package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/staff"
)

// LicenseCount is the license count of one class at one clinic (R22): how
// many licenses there are, how many are held, and how many pending
// adjustments would add or release. Reading a clinic's or an organization's
// counts reads these rows, whatever the number of users.
//
// The database keeps them: triggers on licenses and license_adjustments
// (internal/db/license_counts.go and the PostgreSQL migration
// license_counts) change them in the same transaction as every write of
// those tables, so no service can forget to. `usermanager licenses check`
// recomputes them from the rows and reports any difference.
type LicenseCount struct{ ent.Schema }

func (LicenseCount) Fields() []ent.Field {
	return []ent.Field{
		field.Int("clinic_id").Immutable(),
		field.Enum("class").GoType(staff.LicenseClass("")).Immutable(),
		field.Int("total").Default(0),
		field.Int("in_use").Default(0),
		field.Int("pending_additions").Default(0),
		field.Int("pending_releases").Default(0),
	}
}

func (LicenseCount) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("clinic", Clinic.Type).Field("clinic_id").Unique().Required().Immutable(),
	}
}

func (LicenseCount) Indexes() []ent.Index {
	return []ent.Index{index.Fields("clinic_id", "class").Unique()}
}

func (LicenseCount) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

// Policy: the organization's viewers read their counts (TenantMixin); only
// the database's triggers write them.
func (LicenseCount) Policy() ent.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()}}
}

func (LicenseCount) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
