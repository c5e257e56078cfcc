package users

import (
	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
)

// MaxBulkUsers is the most users one bulk change may name.
const MaxBulkUsers = 500

// Codes of bulk changes (bulk_ops.go).
const (
	// NotFound: no such user, or not one the viewer may see (R1, R3).
	NotFound apperr.Code = "NOT_FOUND"
	// TooManyItems: more than MaxBulkUsers users in one call.
	TooManyItems apperr.Code = "TOO_MANY_ITEMS"
)

// bothAddedAndRemoved is the code of an item a bulk change both adds and
// removes.
const bothAddedAndRemoved apperr.Code = "NOT_APPLICABLE"

// SetUsersStatusInput is setUsersStatus' input.
type SetUsersStatusInput struct {
	UserIDs []int       `json:"userIds"`
	Status  user.Status `json:"status"`
}

// UpdateUsersAccessInput is updateUsersAccess' input.
type UpdateUsersAccessInput struct {
	UserIDs           []int    `json:"userIds"`
	AddPermissions    []string `json:"addPermissions"`
	RemovePermissions []string `json:"removePermissions"`
	AddClinicIDs      []int    `json:"addClinicIds"`
	RemoveClinicIDs   []int    `json:"removeClinicIds"`
}

// BulkUsersPayload is the answer of a bulk change: one result per distinct
// user in the order given, and totals.
type BulkUsersPayload struct {
	BulkOperationID *string             `json:"bulkOperationId"`
	Results         []*BulkUserResult   `json:"results"`
	Succeeded       int                 `json:"succeeded"`
	Failed          int                 `json:"failed"`
	UserErrors      []*apperr.UserError `json:"userErrors"`
}

// BulkUserResult is one user's outcome in a bulk change.
type BulkUserResult struct {
	UserID     int                 `json:"userId"`
	User       *ent.User           `json:"user"`
	UserErrors []*apperr.UserError `json:"userErrors"`
}
