package staffimport

import (
	"github.com/99designs/gqlgen/graphql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/apperr"
)

// Input is importUsers' input.
type Input struct {
	File   graphql.Upload `json:"file"`
	DryRun *bool          `json:"dryRun"`
}

// Payload is importUsers' answer.
type Payload struct {
	UserImport *ent.UserImport     `json:"userImport"`
	UserErrors []*apperr.UserError `json:"userErrors"`
}
