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

// License is one billed seat of a class at a clinic (R21). Each license is a
// row, so "in use never exceeds total" holds by construction: a license is in
// use when it has a holder, and the unique holder column means a user can hold
// at most one license.
type License struct{ ent.Schema }

func (License) Fields() []ent.Field {
	return []ent.Field{
		field.Int("clinic_id").Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("class").GoType(staff.LicenseClass("")).Annotations(entgql.Type("LicenseClass")).Immutable().
			Comment("The license class: only users of a type of this class can hold it (R20)."),
		field.Int("holder_id").Optional().Nillable().Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (License) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("clinic", Clinic.Type).Field("clinic_id").Unique().Required().Immutable().
			Comment("The clinic the license belongs to (R21)."),
		edge.From("holder", User.Type).Ref("license").Field("holder_id").Unique().
			Comment("The active user holding the license; null when it is available."),
	}
}

func (License) Indexes() []ent.Index {
	// Finding a free license of a class at a clinic, and counting them.
	return []ent.Index{index.Fields("clinic_id", "class", "holder_id")}
}

func (License) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

func (License) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput | entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput)}
}
