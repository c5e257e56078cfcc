package credentials_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/credentials"
)

// cmsCheckDigit computes an NPI check digit the way the CMS NPI standard
// describes it, independently of the package's Luhn code: double the
// alternate digits of the first nine starting with the first, add the digits
// of the products to the other digits, add 24 (the contribution of the
// 80840 prefix), and take the distance to the next multiple of ten.
func cmsCheckDigit(first9 string) byte {
	sum := 24
	for i := 0; i < 9; i++ {
		d := int(first9[i] - '0')
		if i%2 == 0 {
			d *= 2
			sum += d/10 + d%10
		} else {
			sum += d
		}
	}
	return byte('0' + (10-sum%10)%10)
}

func TestValidNPI(t *testing.T) {
	tests := []struct {
		npi  string
		want bool
	}{
		{"9999999995", true}, // the placeholder
		{"1234567893", true}, // the CMS example
		{"1245319599", true},
		{"1003000126", true},
		{"0000000006", true},
		{"1234567890", false}, // wrong check digit
		{"9999999990", false},
		{"9999999996", false},
		{"1245319590", false},
		{"123456789", false},   // 9 digits
		{"12345678901", false}, // 11 digits
		{"12345678931", false},
		{"12345 6789", false},
		{"1234-56789", false},
		{" 1234567893", false}, // not normalized
		{"1234567893 ", false},
		{"１２３４５６７８９３", false}, // full-width digits
		{"١٢٣٤٥٦٧٨٩٣", false}, // Arabic-Indic digits
		{"123456789a", false},
		{"abcdefghij", false},
		{"+234567893", false},
		{"", false},
		{"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", false},
	}
	for _, tt := range tests {
		if got := credentials.ValidNPI(tt.npi); got != tt.want {
			t.Errorf("ValidNPI(%q) = %v, want %v", tt.npi, got, tt.want)
		}
	}
}

// TestNPICheckDigit checks, for many first-nine-digit prefixes, that exactly
// one final digit makes a valid NPI and that it is the CMS check digit.
func TestNPICheckDigit(t *testing.T) {
	for n := 0; n < 1_000_000_000; n += 99_991 {
		first9 := strings.Repeat("0", 9-len(itoa(n))) + itoa(n)
		valid := 0
		for d := byte('0'); d <= '9'; d++ {
			npi := first9 + string(d)
			if credentials.ValidNPI(npi) {
				valid++
				if d != cmsCheckDigit(first9) {
					t.Fatalf("ValidNPI(%q) = true, CMS check digit is %c", npi, cmsCheckDigit(first9))
				}
			}
		}
		if valid != 1 {
			t.Fatalf("%d valid check digits for %s, want 1", valid, first9)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestPlaceholders(t *testing.T) {
	if !credentials.ValidNPI(credentials.PlaceholderNPI) {
		t.Errorf("the NPI placeholder %s is not a valid NPI", credentials.PlaceholderNPI)
	}
	if !credentials.ValidLicenseNumber(credentials.PlaceholderLicenseNumber) {
		t.Errorf("the license placeholder %s is not a valid license number", credentials.PlaceholderLicenseNumber)
	}
	npis := []struct {
		s    string
		want bool
	}{
		{"9999999995", true},
		{" 9999999995", false},
		{"9999999999", false},
		{"1234567893", false},
		{"", false},
	}
	for _, tt := range npis {
		if got := credentials.IsPlaceholderNPI(tt.s); got != tt.want {
			t.Errorf("IsPlaceholderNPI(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
	licenses := []struct {
		s    string
		want bool
	}{
		{"00000", true},
		{"0000", false},
		{"000000", false},
		{"00000 ", false},
		{"O0000", false},
		{"A12345", false},
		{"", false},
	}
	for _, tt := range licenses {
		if got := credentials.IsPlaceholderLicense(tt.s); got != tt.want {
			t.Errorf("IsPlaceholderLicense(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
	if !credentials.IsPlaceholderNPI(credentials.Normalize(" 9999999995\t")) ||
		!credentials.IsPlaceholderLicense(credentials.Normalize(" 00000 ")) {
		t.Error("normalized placeholders are not recognized")
	}
}

func TestValidLicenseNumber(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"00000", true},
		{"A", true},
		{"7", true},
		{"PT012345", true},
		{"pt012345", true},
		{"AbC123xYz", true},
		{"12345678901234567890", true}, // 20 characters
		{"ABCDEFGHIJKLMNOPQRST", true},
		{"123456789012345678901", false}, // 21 characters
		{"", false},
		{" ", false},
		{"PT 12345", false},
		{"PT-12345", false},
		{"PT.12345", false},
		{"12345 ", false},
		{" 12345", false},
		{"PT#1", false},
		{"Ñ12345", false}, // non-ASCII letter
		{"É", false},
		{"ı1", false},
		{"１２３４５", false}, // full-width digits
		{"12\x0045", false},
		{"12\xff45", false},
	}
	for _, tt := range tests {
		if got := credentials.ValidLicenseNumber(tt.s); got != tt.want {
			t.Errorf("ValidLicenseNumber(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

var allStates = []string{
	"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY",
	"LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND",
	"OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
	"DC", "PR", "VI", "GU", "AS", "MP",
}

func TestValidState(t *testing.T) {
	if len(allStates) != 56 {
		t.Fatalf("test table has %d codes, want 56", len(allStates))
	}
	for _, s := range allStates {
		if !credentials.ValidState(s) {
			t.Errorf("ValidState(%q) = false, want true", s)
		}
		if lower := strings.ToLower(s); credentials.ValidState(lower) {
			t.Errorf("ValidState(%q) = true, want false (lower case)", lower)
		}
		if !credentials.ValidState(credentials.Normalize(" " + strings.ToLower(s) + " ")) {
			t.Errorf("normalized %q is not valid", s)
		}
	}
	for _, s := range []string{"", "C", "CAL", "Ca", "cA", " CA", "CA ", "XX", "ZZ", "UK", "ON", "BC",
		"AA", "AE", "AP", "FM", "MH", "PW", "UM", "US", "ＣＡ", "C\x00"} {
		if credentials.ValidState(s) {
			t.Errorf("ValidState(%q) = true, want false", s)
		}
	}
}

func TestStates(t *testing.T) {
	got := credentials.States()
	want := slices.Clone(allStates)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("States() = %v, want %v", got, want)
	}
	got[0] = "XX" // a copy: changing it changes nothing
	if credentials.ValidState("XX") || credentials.States()[0] != want[0] {
		t.Error("States() returned the package's own slice")
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"1234567893", "1234567893"},
		{" 1234567893\n", "1234567893"},
		{"\t00000 ", "00000"},
		{"pt012345", "PT012345"},
		{" aBc123 ", "ABC123"},
		{"ca", "CA"},
		{" ny\r\n", "NY"},
		{"a b", "A B"},           // inner spaces stay (and are refused)
		{"\u00a0ab\u3000", "AB"}, // Unicode white space is trimmed
		{"ıstanbul", "ıSTANBUL"}, // non-ASCII letters are not mapped onto ASCII
		{"ß1", "ß1"},
		{"é1", "é1"},
	}
	for _, tt := range tests {
		got := credentials.Normalize(tt.in)
		if got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := credentials.Normalize(got); again != got {
			t.Errorf("Normalize is not idempotent on %q: %q then %q", tt.in, got, again)
		}
	}
	if credentials.ValidLicenseNumber(credentials.Normalize("ıı")) {
		t.Error(`Normalize("ıı") became a valid license number`)
	}
}

func ptr(s string) *string { return &s }

func TestValidate(t *testing.T) {
	type want struct {
		field string
		code  apperr.Code
	}
	tests := []struct {
		name                string
		npi, license, state *string
		want                []want
	}{
		{name: "all nil"},
		{name: "all valid", npi: ptr("1234567893"), license: ptr("PT012345"), state: ptr("CA")},
		{name: "placeholders", npi: ptr("9999999995"), license: ptr("00000"), state: ptr("DC")},
		{name: "bad npi", npi: ptr("1234567890"),
			want: []want{{"npi", credentials.InvalidNPI}}},
		{name: "empty npi", npi: ptr(""),
			want: []want{{"npi", credentials.InvalidNPI}}},
		{name: "bad license", npi: ptr("1234567893"), license: ptr("PT-012345"),
			want: []want{{"licenseNumber", credentials.InvalidLicenseNumber}}},
		{name: "bad state", state: ptr("ca"),
			want: []want{{"licenseState", credentials.InvalidLicenseState}}},
		{name: "all bad", npi: ptr("123"), license: ptr(""), state: ptr("XX"),
			want: []want{
				{"npi", credentials.InvalidNPI},
				{"licenseNumber", credentials.InvalidLicenseNumber},
				{"licenseState", credentials.InvalidLicenseState},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs apperr.List
			credentials.Validate(&errs, tt.npi, tt.license, tt.state)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %v", len(errs), errs, tt.want)
			}
			for i, e := range errs {
				if e.Field == nil || *e.Field != tt.want[i].field || e.Code != tt.want[i].code {
					t.Errorf("error %d = %+v, want field %q code %s", i, e, tt.want[i].field, tt.want[i].code)
				}
				if e.Message == "" {
					t.Errorf("error %d has no message", i)
				}
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	var errs apperr.List
	credentials.Validate(&errs, ptr("x"), ptr("x-1"), ptr("x"))
	if len(errs) != 3 {
		t.Fatalf("got %d errors, want 3", len(errs))
	}
	if m := errs[0].Message; !strings.Contains(m, "10 digits") || !strings.Contains(m, credentials.PlaceholderNPI) {
		t.Errorf("NPI message %q does not explain the rule and the placeholder", m)
	}
	if m := errs[1].Message; !strings.Contains(m, "letters and digits") || !strings.Contains(m, credentials.PlaceholderLicenseNumber) {
		t.Errorf("license message %q does not explain the rule and the placeholder", m)
	}
	if m := errs[2].Message; !strings.Contains(m, "two-letter") {
		t.Errorf("state message %q does not explain the rule", m)
	}
	// Validate appends to what is already there.
	errs = apperr.List{apperr.New("username", apperr.Required, "a username is required")}
	credentials.Validate(&errs, ptr("1"), nil, nil)
	if len(errs) != 2 || errs[1].Code != credentials.InvalidNPI {
		t.Errorf("Validate did not append: %v", errs)
	}
}

func TestCodes(t *testing.T) {
	if credentials.InvalidNPI != "INVALID_NPI" || credentials.InvalidLicenseNumber != "INVALID_LICENSE_NUMBER" ||
		credentials.InvalidLicenseState != "INVALID_LICENSE_STATE" {
		t.Error("the userError codes changed; clients depend on them")
	}
}
