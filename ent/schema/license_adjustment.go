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
		field.Enum("class").GoType(staff.LicenseClass("")).Annotations(entgql.Type("LicenseClass")).Immutable().
			Comment("The class of the licenses to add or release."),
		field.Enum("kind").Values("ADD", "RELEASE").Immutable().
			Comment("Whether licenses are added or released."),
		field.Int("quantity").Positive().Immutable().
			Comment("How many licenses, 1 to 10000."),
		field.Enum("release_reason").
			Values("NO_LONGER_NEEDED", "STAFF_LEFT", "CLINIC_CLOSING", "BUDGET", "OTHER").
			Optional().Nillable().Immutable().
			Comment("Releases only: why the licenses are released; null for an addition."),
		field.String("explanation").Default("").MaxLen(2000).Immutable().
			Comment("The requester's explanation, at most 2000 characters; required for a release, empty when none was given."),
		field.Enum("status").Values("PENDING", "COMPLETED", "REJECTED", "CANCELLED").
			Default("PENDING").Annotations(entgql.OrderField("STATUS")).
			Comment("PENDING until processed, then COMPLETED or REJECTED; CANCELLED when the requester withdrew it (R26)."),
		field.String("rejection_reason").Optional().Nillable().
			Comment("Why the adjustment was rejected: Support's reason, or that the release no longer fit the available licenses; null unless REJECTED."),
		field.Int("requested_by_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("processed_by_id").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// When the processing window ends and the adjustment is processed
		// automatically.
		field.Time("due_at").
			Comment("When the processing window ends: a still-pending adjustment is processed automatically then (24 hours after the request by default)."),
		field.Time("processed_at").Optional().Nillable().
			Comment("When the adjustment was completed or rejected; null while pending and for a cancelled one."),
	}
}

func (LicenseAdjustment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("clinic", Clinic.Type).Field("clinic_id").Unique().Required().Immutable().
			Comment("The clinic whose licenses change."),
		edge.To("requested_by", User.Type).Field("requested_by_id").Unique().Immutable().
			Comment("The manager who requested the adjustment.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("processed_by", User.Type).Field("processed_by_id").Unique().
			Comment("The Support user who completed or rejected the adjustment; null while pending, when cancelled, and when processed automatically at the end of the window.").
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
