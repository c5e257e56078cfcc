package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/requestinfo"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// ClinicHeader names the manager's current clinic for a request (R3).
const ClinicHeader = "X-Clinic-Id"

// Middleware authenticates each request from its bearer token. A request
// without one proceeds anonymously (it may sign in); one whose token is
// refused also proceeds anonymously, remembering why, so operations that
// need a viewer answer UNAUTHENTICATED with the reason (or UNAVAILABLE when
// the database could not be asked).
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := s.Context(r.Context(), r.Header.Get("Authorization"), r.Header.Get(ClinicHeader))
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
	// Bounded, so a database that stops answering (rather than refusing)
	// gives UNAVAILABLE instead of a request that hangs.
	checkCtx, cancel := context.WithTimeout(ctx, tokenCheckTimeout)
	v, err := s.Authenticate(checkCtx, strings.TrimSpace(token))
	cancel()
	if err != nil {
		return ctx, uncheckable(ctx, err)
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

// tokenCheckTimeout bounds reading a token's session and user.
const tokenCheckTimeout = 10 * time.Second

// uncheckable turns a failure to read a token's session into the error the
// client hears. A database outage is UNAVAILABLE and anything else an
// internal error, never UNAUTHENTICATED: clients sign people out on that,
// and the token may be perfectly valid. Refused tokens pass through.
func uncheckable(ctx context.Context, err error) error {
	if !errors.Is(err, errTokenUncheckable) {
		return err
	}
	if apperr.Outage(err) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		slog.WarnContext(ctx, "checking an access token: the database is unreachable", "error", err)
		return apperr.Unavailable()
	}
	id := requestinfo.From(ctx).RequestID
	slog.ErrorContext(ctx, "checking an access token", "error", err)
	return &apperr.Error{Code: apperr.CodeInternal,
		Message: fmt.Sprintf("the access token could not be checked (request %s): try again", id)}
}
