package users

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/policy"
)

// ValidateUsername checks R5: no whitespace, no commas, and a username that
// is an email address must equal the profile's email.
func ValidateUsername(errs *apperr.List, field, username, email string) {
	switch {
	case strings.TrimSpace(username) == "":
		errs.Add(field, apperr.Required, "a username is required")
	case !utf8.ValidString(username):
		errs.Add(field, apperr.InvalidUsername, "a username must be valid text (UTF-8)")
	case len(username) > 254: // bytes, as the database column counts them
		errs.Add(field, apperr.TooLong, "the username is too long (at most 254 bytes)")
	case strings.ContainsFunc(username, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || unicode.IsControl(r) }):
		errs.Add(field, apperr.InvalidUsername, "a username cannot contain spaces or commas")
	case strings.Contains(username, "@") && policy.Key(username) != policy.Key(email):
		errs.Add(field, apperr.InvalidUsername, "a username that is an email address must match the email field")
	}
}

// ValidateEmail checks R6's syntax rule: one plain address, no display name.
func ValidateEmail(errs *apperr.List, field, email string) {
	if strings.TrimSpace(email) == "" {
		errs.Add(field, apperr.Required, "an email address is required")
		return
	}
	if len(email) > 254 {
		errs.Add(field, apperr.TooLong, "an email address has at most 254 characters")
		return
	}
	if !utf8.ValidString(email) || strings.ContainsFunc(email, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	}) {
		// net/mail allows some of these; an address with them could never
		// also be the username (R5), nor be stored as validated.
		errs.Add(field, apperr.InvalidEmail, "an email address cannot contain spaces or control characters")
		return
	}
	addr, err := mail.ParseAddress(email)
	at := strings.LastIndexByte(email, '@')
	if err != nil || addr.Address != email || addr.Name != "" || at < 1 || !strings.Contains(email[at:], ".") {
		errs.Add(field, apperr.InvalidEmail, "%q is not a valid email address", email)
	}
}

// ValidatePassword checks R7 and reports every unmet requirement in one error.
func ValidatePassword(errs *apperr.List, field, password, username string, personal ...string) {
	check := passwords.Evaluate(password, username, personal...)
	if !check.OK() {
		errs.Add(field, apperr.WeakPassword, "the password does not meet the requirements: %s",
			strings.Join(check.Unmet(), "; "))
	}
}

// ValidateName checks a required name field.
func ValidateName(errs *apperr.List, field, value string, max int) {
	switch {
	case strings.TrimSpace(value) == "":
		errs.Add(field, apperr.Required, "%s is required", field)
	case !utf8.ValidString(value):
		errs.Add(field, apperr.Required, "%s must be valid text (UTF-8)", field)
	case len(value) > max: // bytes, as the database column counts them
		errs.Add(field, apperr.TooLong, "%s is too long (at most %d bytes)", field, max)
	}
}
