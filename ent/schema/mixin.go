package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"
)

// TimeMixin adds creation and update times.
type TimeMixin struct{ mixin.Schema }

func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(time.Now).Immutable().
			Comment("When the object was created.").
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).
			Comment("When the object was last changed."),
	}
}

// TenantMixin marks an entity as owned by one organization (R1). Its privacy
// policy (policy.go, with the rules of internal/policy) confines every query
// and mutation of such an entity to the viewer's organization.
type TenantMixin struct{ mixin.Schema }

func (TenantMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Int("organization_id").Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (TenantMixin) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("organization", Organization.Type).Field("organization_id").
			Unique().Required().Immutable().
			Comment("The organization (practice) the object belongs to (R1)."),
	}
}

func (TenantMixin) Indexes() []ent.Index {
	return []ent.Index{index.Fields("organization_id")}
}
