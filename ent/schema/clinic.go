package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Clinic is a location of an organization. Licenses belong to a clinic (R21).
type Clinic struct{ ent.Schema }

func (Clinic) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Comment("The clinic's name, unique within its organization, at most 200 bytes.").
			Annotations(entgql.OrderField("NAME")),
	}
}

func (Clinic) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("users", User.Type).Ref("clinics").
			Comment("The users with access to this clinic.").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipWhereInput)),
		edge.From("licenses", License.Type).Ref("clinic").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Clinic) Indexes() []ent.Index {
	// A practice names each of its clinics once.
	return []ent.Index{index.Fields("organization_id", "name").Unique()}
}

func (Clinic) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

func (Clinic) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}
