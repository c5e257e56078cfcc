package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// ClinicHeader names the manager's current clinic for a request (R3).
const ClinicHeader = "X-Clinic-Id"

// Middleware authenticates each request from its bearer token. A request
// without one proceeds anonymously (it may sign in); one whose token is
// refused also proceeds anonymously, remembering why, so operations that
// need a viewer answer UNAUTHENTICATED with the reason.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := s.Context(r.Context(), r.Header.Get("Authorization"), r.Header.Get(ClinicHeader))
		if errors.Is(err, errTokenUncheckable) {
			slog.ErrorContext(ctx, "checking an access token", "error", err)
			err = errTokenUncheckable
		}
		if err != nil {
			ctx = viewer.WithFailure(ctx, err)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Context returns ctx carrying the viewer of an Authorization header value
// ("Bearer <token>") and the current clinic chosen by clinicHeader. It is
// shared by HTTP requests and WebSocket connection_init.
func (s *Service) Context(ctx context.Context, authorization, clinicHeader string) (context.Context, error) {
	if authorization == "" {
		return ctx, nil
	}
	// The scheme is case-insensitive (RFC 9110).
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ctx, errTokenInvalid
	}
	v, err := s.Authenticate(ctx, strings.TrimSpace(token))
	if err != nil {
		return ctx, err
	}
	if clinicHeader != "" {
		id, err := gid.Decode(clinicHeader)
		if err != nil || !v.HasClinic(id) {
			return ctx, apperr.Forbidden("no access to the clinic named by " + ClinicHeader)
		}
		v.CurrentClinicID = id
	}
	return viewer.NewContext(ctx, v), nil
}
