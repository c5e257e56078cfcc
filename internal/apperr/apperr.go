// Package apperr is the error contract of the API (SPEC "The API contract"):
// rule violations are returned as UserErrors in a mutation's payload (R10),
// authorization and system failures as GraphQL errors carrying
// extensions.code.
package apperr

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Code is a stable machine-readable code of a rule violation.
type Code string

const (
	InvalidCredentials     Code = "INVALID_CREDENTIALS"
	InvalidRefreshToken    Code = "INVALID_REFRESH_TOKEN"
	Required               Code = "REQUIRED"
	TooLong                Code = "TOO_LONG"
	NameTaken              Code = "NAME_TAKEN"
	UsernameTaken          Code = "USERNAME_TAKEN"
	EmailTaken             Code = "EMAIL_TAKEN"
	InvalidUsername        Code = "INVALID_USERNAME"
	InvalidEmail           Code = "INVALID_EMAIL"
	WeakPassword           Code = "WEAK_PASSWORD"
	InvalidUserType        Code = "INVALID_USER_TYPE"
	InvalidQuantity        Code = "INVALID_QUANTITY"
	MaximumLicensesReached Code = "MAXIMUM_LICENSES_REACHED"
)

// UserError is one broken rule: the input field it concerns and its code.
type UserError struct {
	Field   *string `json:"field"`
	Message string  `json:"message"`
	Code    Code    `json:"code"`
}

// New returns a UserError for field ("" when it concerns the whole input).
func New(field string, code Code, format string, args ...any) *UserError {
	e := &UserError{Message: fmt.Sprintf(format, args...), Code: code}
	if field != "" {
		e.Field = &field
	}
	return e
}

// List collects every broken rule of an input, so a save reports all of them
// at once (R10).
type List []*UserError

// Add appends a UserError.
func (l *List) Add(field string, code Code, format string, args ...any) {
	*l = append(*l, New(field, code, format, args...))
}

// Prefixed returns the errors with prefix+"." before each field name.
func (l List) Prefixed(prefix string) List {
	out := make(List, len(l))
	for i, e := range l {
		c := *e
		if c.Field != nil {
			f := prefix + "." + *c.Field
			c.Field = &f
		}
		out[i] = &c
	}
	return out
}

// Error lets a List abort a transaction: returned from inside one, it rolls
// the transaction back and is then reported as the payload's userErrors.
func (l List) Error() string {
	if len(l) == 0 {
		return "no user errors"
	}
	return fmt.Sprintf("%d rule(s) broken, first: %s", len(l), l[0].Message)
}

// AsList returns the UserErrors carried by err, if any.
func AsList(err error) (List, bool) {
	var l List
	if errors.As(err, &l) {
		return l, true
	}
	return nil, false
}

// WarningCode is a stable code of a non-blocking notice.
type WarningCode string

const SavedInactiveNoLicense WarningCode = "SAVED_INACTIVE_NO_LICENSE"

// Warning is a notice about a mutation that succeeded (R24).
type Warning struct {
	Message string      `json:"message"`
	Code    WarningCode `json:"code"`
}

func (c Code) MarshalGQL(w io.Writer)        { _, _ = io.WriteString(w, strconv.Quote(string(c))) }
func (c WarningCode) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(c))) }

func (c *Code) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("code must be a string")
	}
	*c = Code(s)
	return nil
}

func (c *WarningCode) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("code must be a string")
	}
	*c = WarningCode(s)
	return nil
}
