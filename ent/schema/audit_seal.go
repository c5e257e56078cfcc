package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/clinicemr/usermanager/ent/hook"
)

// AuditSeal is one link of an organization's audit hash chain (R31): it
// binds one audit record, by its content, to every record sealed before it
// in the same organization. Links are written shortly after the records
// commit, by a job (internal/audit, seal.go), so that recording an event
// never waits on a per-organization lock. Like the records, links are
// never updated or deleted.
type AuditSeal struct{ ent.Schema }

func (AuditSeal) Fields() []ent.Field {
	return []ent.Field{
		// The chain's organization; 0 for records of no organization
		// (Support's own sign-ins, unknown usernames).
		field.Int("organization_id").Immutable(),
		// The link's position in its chain: 1, 2, 3... with no gaps.
		field.Int("seq").Immutable(),
		field.Int("audit_event_id").Immutable(),
		// Hex SHA-256 over prev_hash and the record's canonical content.
		field.String("hash").Immutable(),
		// The previous link's hash ("" for the first link).
		field.String("prev_hash").Default("").Immutable(),
		field.Time("sealed_at").Immutable(),
	}
}

func (AuditSeal) Indexes() []ent.Index {
	return []ent.Index{
		// One chain per organization: a second sealer running at once
		// could not fork it.
		index.Fields("organization_id", "seq").Unique(),
		// A record is sealed once.
		index.Fields("audit_event_id").Unique(),
	}
}

// Policy keeps the chain to the system (internal/audit).
func (AuditSeal) Policy() ent.Policy { return systemOnly() }

func (AuditSeal) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Hooks make the chain append-only below every caller, like the records.
func (AuditSeal) Hooks() []ent.Hook {
	return []ent.Hook{hook.Reject(ent.OpUpdate | ent.OpUpdateOne | ent.OpDelete | ent.OpDeleteOne)}
}
