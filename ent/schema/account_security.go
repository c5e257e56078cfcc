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

// PasswordReset is one password-reset link sent to a user (R30). The token
// itself is never stored: the link carries HMAC(server key, salt), and the
// row keeps the salt and the SHA-256 of the token. A reset works once,
// expires, and is voided by a newer reset or a password change.
type PasswordReset struct{ ent.Schema }

func (PasswordReset) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Bytes("salt").Immutable().Sensitive(),
		field.Bytes("token_hash").Unique().Immutable().Sensitive(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("expires_at").Immutable(),
		// Set when used, or voided by a newer link or a password change.
		field.Time("used_at").Optional().Nillable(),
	}
}

func (PasswordReset) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
	}
}

func (PasswordReset) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "created_at")}
}

func (PasswordReset) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// LoginThrottle counts consecutive sign-in failures of one key: an account
// ("user:<id>"), a login name that matches no account ("login:<name>", so
// unknown names behave exactly like known ones), or a client address
// ("ip:<address>") (R29).
type LoginThrottle struct{ ent.Schema }

func (LoginThrottle) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique().Immutable().MaxLen(400),
		field.Int("failures").Default(0),
		field.Time("last_failure_at"),
		field.Time("locked_until").Optional().Nillable(),
	}
}

func (LoginThrottle) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
