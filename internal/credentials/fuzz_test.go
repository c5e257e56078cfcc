package credentials_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/credentials"
)

// Seed corpora are also checked in under testdata/fuzz/<FuzzName>/; any
// input a fuzzer ever failed on is kept there as a regression seed.

func FuzzValidNPI(f *testing.F) {
	for _, s := range []string{
		"9999999995", "1234567893", "1245319599", "1234567890", "123456789", "12345678901",
		"12345 6789", "１２３４５６７８９３", "", "0000000000", "0000000006", " 1234567893",
		"123456789\x00", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, npi string) {
		valid := credentials.ValidNPI(npi)
		wellFormed := len(npi) == 10 && strings.Trim(npi, "0123456789") == ""
		if wellFormed {
			if want := cmsCheckDigit(npi[:9]) == npi[9]; valid != want {
				t.Fatalf("ValidNPI(%q) = %v, but the CMS check digit is %c", npi, valid, cmsCheckDigit(npi[:9]))
			}
		} else if valid {
			t.Fatalf("ValidNPI(%q) = true for something that is not 10 ASCII digits", npi)
		}

		var errs apperr.List
		credentials.Validate(&errs, &npi, nil, nil)
		if valid != (len(errs) == 0) {
			t.Fatalf("ValidNPI(%q) = %v but Validate reported %v", npi, valid, errs)
		}
		for _, e := range errs {
			if e.Code != credentials.InvalidNPI || e.Field == nil || *e.Field != "npi" {
				t.Fatalf("Validate(%q) reported %+v", npi, e)
			}
		}

		n := credentials.Normalize(npi)
		if credentials.Normalize(n) != n {
			t.Fatalf("Normalize is not idempotent on %q", npi)
		}
		if valid && n != npi {
			t.Fatalf("Normalize changed the valid NPI %q into %q", npi, n)
		}
		if credentials.IsPlaceholderNPI(npi) && !valid {
			t.Fatalf("placeholder %q is not valid", npi)
		}
	})
}

var licenseRE = regexp.MustCompile(`^[A-Za-z0-9]{1,20}$`)

func FuzzValidLicenseNumber(f *testing.F) {
	for _, s := range []string{
		"00000", "PT012345", "pt012345", "A", "12345678901234567890", "123456789012345678901",
		"", " ", "PT-12345", "PT 12345", "Ñ12345", "ıı", "１２３４５", "\x00", "\xff", " ca ", "CA", "ZZ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := credentials.ValidLicenseNumber(s)
		if want := licenseRE.MatchString(s); valid != want {
			t.Fatalf("ValidLicenseNumber(%q) = %v, want %v", s, valid, want)
		}
		if valid && len(s) > 40 { // the schema's MaxLen(40) on license_number
			t.Fatalf("valid license number %q is longer than the column", s)
		}

		n := credentials.Normalize(s)
		if credentials.Normalize(n) != n {
			t.Fatalf("Normalize is not idempotent on %q: %q then %q", s, n, credentials.Normalize(n))
		}
		if strings.ContainsAny(n, "abcdefghijklmnopqrstuvwxyz") {
			t.Fatalf("Normalize(%q) = %q still has lower-case ASCII letters", s, n)
		}
		if valid && !credentials.ValidLicenseNumber(n) {
			t.Fatalf("Normalize made the valid license number %q invalid: %q", s, n)
		}
		if credentials.ValidLicenseNumber(n) && !valid && !licenseRE.MatchString(strings.TrimSpace(s)) {
			t.Fatalf("Normalize made the invalid license number %q valid: %q", s, n)
		}
		if utf8.ValidString(s) && !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q is not valid UTF-8", s, n)
		}

		state := credentials.ValidState(s)
		if state && (len(s) != 2 || strings.ToUpper(s) != s || !licenseRE.MatchString(s)) {
			t.Fatalf("ValidState(%q) = true", s)
		}

		var errs apperr.List
		credentials.Validate(&errs, nil, &s, &s)
		want := 0
		if !valid {
			want++
		}
		if !state {
			want++
		}
		if len(errs) != want {
			t.Fatalf("Validate(license %q, state %q) reported %v", s, s, errs)
		}
	})
}

func FuzzNameSimilar(f *testing.F) {
	pairs := [][2]string{
		{"John Smith", "john smith"}, {"Smith, John", "John Smith"}, {"J. Smith", "John Smith"},
		{"Jon Smith", "Jonathan Smith"}, {"Bob Johnson", "Robert Johnson"}, {"José Núñez", "Jose Nunez"},
		{"Dr. Jane Doe, PT, DPT", "Jane Doe"}, {"Katherine Lee", "Katharine Lea"}, {"", ""},
		{"...", "John"}, {"Ｊｏｈｎ", "John"}, {"Straße", "Strasse"}, {"a\xffb", "a b"},
		{"Nguyễn Thị Đỗ", "Nguyen Do"}, {"otr l otr l", "l otr"}, {"Mr Mr", "Mr"},
	}
	for _, p := range pairs {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := credentials.NameSimilar(a, b), credentials.NameSimilar(b, a)
		if ab != ba {
			t.Fatalf("NameSimilar(%q, %q) = %v but NameSimilar(%q, %q) = %v", a, b, ab, b, a, ba)
		}
		na, nb := credentials.NormalizeName(a), credentials.NormalizeName(b)
		for _, x := range []struct{ s, n string }{{a, na}, {b, nb}} {
			if again := credentials.NormalizeName(x.n); again != x.n {
				t.Fatalf("NormalizeName is not idempotent on %q: %q then %q", x.s, x.n, again)
			}
			if !utf8.ValidString(x.n) || strings.HasPrefix(x.n, " ") || strings.HasSuffix(x.n, " ") ||
				strings.Contains(x.n, "  ") {
				t.Fatalf("NormalizeName(%q) = %q", x.s, x.n)
			}
			if self := credentials.NameSimilar(x.s, x.s); self != (x.n != "") {
				t.Fatalf("NameSimilar(%q, itself) = %v", x.s, self)
			}
		}
		if (na == "" || nb == "") && ab {
			t.Fatalf("NameSimilar(%q, %q) = true with an empty name", a, b)
		}
		if na == nb && na != "" && !ab {
			t.Fatalf("NameSimilar(%q, %q) = false for equal normalized names", a, b)
		}
		if normalized := credentials.NameSimilar(na, nb); normalized != ab {
			t.Fatalf("NameSimilar(%q, %q) = %v but %v on the normalized names %q, %q", a, b, ab, normalized, na, nb)
		}
	})
}

func FuzzLevenshteinWithin(f *testing.F) {
	f.Add("kitten", "sitting", 2)
	f.Add("", "ab", 2)
	f.Add("jon smith", "john smith", 1)
	f.Add("ñandú", "nandu", 0)
	f.Fuzz(func(t *testing.T, a, b string, k int) {
		if len(a) > 64 || len(b) > 64 || k < 0 || k > 8 {
			return // the reference implementation is quadratic
		}
		d := levenshtein(a, b)
		if got := credentials.LevenshteinWithin(a, b, k); got != (d <= k) {
			t.Fatalf("LevenshteinWithin(%q, %q, %d) = %v, distance is %d", a, b, k, got, d)
		}
	})
}
