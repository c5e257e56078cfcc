package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/clinicemr/usermanager/internal/staff"
)

// Permission is an entry of the platform-wide permission catalog (R16).
type Permission struct{ ent.Schema }

func (Permission) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").NotEmpty().Unique().Immutable().
			Annotations(entgql.OrderField("KEY")),
		field.String("name").NotEmpty().
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Default(""),
		// The user types this permission may be granted to; others see it
		// greyed out.
		field.JSON("available_to", []staff.UserType{}).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		// Restricted permissions are granted by Support only.
		field.Bool("restricted").Default(false),
		// Administrative permissions are what the Admin shortcut grants.
		field.Bool("administrative").Default(false),
	}
}

func (Permission) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("users", User.Type).Ref("permissions").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (Permission) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.QueryField(), entgql.RelayConnection()}
}
