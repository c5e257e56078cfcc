package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Organization is a practice: it owns clinics and users (R1).
type Organization struct{ ent.Schema }

func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Comment("The organization's (practice's) name, at most 200 bytes.").
			Annotations(entgql.OrderField("NAME")),
	}
}

func (Organization) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("clinics", Clinic.Type).Ref("organization").
			Comment("The organization's clinics.").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipWhereInput)),
	}
}

func (Organization) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

func (Organization) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}
