package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// presentError gives every error a stable extensions.code and keeps
// internal details (SQL, stack traces) out of answers; those are logged with
// the request ID the client sees.
func presentError(ctx context.Context, err error) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	if gqlErr.Extensions == nil {
		gqlErr.Extensions = map[string]any{}
	}
	var apiErr *apperr.Error
	var raw *gqlerror.Error
	switch {
	case errors.As(err, &apiErr):
		gqlErr.Message = apiErr.Message
		gqlErr.Extensions["code"] = apiErr.Code
	case errors.Is(err, policy.ErrUnauthenticated):
		// Say why the request has no viewer (expired token, refused clinic).
		var missing *apperr.Error
		errors.As(viewer.Missing(ctx), &missing)
		gqlErr.Message = missing.Message
		gqlErr.Extensions["code"] = missing.Code
	case errors.Is(err, privacy.Deny):
		gqlErr.Message = "not allowed"
		gqlErr.Extensions["code"] = apperr.CodeForbidden
	case ent.IsNotFound(err):
		gqlErr.Message = "not found"
		gqlErr.Extensions["code"] = apperr.CodeNotFound
	case errors.Is(err, gid.ErrInvalid):
		gqlErr.Extensions["code"] = apperr.CodeBadUserInput
	case errors.As(err, &raw) && raw.Err == nil:
		// gqlgen's own errors: parsing, validation, variable coercion.
		if _, ok := gqlErr.Extensions["code"]; !ok {
			gqlErr.Extensions["code"] = apperr.CodeBadUserInput
		}
		if strings.HasPrefix(gqlErr.Message, "exceeded token limit") {
			gqlErr.Message = fmt.Sprintf("the query is too long: it exceeds the token limit of %d (names, punctuation and values)", MaxQueryTokens)
		}
	case errors.As(err, &raw) && raw.Err != nil && raw.Err.Error() == "introspection disabled":
		// A deliberate refusal (INTROSPECTION=false), not a server fault.
		gqlErr.Message = "introspection is turned off on this server"
		gqlErr.Extensions["code"] = apperr.CodeForbidden
	case apperr.Outage(err):
		// The database is unreachable: the client should retry (503, see
		// answerOutages), not treat it as a fault or a sign-out.
		slog.WarnContext(ctx, "database unreachable", "path", gqlErr.Path.String(), "error", err)
		gqlErr.Message = apperr.UnavailableMessage
		gqlErr.Extensions["code"] = apperr.CodeUnavailable
	default:
		id := requestID(ctx)
		slog.ErrorContext(ctx, "request failed", "path", gqlErr.Path.String(), "error", err)
		gqlErr.Message = "internal server error (request " + id + ")"
		gqlErr.Extensions["code"] = apperr.CodeInternal
	}
	return gqlErr
}

// recoverPanic turns a panic in a resolver into an internal error; the
// stack goes to the log only.
func recoverPanic(ctx context.Context, v any) error {
	slog.ErrorContext(ctx, "panic in resolver", "panic", v, "stack", string(debug.Stack()))
	return errors.New("panic")
}
