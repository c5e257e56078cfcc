// Package credentials checks the credentials of a provider profile (SPEC R8):
// the NPI, the state license number and the license state, and finds names
// that may belong to the same person for the duplicate-provider check (R14).
//
// Everything here is pure: no database, no I/O. Callers normalize input with
// Normalize before validating and storing it, and decide which fields are
// required; Validate reports only malformed values.
package credentials

import (
	"sort"
	"strings"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// Codes of the userErrors reported by Validate.
const (
	InvalidNPI           apperr.Code = "INVALID_NPI"
	InvalidLicenseNumber apperr.Code = "INVALID_LICENSE_NUMBER"
	InvalidLicenseState  apperr.Code = "INVALID_LICENSE_STATE"
)

// Placeholders accepted when a provider's real credential is not known (R8).
// They are exempt from uniqueness checks.
const (
	// PlaceholderNPI is a well-formed NPI (its check digit is valid).
	PlaceholderNPI = "9999999995"
	// PlaceholderLicenseNumber is the placeholder state license number.
	PlaceholderLicenseNumber = "00000"
)

// MaxLicenseNumberLen is the longest license number accepted, in characters
// (all of them ASCII, so also in bytes).
const MaxLicenseNumberLen = 20

// npiPrefix is the ISO 7812 card-issuer prefix (80840, US health
// applications) that CMS puts before the first nine digits of an NPI when it
// computes the Luhn check digit.
const npiPrefix = "80840"

// ValidNPI reports whether npi is a well-formed National Provider Identifier:
// exactly ten ASCII digits whose last digit is the Luhn check digit of
// "80840" followed by the first nine digits. PlaceholderNPI is valid.
func ValidNPI(npi string) bool {
	if len(npi) != 10 {
		return false
	}
	for i := 0; i < len(npi); i++ {
		if npi[i] < '0' || npi[i] > '9' {
			return false
		}
	}
	return npiCheckDigit(npi[:9]) == npi[9]
}

// npiCheckDigit returns the Luhn check digit (as an ASCII digit) of
// npiPrefix+first9; first9 must be nine ASCII digits. Walking from the right,
// the digit next to the (future) check digit is doubled, then every second
// one; doubled values above 9 have 9 subtracted (the sum of their digits).
func npiCheckDigit(first9 string) byte {
	sum := 0
	double := true
	add := func(c byte) {
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	for i := len(first9) - 1; i >= 0; i-- {
		add(first9[i])
	}
	for i := len(npiPrefix) - 1; i >= 0; i-- {
		add(npiPrefix[i])
	}
	return byte('0' + (10-sum%10)%10)
}

// IsPlaceholderNPI reports whether s is the NPI placeholder. s should be
// normalized first.
func IsPlaceholderNPI(s string) bool { return s == PlaceholderNPI }

// IsPlaceholderLicense reports whether s is the license-number placeholder. s
// should be normalized first.
func IsPlaceholderLicense(s string) bool { return s == PlaceholderLicenseNumber }

// ValidLicenseNumber reports whether s is a well-formed state license number:
// 1 to MaxLicenseNumberLen ASCII letters and digits, nothing else (no spaces,
// dashes or other characters). PlaceholderLicenseNumber is valid.
func ValidLicenseNumber(s string) bool {
	if len(s) == 0 || len(s) > MaxLicenseNumberLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isASCIIAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isASCIIAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// states are the codes accepted as a license state: the 50 states, the
// District of Columbia and the inhabited territories with their own
// licensing boards (Puerto Rico, U.S. Virgin Islands, Guam, American Samoa,
// Northern Mariana Islands).
var states = map[string]bool{
	"AL": true, "AK": true, "AZ": true, "AR": true, "CA": true, "CO": true, "CT": true,
	"DE": true, "FL": true, "GA": true, "HI": true, "ID": true, "IL": true, "IN": true,
	"IA": true, "KS": true, "KY": true, "LA": true, "ME": true, "MD": true, "MA": true,
	"MI": true, "MN": true, "MS": true, "MO": true, "MT": true, "NE": true, "NV": true,
	"NH": true, "NJ": true, "NM": true, "NY": true, "NC": true, "ND": true, "OH": true,
	"OK": true, "OR": true, "PA": true, "RI": true, "SC": true, "SD": true, "TN": true,
	"TX": true, "UT": true, "VT": true, "VA": true, "WA": true, "WV": true, "WI": true,
	"WY": true,
	"DC": true,
	"PR": true, "VI": true, "GU": true, "AS": true, "MP": true,
}

// ValidState reports whether s is an upper-case two-letter code of a US
// state, the District of Columbia or a territory (PR, VI, GU, AS, MP).
func ValidState(s string) bool { return states[s] }

// States returns the accepted license-state codes, sorted.
func States() []string {
	out := make([]string, 0, len(states))
	for s := range states {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Normalize returns a credential value as it is validated and stored:
// surrounding white space removed and ASCII letters upper-cased (license
// numbers and states are compared without regard to case; an NPI has no
// letters). Non-ASCII characters are left alone, so that they are still
// refused by the validators rather than being mapped onto ASCII letters
// (strings.ToUpper would turn "ı" into "I"). Normalize is idempotent.
func Normalize(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Validate adds a userError for each malformed credential: INVALID_NPI on
// field "npi", INVALID_LICENSE_NUMBER on "licenseNumber" and
// INVALID_LICENSE_STATE on "licenseState". A nil pointer is not checked: the
// caller decides which credentials a profile requires and reports missing
// ones itself. Values are checked as given; normalize them first.
func Validate(errs *apperr.List, npi, licenseNumber, licenseState *string) {
	if npi != nil && !ValidNPI(*npi) {
		errs.Add("npi", InvalidNPI,
			"the NPI must be 10 digits with a valid check digit; use %s if it is unknown", PlaceholderNPI)
	}
	if licenseNumber != nil && !ValidLicenseNumber(*licenseNumber) {
		errs.Add("licenseNumber", InvalidLicenseNumber,
			"the license number must be 1 to %d letters and digits, without spaces or dashes; use %s if it is unknown",
			MaxLicenseNumberLen, PlaceholderLicenseNumber)
	}
	if licenseState != nil && !ValidState(*licenseState) {
		errs.Add("licenseState", InvalidLicenseState,
			"the license state must be the two-letter code of a US state or territory, such as CA, DC or PR")
	}
}
