// Package staffcsv is the CSV format of staff lists: the columns that
// exportUsers writes and (later) importUsers reads, so that an export edited
// in a spreadsheet imports back.
package staffcsv

import (
	"time"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/directory"
)

// ExportInput is exportUsers' input.
type ExportInput struct {
	Filter *directory.Search `json:"filter"`
}

// ExportPayload is exportUsers' answer.
type ExportPayload struct {
	URL        *string             `json:"url"`
	ExpiresAt  *time.Time          `json:"expiresAt"`
	UserErrors []*apperr.UserError `json:"userErrors"`
}
