package credentials_test

import (
	"testing"
	"unicode/utf8"

	"github.com/clinicemr/usermanager/internal/credentials"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  ", ""},
		{"-.,'", ""},
		{"John Smith", "john smith"},
		{"  JOHN   SMITH  ", "john smith"},
		{"john\tsmith\n", "john smith"},
		{"Smith, John A.", "smith john a"},
		{"J. R. R. Tolkien", "j r r tolkien"},
		{"O'Brien", "obrien"},
		{"O’Brien", "obrien"},
		{"Mary-Jane Watson", "mary jane watson"},
		{"José Núñez", "jose nunez"},
		{"Jose\u0301 Nu\u0303n\u0303ez", "jose nunez"}, // decomposed accents
		{"Zoë Ångström", "zoe angstrom"},
		{"François Lefèvre", "francois lefevre"},
		{"Søren Kierkegaard", "soren kierkegaard"},
		{"Łukasz Żółć", "lukasz zolc"},
		{"Straße", "strasse"},
		{"ẞTRASSE", "sstrasse"},
		{"Æsa Œberg", "aesa oeberg"},
		{"Nguyễn Thị Đỗ", "nguyen thi do"},
		{"Ştefan Ţurcanu", "stefan turcanu"},
		{"İlknur Işık", "ilknur isik"},
		{"Ｊｏｈｎ　Ｓｍｉｔｈ", "john smith"},             // full width
		{"Jo\u00adhn Smi\u200bth", "john smith"}, // soft hyphen, zero-width space
		{"Дмитрий Иванов", "дмитрий иванов"},
		{"王 小明", "王 小明"},
		{"John Smith III", "john smith iii"},
		{"Jane Doe, PT, DPT", "jane doe pt dpt"},
		{"A\xffB", "a b"}, // invalid UTF-8 separates words
		{"R2-D2", "r2 d2"},
	}
	for _, tt := range tests {
		got := credentials.NormalizeName(tt.in)
		if got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := credentials.NormalizeName(got); again != got {
			t.Errorf("NormalizeName is not idempotent on %q: %q then %q", tt.in, got, again)
		}
	}
}

// TestNormalizeNameEveryRune checks idempotence and valid UTF-8 output for
// every code point, alone and between two letters.
func TestNormalizeNameEveryRune(t *testing.T) {
	step := rune(1)
	if testing.Short() {
		step = 7
	}
	for r := rune(0); r <= utf8.MaxRune; r += step {
		for _, s := range []string{string(r), "a" + string(r) + "b"} {
			n := credentials.NormalizeName(s)
			if !utf8.ValidString(n) {
				t.Fatalf("NormalizeName(%q) = %q, not valid UTF-8", s, n)
			}
			if again := credentials.NormalizeName(n); again != n {
				t.Fatalf("NormalizeName is not idempotent on %q (U+%04X): %q then %q", s, r, n, again)
			}
		}
	}
}

func TestNameSimilar(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		// 1. equal after normalization
		{"John Smith", "john smith", true},
		{"  JOHN  SMITH ", "John Smith", true},
		{"José Núñez", "Jose Nunez", true},
		{"O'Brien Kelly", "OBrien Kelly", true},
		{"Zoë", "zoe", true},
		// 2. titles and suffixes
		{"Dr. John Smith", "John Smith", true},
		{"John Smith Jr.", "John Smith", true},
		{"Jane Doe, PT, DPT", "Jane Doe", true},
		{"Jane Doe, OTR/L", "Jane Doe", true},
		{"Ana Ruiz, MS, CCC-SLP", "Ana Ruiz", true},
		{"Dr. Ana Ruiz, MS, CCC-SLP", "Ruiz, Ana", true},
		{"Minh Do", "Minh", false}, // "Do" is kept: only one word would remain
		// 3. same words, another order
		{"Smith John", "John Smith", true},
		{"Smith, John A.", "John A. Smith", true},
		{"Lee Min Ho", "Ho Min Lee", true},
		// 4. Levenshtein distance <= 2 for names longer than 5 characters
		{"Jon Smith", "John Smith", true},
		{"Katherine Lee", "Katharine Lea", true},
		{"Jane Smyth", "Jane Smith", true},
		{"Ann Li", "Ann Lu", true},
		{"Stephanie Gonzales", "Stephanie Gonzalez", true},
		{"Ann", "Anna", false},               // too short for rule 4
		{"Bob Li", "Rob Lu", true},           // distance 2: rule 4 is generous
		{"Bob Lin", "Rob Luo", false},        // distance 3
		{"Jane Smith", "Jake Smoth", true},   // distance 2
		{"Jane Smith", "Jake Smythe", false}, // distance 3
		// 5. same last name, first names prefix, initial or nickname
		{"J. Smith", "John Smith", true},
		{"J Smith", "Jane Smith", true},
		{"Jon Smithson", "Jonathan Smithson", true},
		{"Chris Evans", "Christine Evans", true},
		{"Bob Johnson", "Robert Johnson", true},
		{"Peggy Olson", "Margaret Olson", true},
		{"Bill Gates", "William H. Gates", true},
		{"John Q. Public", "John Public", true}, // middle name ignored
		{"Smith, J.", "John Smith", true},       // swapped and an initial
		{"Kate Winslet", "Catherine Winslet", true},
		{"Tom Hanks", "Timothy Hanks", false},
		{"Robert Johnson", "Roberta Johnston", true}, // distance 2
		{"Robert Johnson", "Roberta Johnstone", false},
		{"John Smith", "Jane Doe", false},
		{"Maria Garcia", "Mario Garcia", true}, // rule 4: distance 1
		{"Mary Garcia", "Marta Garcia", true},  // rule 4: distance 2
		{"Mary Garcia", "Maribel Garcia", false},
		{"J. Smith", "K. Smith", true}, // distance 1
		{"J. Smithers", "K. Smith", false},
		{"Smith", "John Smith", false},
		// empty names are similar to nothing
		{"", "", false},
		{"...", "...", false},
		{"", "John", false},
		{"-", "John Smith", false},
	}
	for _, tt := range tests {
		if got := credentials.NameSimilar(tt.a, tt.b); got != tt.want {
			t.Errorf("NameSimilar(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := credentials.NameSimilar(tt.b, tt.a); got != tt.want {
			t.Errorf("NameSimilar(%q, %q) = %v, want %v (swapped arguments)", tt.b, tt.a, got, tt.want)
		}
		for _, s := range []string{tt.a, tt.b} {
			if credentials.NormalizeName(s) != "" && !credentials.NameSimilar(s, s) {
				t.Errorf("NameSimilar(%q, itself) = false", s)
			}
		}
	}
}

// levenshtein is the textbook full-matrix distance, to check the banded one.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
		}
	}
	return d[len(ra)][len(rb)]
}

func TestLevenshteinWithin(t *testing.T) {
	words := []string{"", "a", "ab", "ba", "abc", "kitten", "sitting", "sittin", "saturday", "sunday",
		"jon smith", "john smith", "jane smyth", "ñandú", "nandu", "abcdef", "fedcba", "aaaaaa", "aaaa"}
	for _, a := range words {
		for _, b := range words {
			d := levenshtein(a, b)
			for k := 0; k <= 4; k++ {
				if got := credentials.LevenshteinWithin(a, b, k); got != (d <= k) {
					t.Errorf("LevenshteinWithin(%q, %q, %d) = %v, distance is %d", a, b, k, got, d)
				}
			}
		}
	}
}

func BenchmarkNameSimilar(b *testing.B) {
	for b.Loop() {
		credentials.NameSimilar("Dr. Jane Doe, PT, DPT", "Jane Doe")
		credentials.NameSimilar("Katherine Lee", "Katharine Lea")
		credentials.NameSimilar("José Núñez", "John Smith")
	}
}
