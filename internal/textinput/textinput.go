// Package textinput owns R36's rule for text a client sends: what a
// single-line field accepts, what a multi-line field accepts, and how long a
// search filter may be.
//
// Text is refused, rather than cleaned, so that what is stored is exactly
// what was typed and both databases see the same thing: PostgreSQL rejects a
// NUL outright, SQLite stores it and its LIKE stops matching at it.
package textinput

import (
	"unicode"
	"unicode/utf8"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// InvalidCharacters is the userError code of text with control characters,
// or with line breaks in a single-line field.
const InvalidCharacters apperr.Code = "INVALID_CHARACTERS"

// Length caps of text outside a mutation's input, in characters. Longer
// values are refused before they reach the database: a long LIKE pattern is
// an error on SQLite and costly everywhere. No stored single-line value
// (names, usernames, 254-character emails) is longer than MaxFilter, so a
// longer filter could match nothing anyway; MaxArgument leaves
// passwordStrength room to report a password over the 256-character limit.
const (
	MaxFilter   = 256
	MaxArgument = 1024
)

// multiLine lists the input fields, as "InputType.field" of the GraphQL
// schema, that may hold line breaks. Every other text field is
// single-line.
var multiLine = map[string]bool{
	"RequestLicenseAdjustmentInput.explanation": true,
	"RejectLicenseAdjustmentInput.reason":       true,
}

// IsMultiLine reports whether field of the GraphQL input type inputType
// accepts line breaks.
func IsMultiLine(inputType, field string) bool { return multiLine[inputType+"."+field] }

// SingleLine reports whether s is acceptable in a single-line field.
func SingleLine(s string) bool { return Problem(s, false) == "" }

// Problem says why s is not acceptable text ("" when it is): invalid UTF-8,
// NUL or another control character. Tabs and line breaks (CR, LF, U+2028,
// U+2029) are accepted only in a multi-line field.
func Problem(s string, multiLine bool) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8 text"
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029':
			if !multiLine {
				return "must be a single line (no line breaks)"
			}
		case r == '\t':
			// Indentation belongs to multi-line text only: a tab in a
			// name or a username is a pasting accident, never intended.
			if !multiLine {
				return "must not contain tabs"
			}
		case r == 0:
			return "must not contain NUL characters"
		case unicode.IsControl(r):
			return "must not contain control characters"
		}
	}
	return ""
}
