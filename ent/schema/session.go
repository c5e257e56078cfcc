package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Session is one sign-in of a user. Access tokens name their session, so
// revoking it (logout, inactivation) refuses them on the next request (R25).
type Session struct{ ent.Schema }

func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at"),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("client_ip").Default("").MaxLen(64).Immutable(),
		field.String("user_agent").Default("").MaxLen(400).Immutable(),
	}
}

func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
		edge.From("refresh_tokens", RefreshToken.Type).Ref("session"),
	}
}

func (Session) Indexes() []ent.Index { return []ent.Index{index.Fields("user_id")} }

func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// RefreshToken is one refresh token of a session, stored only as a hash. Each
// refresh uses it up and issues the next; presenting a used one again is
// reuse and revokes the whole session.
type RefreshToken struct{ ent.Schema }

func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.Int("session_id").Immutable(),
		field.Bytes("token_hash").Unique().Immutable().Sensitive(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
	}
}

func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("session", Session.Type).Field("session_id").Unique().Required().Immutable(),
	}
}

func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
