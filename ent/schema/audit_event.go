package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/clinicemr/usermanager/ent/hook"
)

// AuditActions are the kinds of audit events (R31).
var AuditActions = []string{
	"SIGN_IN_SUCCEEDED", "SIGN_IN_FAILED",
	"USER_CREATED", "USER_UPDATED", "USER_STATUS_CHANGED", "USER_PERMISSIONS_CHANGED",
	"USER_CLINICS_CHANGED", "USER_TYPE_CHANGED", "USER_PASSWORD_SET",
	"USER_PICTURE_CHANGED", "USER_SIGNATURE_CHANGED",
	"ORGANIZATION_CREATED", "CLINIC_CREATED", "CLINIC_UPDATED",
	"LICENSES_CHANGED", "LICENSE_ADJUSTMENT_CHANGED",
	"PASSWORD_RESET_SENT", "PASSWORD_RESET_COMPLETED", "LOCKOUT_CLEARED", "SESSION_REVOKED",
	"AUDIT_EXPORTED", "USERS_EXPORTED", "INVITATION_SENT", "USERS_IMPORTED",
}

// AuditEvent is one append-only record of the audit trail (R31): who did
// what to which user, the values before and after (never secrets), when,
// from where, and the outcome. Records are never updated or deleted.
type AuditEvent struct{ ent.Schema }

func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		// Nil for events of no organization (Support accounts, sign-in
		// attempts for unknown usernames).
		field.Int("organization_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("created_at").Default(time.Now).Immutable().
			Comment("When it happened.").
			Annotations(entgql.OrderField("CREATED_AT")),
		field.Enum("action").Values(AuditActions...).Immutable().
			Comment("What happened.").
			Annotations(entgql.OrderField("ACTION")),
		field.Int("actor_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// The actor's username when the event happened.
		field.String("actor_username").Default("").Immutable().
			Comment("The username of who acted, as it was then; \"system\" for background work such as processing at the end of the window."),
		field.Int("target_user_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// The object acted on, when not a user: "Clinic", "Organization", ...
		field.String("target_type").Default("").Immutable().
			Comment("The kind of object acted on when it is not a user: \"Clinic\", \"Organization\", \"LicenseAdjustment\", ..."),
		field.Int("target_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.JSON("before", map[string]any{}).Optional().Immutable().
			Comment("The values changed, as they were before (never secrets); null when nothing was there before."),
		field.JSON("after", map[string]any{}).Optional().Immutable().
			Comment("The values changed, as they are after (never secrets), or details of the event; null when none."),
		field.Enum("outcome").Values("SUCCESS", "FAILURE").Default("SUCCESS").Immutable().
			Comment("Whether the action succeeded or was refused."),
		field.String("reason").Default("").Immutable().
			Comment("More about the event in words, e.g. why a sign-in failed or who asked for a password-reset email; often empty."),
		field.String("client_ip").Default("").MaxLen(64).Immutable().
			Comment("The client address the request came from; empty when there was no request (background work)."),
		field.String("request_id").Default("").MaxLen(64).Immutable().
			Comment("The request's ID, as returned in its X-Request-Id header, to find it in server logs."),
	}
}

func (AuditEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("actor", User.Type).Field("actor_id").Unique().Immutable().
			Comment("The user who acted; null for background work and sign-in attempts with unknown names.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("target_user", User.Type).Field("target_user_id").Unique().Immutable().
			Comment("The user acted on; null when the event is not about a user.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_at"),
		index.Fields("target_user_id", "created_at"),
		index.Fields("actor_id", "created_at"),
	}
}

func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput | entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput),
	}
}

// Hooks make the trail append-only below every caller, the system included.
func (AuditEvent) Hooks() []ent.Hook {
	return []ent.Hook{hook.Reject(ent.OpUpdate | ent.OpUpdateOne | ent.OpDelete | ent.OpDeleteOne)}
}
