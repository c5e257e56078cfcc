// Package viewer carries who is making a request through the context: the
// signed-in user, their organization, permissions, clinics and current clinic.
// Every authorization decision (the ent privacy rules, the services in
// internal/) reads it from here.
package viewer

import (
	"context"
	"slices"
)

// Permission keys the server itself checks (R2, R16). The full catalog lives
// in internal/permissions.
const (
	PermViewUsers    = "VIEW_USERS"
	PermEditUsers    = "EDIT_USERS"
	PermClinicAdmin  = "CLINIC_ADMIN"
	PermCompanyAdmin = "COMPANY_ADMIN"
)

// Viewer is the authenticated caller of a request.
type Viewer struct {
	UserID    int
	SessionID int
	// OrganizationID is 0 for platform Support staff, who belong to no
	// organization and may act on any (R1).
	OrganizationID int
	Support        bool
	Permissions    []string
	// ClinicIDs are the clinics the viewer has access to (R3).
	ClinicIDs []int
	// CurrentClinicID is the clinic the manager works in for this request
	// (R3); 0 when none was chosen.
	CurrentClinicID int
}

// Can reports whether the viewer holds a permission. Support may do anything.
func (v *Viewer) Can(permission string) bool {
	if v == nil {
		return false
	}
	return v.Support || slices.Contains(v.Permissions, permission)
}

// HasClinic reports whether the viewer has access to a clinic (R3).
func (v *Viewer) HasClinic(clinicID int) bool {
	if v == nil {
		return false
	}
	return v.Support || slices.Contains(v.ClinicIDs, clinicID)
}

type ctxKey struct{}

// NewContext returns a context carrying v.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer of ctx, or nil for an anonymous request.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(ctxKey{}).(*Viewer)
	return v
}
