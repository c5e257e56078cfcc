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
			Comment("The stable key that inputs use to name the permission (e.g. createUser's permissions).").
			Annotations(entgql.OrderField("KEY")),
		field.String("name").NotEmpty().
			Comment("The name shown to people.").
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Default("").
			Comment("What the permission allows."),
		// The user types this permission may be granted to; others see it
		// greyed out.
		field.JSON("available_to", []staff.UserType{}).
			Comment("The user types the permission may be granted to; show it greyed out for others (granting it is PERMISSION_NOT_AVAILABLE).").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		// Restricted permissions are granted by Support only.
		field.Bool("restricted").Default(false).
			Comment("Only Support may grant a restricted permission (R16)."),
		// Administrative permissions are what the Admin shortcut grants.
		field.Bool("administrative").Default(false).
			Comment("Administrative permissions are the ones the Admin shortcut grants; a manager may grant them only if they hold them (R32)."),
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
