package apperr

import "errors"

// Codes of GraphQL errors (extensions.code).
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeInternal        = "INTERNAL_SERVER_ERROR"
)

// Error is an authorization or system failure reported as a GraphQL error
// with extensions.code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unauthenticated: the request needs a signed-in user, or its token is no
// longer valid.
func Unauthenticated(msg string) error { return &Error{CodeUnauthenticated, msg} }

// Forbidden: the viewer may not do this.
func Forbidden(msg string) error { return &Error{CodeForbidden, msg} }

// NotFound: no such object visible to the viewer.
func NotFound(msg string) error { return &Error{CodeNotFound, msg} }

// BadInput: an argument is malformed (not a rule violation of R10).
func BadInput(msg string) error { return &Error{CodeBadUserInput, msg} }

// AsError returns the *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
