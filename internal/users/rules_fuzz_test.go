package users_test

import (
	"flag"
	"net/mail"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/users"
)

// knownBugs checks invariants ValidateUsername and ValidateEmail once broke
// (fixed; on by default). The inputs that broke them are kept in testdata/fuzz
// as regression seeds:
//
//   - a username of at most 254 characters but more than 254 bytes (e.g. 128
//     "é") passes ValidateUsername, then fails the schema's byte-counting
//     MaxLen(254) with a system error instead of the TOO_LONG userError (R10);
//   - a username that is not valid UTF-8 passes ValidateUsername;
//   - ValidateEmail accepts addresses containing Unicode white space or
//     control characters (U+00A0, U+0085, U+2028, U+3000...), which
//     net/mail allows in a local part or domain: such an email can never be
//     used as the username (R5), and one ending in U+00A0 is stored trimmed,
//     that is not as it was validated.
var knownBugs = flag.Bool("users.knownbugs", true,
	"also check the invariants ValidateUsername and ValidateEmail are known to break")

// maxStoredLen is the schema's MaxLen of username and email: ent counts bytes.
const maxStoredLen = 254

func FuzzValidateUsername(f *testing.F) {
	seeds := [][2]string{
		{"jdoe", "jdoe@example.com"},
		{"jdoe@example.com", "jdoe@example.com"},
		{"JDoe@Example.com", "jdoe@EXAMPLE.com"},
		{"jdoe@example.com", "other@example.com"},
		{"jdoe@example.com", " jdoe@example.com "},
		{"j doe", "jdoe@example.com"},
		{"j,doe", "jdoe@example.com"},
		{"jdoe\t", "jdoe@example.com"},
		{"jdoe\u00a0", "jdoe@example.com"},
		{"jdoe\u200b", "jdoe@example.com"},
		{"jdoe\x00", "jdoe@example.com"},
		{"", "jdoe@example.com"},
		{"   ", ""},
		{"@", "@"},
		{"\u212a@x.co", "k@x.co"},
		{strings.Repeat("a", 254), ""},
		{strings.Repeat("a", 255), ""},
		{strings.Repeat("é", 128), ""},
		{"\xff", ""},
		{"\xff@x.co", "\xfe@x.co"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, username, email string) {
		var errs apperr.List
		users.ValidateUsername(&errs, "username", username, email)
		if len(errs) > 1 {
			t.Fatalf("ValidateUsername(%q, %q) reported %d errors, want at most 1: %v", username, email, len(errs), errs)
		}
		for _, e := range errs {
			if e.Field == nil || *e.Field != "username" {
				t.Fatalf("ValidateUsername(%q, %q) reported an error on the wrong field: %+v", username, email, e)
			}
			switch e.Code {
			case apperr.Required, apperr.TooLong, apperr.InvalidUsername:
			default:
				t.Fatalf("ValidateUsername(%q, %q) reported code %s", username, email, e.Code)
			}
			if e.Message == "" {
				t.Fatalf("ValidateUsername(%q, %q) reported an error without a message", username, email)
			}
		}
		if len(errs) > 0 {
			return
		}

		// Accepted: R5.
		if strings.TrimSpace(username) == "" {
			t.Fatalf("ValidateUsername accepted the blank username %q", username)
		}
		if i := strings.IndexFunc(username, unicode.IsSpace); i >= 0 {
			t.Fatalf("ValidateUsername accepted %q, which has white space at byte %d", username, i)
		}
		if strings.Contains(username, ",") {
			t.Fatalf("ValidateUsername accepted %q, which has a comma", username)
		}
		if strings.Contains(username, "@") {
			// The email is stored trimmed (users.NewUser.Create), so the
			// username must equal the stored email without regard to case.
			if strings.ToLower(username) != strings.ToLower(strings.TrimSpace(email)) {
				t.Fatalf("ValidateUsername accepted the email-like username %q with email %q", username, email)
			}
			// And the email exactly as given, whenever that is a valid email.
			var emailErrs apperr.List
			users.ValidateEmail(&emailErrs, "email", email)
			if len(emailErrs) == 0 && strings.ToLower(username) != strings.ToLower(email) {
				t.Fatalf("ValidateUsername accepted the email-like username %q with the valid email %q", username, email)
			}
		}
		if *knownBugs {
			if len(username) > maxStoredLen {
				t.Fatalf("ValidateUsername accepted %q: %d bytes, more than the schema's MaxLen(%d)",
					username, len(username), maxStoredLen)
			}
			if !utf8.ValidString(username) {
				t.Fatalf("ValidateUsername accepted %q, which is not valid UTF-8", username)
			}
		}
	})
}

func FuzzValidateEmail(f *testing.F) {
	for _, s := range []string{
		"jdoe@example.com",
		"J.Doe+tag@Sub.Example.co.uk",
		"John Doe <jdoe@example.com>",
		"<jdoe@example.com>",
		"jdoe@example.com (John)",
		"jdoe@example",
		"@example.com",
		"jdoe@",
		"jdoe",
		"",
		" ",
		" jdoe@example.com",
		"jdoe@example.com ",
		"jdoe@example.com, other@example.com",
		`"j doe"@example.com`,
		`"jdoe"@example.com`,
		"jdoe@[127.0.0.1]",
		"jdoe@-example.com",
		"jdoe..x@example.com",
		"jd\u00f6e@ex\u00e4mple.com",
		"j\u00a0doe@example.com",
		"jdoe@example.com\u00a0",
		"j\u0085doe@example.com",
		"j\u2028doe@example.com",
		"j\u3000doe@example.com",
		"j\u200bdoe@example.com",
		"\xffjdoe@example.com",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com",
		strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		var errs apperr.List
		users.ValidateEmail(&errs, "email", email)
		if len(errs) > 1 {
			t.Fatalf("ValidateEmail(%q) reported %d errors, want at most 1: %v", email, len(errs), errs)
		}
		for _, e := range errs {
			if e.Field == nil || *e.Field != "email" {
				t.Fatalf("ValidateEmail(%q) reported an error on the wrong field: %+v", email, e)
			}
			switch e.Code {
			case apperr.Required, apperr.TooLong, apperr.InvalidEmail:
			default:
				t.Fatalf("ValidateEmail(%q) reported code %s", email, e.Code)
			}
			if e.Message == "" {
				t.Fatalf("ValidateEmail(%q) reported an error without a message", email)
			}
		}
		if len(errs) > 0 {
			return
		}

		// Accepted: one plain address that net/mail reads back unchanged.
		addr, err := mail.ParseAddress(email)
		if err != nil {
			t.Fatalf("ValidateEmail accepted %q, which net/mail refuses: %v", email, err)
		}
		if addr.Address != email || addr.Name != "" {
			t.Fatalf("ValidateEmail accepted %q, which net/mail reads as %q (name %q)", email, addr.Address, addr.Name)
		}
		if len(email) > maxStoredLen {
			t.Fatalf("ValidateEmail accepted %q: %d bytes, more than the schema's MaxLen(%d)", email, len(email), maxStoredLen)
		}
		at := strings.LastIndexByte(email, '@')
		if at < 1 || !strings.Contains(email[at:], ".") {
			t.Fatalf("ValidateEmail accepted %q, which has no local part or no dot in its domain", email)
		}
		if *knownBugs {
			if i := strings.IndexFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
				t.Fatalf("ValidateEmail accepted %q, which has white space or a control character at byte %d", email, i)
			}
			// R5: an email can always be used as the username.
			var uerrs apperr.List
			users.ValidateUsername(&uerrs, "username", email, email)
			if len(uerrs) > 0 {
				t.Fatalf("ValidateEmail accepted %q, which cannot be its own username: %v", email, uerrs)
			}
		}
	})
}
