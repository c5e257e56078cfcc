package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/clinicemr/usermanager/internal/staff"
)

// LicenseAdjustment is a request to billing to add or release licenses of a
// class at a clinic (R26).
type LicenseAdjustment struct{ ent.Schema }

func (LicenseAdjustment) Fields() []ent.Field {
	return []ent.Field{
		field.Int("clinic_id").Immutable().
			Annotations(entgql.Skip(entgql.SkipType)),
		field.Enum("class").GoType(staff.LicenseClass("")).Annotations(entgql.Type("LicenseClass")).Immutable(),
		field.Enum("kind").Values("ADD", "RELEASE").Immutable(),
		field.Int("quantity").Positive().Immutable(),
		field.Enum("release_reason").
			Values("NO_LONGER_NEEDED", "STAFF_LEFT", "CLINIC_CLOSING", "BUDGET", "OTHER").
			Optional().Nillable().Immutable(),
		field.String("explanation").Default("").MaxLen(2000).Immutable(),
		field.Enum("status").Values("PENDING", "COMPLETED", "REJECTED", "CANCELLED").
			Default("PENDING").Annotations(entgql.OrderField("STATUS")),
		field.String("rejection_reason").Optional().Nillable(),
		field.Int("requested_by_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("processed_by_id").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// When the processing window ends and the adjustment is processed
		// automatically.
		field.Time("due_at"),
		field.Time("processed_at").Optional().Nillable(),
	}
}

func (LicenseAdjustment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("clinic", Clinic.Type).Field("clinic_id").Unique().Required().Immutable(),
		edge.To("requested_by", User.Type).Field("requested_by_id").Unique().Immutable().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("processed_by", User.Type).Field("processed_by_id").Unique().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

func (LicenseAdjustment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("clinic_id", "status"),
		index.Fields("status", "due_at"),
	}
}

func (LicenseAdjustment) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

func (LicenseAdjustment) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput),
	}
}
