package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// UserImport is one staff-list import (importUsers, issue #13): a CSV file
// in the staff-list columns (internal/staffcsv) whose rows are created as
// users, one by one through createUser's path, by a durable job. Progress
// (rows_done, created, failed) is committed with each batch of rows, so a
// restart resumes after the last committed row.
type UserImport struct{ ent.Schema }

func (UserImport) Fields() []ent.Field {
	return []ent.Field{
		field.Bool("dry_run").Default(false).Immutable().
			Comment("A dry run checks every row as createUser would and writes no user."),
		field.Enum("status").Values("QUEUED", "RUNNING", "COMPLETED", "FAILED").Default("QUEUED").
			Comment("QUEUED until the job starts, RUNNING while rows are read, then COMPLETED (every row was read; some may have failed) or FAILED (the file could not be read at all: see error)."),
		field.String("file_name").Default("").MaxLen(255).Immutable().
			Comment("The uploaded file's name, as the client sent it."),
		field.String("blob_key").Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("rows_total").Default(0).
			Comment("How many data rows the file holds (the header is not counted), counted when it was uploaded."),
		field.Int("rows_done").Default(0).
			Comment("How many data rows have been processed (created, checked or failed)."),
		field.Int("created").Default(0).
			Comment("How many users the import created (for a dry run: how many rows would be created)."),
		field.Int("failed").Default(0).
			Comment("How many rows failed (each with at least one row error)."),
		field.String("error").Optional().Nillable().
			Comment("Why the whole import FAILED (a file that is not a staff list, a missing column); null otherwise."),
		field.Int("requested_by_id").Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("current_clinic_id").Optional().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("finished_at").Optional().Nillable().
			Comment("When the import COMPLETED or FAILED; null before."),
	}
}

func (UserImport) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("requested_by", User.Type).Field("requested_by_id").Unique().Required().Immutable().
			Comment("The manager who imported the file; rows are created as them.").
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		edge.To("row_errors", UserImportError.Type).
			Comment("The rows that failed, with every broken rule of each (R10), in row order.").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipWhereInput)),
	}
}

func (UserImport) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}, TenantMixin{}} }

func (UserImport) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.Skip(entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput | entgql.SkipWhereInput | entgql.SkipOrderField),
	}
}

// UserImportError is one broken rule of one row of an import.
type UserImportError struct{ ent.Schema }

func (UserImportError) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_import_id").Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("row").Immutable().
			Comment("The row's number in the file, counting the header as row 1 (as a spreadsheet numbers it)."),
		field.String("column").Default("").Immutable().
			Comment("The column the error concerns (a staff-list column name); empty when it concerns the whole row."),
		field.String("code").Immutable().
			Comment("A stable machine-readable code: createUser's codes, or MALFORMED_ROW, INVALID_ENCODING, UNKNOWN_CLINIC, UNKNOWN_PERMISSION, FORMULA_NOT_ALLOWED, CELL_TOO_LONG."),
		field.String("message").Immutable().
			Comment("What is wrong, for a person."),
	}
}

func (UserImportError) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user_import", UserImport.Type).Ref("row_errors").Field("user_import_id").
			Unique().Required().Immutable().
			Comment("The import the row belongs to."),
	}
}

func (UserImportError) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_import_id", "row")}
}

func (UserImportError) Mixin() []ent.Mixin { return []ent.Mixin{TenantMixin{}} }

func (UserImportError) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipMutationCreateInput | entgql.SkipMutationUpdateInput | entgql.SkipWhereInput),
	}
}
