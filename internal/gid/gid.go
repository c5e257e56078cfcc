// Package gid presents ent's global integer IDs to clients as opaque strings.
//
// Clients must treat IDs as opaque; encoding them keeps anyone from building
// on their numeric shape. The ID of any object is unique across all types
// (ent's sql/globalid feature), so node(id:) can tell the type from it.
package gid

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
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

// UnmarshalID is the gqlgen unmarshaler of the ID scalar.
func UnmarshalID(v any) (int, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%w: an ID is a string", ErrInvalid)
	}
	return Decode(s)
}
