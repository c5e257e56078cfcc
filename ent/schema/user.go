package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/clinicemr/usermanager/internal/paging"
	"github.com/clinicemr/usermanager/internal/staff"
)

// User is a staff member's profile (R4). Users are never deleted (R11).
type User struct{ ent.Schema }

func (User) Fields() []ent.Field {
	return []ent.Field{
		// Support staff belong to no organization (R1), so unlike the other
		// tenant entities the organization is optional here.
		field.Int("organization_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("username").NotEmpty().MaxLen(254).
			Comment("The sign-in name, at most 254 bytes: unique across the platform without regard to case, no whitespace or commas, and equal to email when it is an email address (R5).").
			Annotations(entgql.OrderField("USERNAME")),
		// Lower-cased username: the unique index makes usernames unique
		// platform-wide without regard to case (R5), even under concurrency.
		field.String("username_key").NotEmpty().Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("email").NotEmpty().MaxLen(254).
			Comment("The email address, unique across the platform without regard to case (R6); it may also be used to sign in, and password-reset links are sent to it.").
			Annotations(entgql.OrderField("EMAIL")),
		field.String("email_key").NotEmpty().Unique().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("password_hash").Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// False for a user invited without a password until they set one
		// through their invitation link (GraphQL: invitationPending).
		field.Bool("password_set").Default(true).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("user_type").GoType(staff.UserType("")).
			Comment("The user's type: it decides the license class (R20) and which permissions are available (R16). Only Support changes it (changeUserType, R12).").
			Annotations(entgql.Type("UserType"), entgql.OrderField("USER_TYPE")),
		field.String("first_name").NotEmpty().MaxLen(100).
			Comment("First name, at most 100 bytes.").
			Annotations(entgql.OrderField("FIRST_NAME")),
		field.String("last_name").NotEmpty().MaxLen(100).
			Comment("Last name, at most 100 bytes.").
			Annotations(entgql.OrderField("LAST_NAME")),
		field.String("full_name").NotEmpty().MaxLen(200).
			Comment("The display name, at most 200 bytes; \"firstName lastName\" unless set otherwise.").
			Annotations(entgql.OrderField("FULL_NAME")),
		// Lower-cased names, username and email for substring search (R17);
		// trigram-indexed on PostgreSQL.
		field.String("search_text").Default("").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("status").Values("ACTIVE", "INACTIVE").Default("INACTIVE").
			Comment("ACTIVE (holds a license of their class at their home clinic and may sign in) or INACTIVE (holds none and cannot sign in) (R21, R25); change it with setUserStatus.").
			Annotations(entgql.OrderField("STATUS")),
		field.Int("home_clinic_id").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		// Provider credentials (R8).
		field.String("npi").Optional().Nillable().MaxLen(10).
			Comment("Provider types only: the 10-digit National Provider Identifier, 9999999995 when unknown (R8); null for other types."),
		field.String("license_number").Optional().Nillable().MaxLen(40).
			Comment("Provider types only: the state license number, letters and digits, 00000 when unknown (R8); null for other types."),
		field.String("license_state").Optional().Nillable().MaxLen(2).
			Comment("Provider types only: the two-letter state that issued licenseNumber; null for other types."),
		// Names the profile had before, for duplicate-provider search (R14).
		field.Strings("previous_names").Optional().
			Comment("Full names the profile had before; duplicateProviders matches them too (R14).").
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput)),
		// Blob storage keys of the profile picture and signature (R18, R19);
		// clients get signed URLs instead.
		field.String("picture_key").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("signature_key").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("password_changed_at").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("organization", Organization.Type).Field("organization_id").
			Unique().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("home_clinic", Clinic.Type).Field("home_clinic_id").Unique().
			Comment("The home (default) clinic, one of clinics; an active user's license is a license of this clinic (R9, R21). Null only for Support staff.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("clinics", Clinic.Type).
			Comment("The clinics the user may access, by name (R3, R9).").
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput)),
		edge.To("permissions", Permission.Type).
			Comment("The permissions granted to the user, in the catalog's order (R16).").
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput)),
		// The license an active user holds (R21); none while inactive.
		edge.To("license", License.Type).Unique().
			Comment("The license the user holds: one of their class at their home clinic while Active, null while Inactive (R21).").
			Annotations(entgql.Skip(entgql.SkipWhereInput | entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput)),
		edge.From("sessions", Session.Type).Ref("user").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

func (User) Indexes() []ent.Index {
	return []ent.Index{
		// The user list's default sort (LAST_NAME, then id as the cursor's
		// tie-breaker) read in order from the index, with no sort step.
		index.Fields("organization_id", "last_name", "id"),
		// Not the status: an index holding it made every activation and
		// inactivation add entries to every index of the row, the trigram
		// one included; without it PostgreSQL changes the status in place
		// (a HOT update). The status filter is checked on the rows read.
		index.Fields("organization_id", "user_type"),
		index.Fields("home_clinic_id"),
		index.Fields("npi"),
		// R14: a real NPI, or a real license number in one state, belongs to
		// one user of an organization, also when two saves race. The
		// placeholders (credentials.PlaceholderNPI, PlaceholderLicenseNumber)
		// are left out of the indexes, so any number of users may carry them.
		index.Fields("organization_id", "npi").Unique().
			StorageKey("user_real_npi_per_organization").
			Annotations(entsql.IndexWhere("npi <> '9999999995'")),
		index.Fields("organization_id", "license_state", "license_number").Unique().
			StorageKey("user_real_license_per_organization").
			Annotations(entsql.IndexWhere("license_number <> '00000'")),
		index.Fields("search_text").
			Annotations(
				entsql.IndexTypes(map[string]string{dialect.Postgres: "GIN"}),
				entsql.OpClass("gin_trgm_ops"),
			),
	}
}

func (User) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Interceptors lets the user search count its matches itself, capped
// (internal/paging, internal/directory).
func (User) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{paging.SkipCounts()}
}

func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		// The users query has its own search filter (R17) instead of the
		// generic where input, so every filter it offers is indexed.
		entgql.Skip(entgql.SkipWhereInput | entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput),
	}
}
