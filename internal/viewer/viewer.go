// Package viewer carries who is making a request through the context: the
// signed-in user, their organization, permissions, clinics and current clinic.
// Every authorization decision (the ent privacy rules, the services in
// internal/) reads it from here.
package viewer

import (
	"context"
	"slices"
	"time"

	"github.com/clinicemr/usermanager/internal/apperr"
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
	Username  string
	SessionID int
	// OrganizationID is 0 for platform Support staff, who belong to no
	// organization and may act on any (R1).
	OrganizationID int
	Support        bool
	Permissions    []string
	// ClinicIDs are the clinics the viewer has access to (R3).
	ClinicIDs []int
	// AllClinics: the viewer has access to every clinic of the
	// organization, so R3 narrows nothing (and costs nothing).
	AllClinics bool
	// CurrentClinicID is the clinic the manager works in for this request
	// (R3); 0 when none was chosen.
	CurrentClinicID int
	// SessionExpiresAt is when the session ends unless revoked first; live
	// connections end then (zero when unknown).
	SessionExpiresAt time.Time
	// SessionReadAt is when the session was read to authenticate the request
	// (real time, not a service's clock): an end of the session announced
	// since may not be reflected (zero when unknown).
	SessionReadAt time.Time
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

type failureKey struct{}

// WithFailure records why a request's credentials were refused, so every
// operation that needs a viewer can say why there is none.
func WithFailure(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, failureKey{}, err)
}

// Require returns the viewer of ctx, or the error to answer a request
// without one: why its credentials were refused (UNAUTHENTICATED, or
// FORBIDDEN for a clinic the viewer cannot access), or that it must sign in.
func Require(ctx context.Context) (*Viewer, error) {
	if v := FromContext(ctx); v != nil {
		return v, nil
	}
	return nil, Missing(ctx)
}

// Missing returns the error for a request without a viewer (see Require).
func Missing(ctx context.Context) error {
	err, _ := ctx.Value(failureKey{}).(error)
	if err == nil {
		return apperr.Unauthenticated("sign in first: send the access token as \"Authorization: Bearer <token>\"")
	}
	if _, ok := apperr.AsError(err); ok {
		return err
	}
	return apperr.Unauthenticated(err.Error())
}

// Failure returns why the request's credentials were refused, as an API
// error, or nil when it carried none.
func Failure(ctx context.Context) error {
	if _, ok := ctx.Value(failureKey{}).(error); ok {
		return Missing(ctx)
	}
	return nil
}
