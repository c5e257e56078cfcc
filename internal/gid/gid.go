// Package gid presents ent's global integer IDs to clients as opaque strings.
//
// Clients must treat IDs as opaque; encoding them keeps anyone from building
// on their numeric shape. The ID of any object is unique across all types
// (ent's sql/globalid feature), so node(id:) can tell the type from it.
package gid

import (
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/clinicemr/usermanager/internal/apperr"
)

const prefix = "um:"

// ErrInvalid is returned for a string that is not an ID this server issued.
var ErrInvalid = errors.New("invalid ID")

// Encode returns the opaque form of id.
func Encode(id int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(prefix + strconv.Itoa(id)))
}

// Decode parses an opaque ID.
func Decode(s string) (int, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(raw), prefix) {
		return 0, ErrInvalid
	}
	id, err := strconv.Atoi(string(raw[len(prefix):]))
	if err != nil || id <= 0 {
		return 0, ErrInvalid
	}
	return id, nil
}

// MarshalID is the gqlgen marshaler of the ID scalar.
func MarshalID(id int) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(Encode(id)))
	})
}

// InvalidCode is the userError code of a malformed ID in a mutation's
// input.
const InvalidCode apperr.Code = "INVALID_ID"

// Invalid is what UnmarshalID makes of a malformed ID: no object has it.
const Invalid = 0

// UnmarshalID is the gqlgen unmarshaler of the ID scalar. A malformed ID
// becomes Invalid instead of an error: gqlgen decodes a field's arguments
// before any middleware runs, so an error here would replace a mutation's
// payload, and every other problem of its input, with a bare GraphQL error.
// The server's input check (internal/server/hostile.go) refuses malformed
// IDs, with Check, before any resolver runs and names the field; should one
// slip through, Invalid matches no object.
func UnmarshalID(v any) (int, error) {
	s, _ := v.(string)
	id, err := Decode(s)
	if err != nil {
		return Invalid, nil
	}
	return id, nil
}

// Check says why v, a raw ID argument, is not an ID this server issued
// ("" when it is).
func Check(v any) string {
	s, ok := v.(string)
	if !ok {
		return "is not an ID: IDs are strings"
	}
	if _, err := Decode(s); err != nil {
		return "is not an ID this server issued"
	}
	return ""
}
