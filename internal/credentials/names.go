package credentials

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizeName returns a person's name in the form names are compared in for
// the duplicate-provider check (R14):
//
//   - letters are lower-cased, and full-width Latin letters and digits
//     (U+FF01..U+FF5E) are read as their ASCII forms;
//   - accents are removed: precomposed Latin letters are mapped onto their
//     base letters ("é" → "e", "ø" → "o", "ß" → "ss", "Æ" → "ae") and
//     combining marks (Unicode categories Mn, Me) are dropped;
//   - apostrophes and invisible format characters (category Cf: soft hyphen,
//     zero-width space and joiners) are dropped without splitting the word,
//     so "O'Brien" and "OBrien" are the same;
//   - every other character that is not a letter, a decimal digit or a
//     spacing mark (Mc) is a word separator: hyphens, periods, commas, white
//     space, symbols, and bytes that are not valid UTF-8;
//   - words are joined by single spaces, with none at either end.
//
// NormalizeName is idempotent. It returns "" for a name without letters or
// digits.
func NormalizeName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	pendingSpace := false
	for _, r := range s {
		if r < utf8.RuneSelf { // ASCII fast path
			switch {
			case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
			case 'A' <= r && r <= 'Z':
				r += 'a' - 'A'
			case r == '\'' || r == '`':
				continue
			default:
				pendingSpace = true
				continue
			}
			if pendingSpace && b.Len() > 0 {
				b.WriteByte(' ')
			}
			pendingSpace = false
			b.WriteByte(byte(r))
			continue
		}
		if 0xFF01 <= r && r <= 0xFF5E {
			r -= 0xFF01 - '!'
		}
		switch {
		case isApostrophe(r) || unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mc, r):
			if pendingSpace && b.Len() > 0 {
				b.WriteByte(' ')
			}
			pendingSpace = false
			lr := unicode.ToLower(r)
			if f, ok := foldRune(lr); ok {
				b.WriteString(f)
			} else if f, ok := foldRune(r); ok {
				b.WriteString(f)
			} else {
				b.WriteRune(lr)
			}
		default:
			pendingSpace = true
		}
	}
	return b.String()
}

func isApostrophe(r rune) bool {
	switch r {
	case '\'', '`', '\u00B4', '\u2018', '\u2019', '\u201B', '\u02BC', '\u2032':
		return true
	}
	return false
}

// NameSimilar reports whether two full names may belong to the same person,
// for the duplicate-provider check (R14). It is deterministic, symmetric
// (NameSimilar(a, b) == NameSimilar(b, a)) and reflexive for every name with
// at least one letter or digit. Both names are normalized with NormalizeName
// (case, accents, punctuation and spacing do not count); a name that
// normalizes to "" is similar to nothing. Then the names are similar when any
// of these holds:
//
//  1. they are equal;
//  2. they are equal once leading titles ("Dr", "Mrs"...) and trailing
//     generational suffixes and credentials ("Jr", "III", "PT", "DPT",
//     "OTR/L", "MS", "CCC-SLP"...) are removed — only while at least two words
//     remain, so "Minh Do" keeps its "Do"; the rules below also use the names
//     without them;
//  3. they have the same words in another order ("Smith John" and
//     "John Smith", "Smith, John A." and "John A. Smith");
//  4. both are longer than 5 characters and their Levenshtein distance (on
//     the normalized strings, in characters, spaces included) is at most 2
//     ("Jon Smith" and "John Smith", "Katherine Lee" and "Katharine Lea");
//  5. both have at least two words, their last words (the last names) are
//     equal, and their first words (the first names) match: equal, one a
//     prefix of the other — which covers initials and short forms ("J." and
//     "John", "Jon" and "Jonathan", "Chris" and "Christine") — or both in the
//     same group of a small table of common English nicknames ("Bob" and
//     "Robert", "Peggy" and "Margaret"). Middle names are ignored. The same
//     is tried with one name's first and last words swapped, so "Smith, J."
//     matches "John Smith".
//
// The heuristics deliberately err towards "similar": the result only lists
// candidates for a person to review.
func NameSimilar(a, b string) bool {
	na, nb := NormalizeName(a), NormalizeName(b)
	if na == "" || nb == "" {
		return false
	}
	if na == nb {
		return true
	}
	wa, wb := nameWords(na), nameWords(nb)
	ja, jb := strings.Join(wa, " "), strings.Join(wb, " ")
	if ja == jb || sameWords(wa, wb) {
		return true
	}
	if runeCount(ja) > 5 && runeCount(jb) > 5 && levenshteinWithin(ja, jb, 2) {
		return true
	}
	return firstLastMatch(wa, wb)
}

// titles are dropped from the start of a name, suffixes from its end.
var (
	titles = map[string]bool{
		"mr": true, "mrs": true, "ms": true, "miss": true, "mx": true, "dr": true, "prof": true,
	}
	suffixes = map[string]bool{
		"jr": true, "sr": true, "ii": true, "iii": true, "iv": true,
		"md": true, "phd": true, "dpt": true, "pt": true, "pta": true,
		"ot": true, "otd": true, "otr": true, "otrl": true, "cota": true,
		"slp": true, "slpa": true, "ccc": true, "rn": true,
		"ms": true, "msc": true, "mpt": true, "mot": true, "mspt": true, "msot": true,
	}
)

// nameWords splits a normalized name into words, without titles and suffixes
// as long as two words remain.
func nameWords(n string) []string {
	w := strings.Split(n, " ")
	for len(w) > 2 && titles[w[0]] {
		w = w[1:]
	}
	for len(w) > 2 {
		last := w[len(w)-1]
		switch {
		case suffixes[last]:
			w = w[:len(w)-1]
		case last == "l" && w[len(w)-2] == "otr": // OTR/L
			w = w[:len(w)-2]
		default:
			return w
		}
	}
	return w
}

func sameWords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	sa := append([]string(nil), a...)
	sb := append([]string(nil), b...)
	sort.Strings(sa)
	sort.Strings(sb)
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}

// firstLastMatch is rule 5 of NameSimilar.
func firstLastMatch(a, b []string) bool {
	if len(a) < 2 || len(b) < 2 {
		return false
	}
	fa, la := a[0], a[len(a)-1]
	fb, lb := b[0], b[len(b)-1]
	match := func(first1, last1, first2, last2 string) bool {
		return last1 == last2 && firstNamesMatch(first1, first2)
	}
	return match(fa, la, fb, lb) || match(la, fa, fb, lb) || match(fa, la, lb, fb)
}

func firstNamesMatch(x, y string) bool {
	if strings.HasPrefix(x, y) || strings.HasPrefix(y, x) {
		return true
	}
	for _, gx := range nicknameIndex[x] {
		for _, gy := range nicknameIndex[y] {
			if gx == gy {
				return true
			}
		}
	}
	return false
}

// nicknameGroups are common English given names with their usual short forms
// and spelling variants; two first names match when they share a group. Short
// forms that are a prefix of the name ("Jon", "Alex") need no entry.
var nicknameGroups = [][]string{
	{"robert", "bob", "bobby", "rob", "robbie", "bert"},
	{"william", "bill", "billy", "will", "willie", "liam"},
	{"richard", "rick", "ricky", "dick", "rich", "richie"},
	{"james", "jim", "jimmy", "jamie"},
	{"john", "jack", "johnny", "jon", "jonathan"},
	{"elizabeth", "liz", "lizzie", "beth", "betty", "betsy", "eliza", "lisa", "libby"},
	{"margaret", "maggie", "meg", "peggy", "marge", "margie", "greta"},
	{"katherine", "catherine", "kathryn", "kate", "katie", "kathy", "cathy", "kat", "kay"},
	{"edward", "ed", "eddie", "ted", "ned"},
	{"theodore", "ted", "teddy", "theo"},
	{"charles", "charlie", "chuck", "chas"},
	{"thomas", "tom", "tommy"},
	{"joseph", "joe", "joey"},
	{"michael", "mike", "mikey", "mick"},
	{"christopher", "chris", "kit"},
	{"christine", "christina", "kristine", "kristina", "chris", "tina"},
	{"daniel", "dan", "danny"},
	{"david", "dave", "davy"},
	{"anthony", "antony", "tony"},
	{"jennifer", "jen", "jenny"},
	{"patricia", "pat", "patty", "trish", "tricia"},
	{"patrick", "pat", "paddy"},
	{"susan", "sue", "susie", "suzanne"},
	{"deborah", "debra", "deb", "debbie"},
	{"rebecca", "becky", "becca"},
	{"alexander", "alex", "xander", "sandy"},
	{"alexandra", "alex", "sandra", "sandy"},
	{"nicholas", "nick", "nicky"},
	{"steven", "stephen", "steve"},
	{"benjamin", "ben", "benny"},
	{"samuel", "sam", "sammy"},
	{"samantha", "sam", "sammy"},
	{"andrew", "andy", "drew"},
	{"matthew", "matt"},
	{"timothy", "tim", "timmy"},
	{"gregory", "greg"},
	{"kenneth", "ken", "kenny"},
	{"lawrence", "laurence", "larry"},
	{"henry", "hank", "harry"},
	{"harold", "harry", "hal"},
	{"francis", "frances", "frank", "fran"},
	{"gerald", "gerry", "jerry"},
	{"peter", "pete"},
	{"victoria", "vicky", "tori"},
	{"abigail", "abby"},
	{"jacqueline", "jackie"},
	{"dorothy", "dot", "dottie"},
	{"virginia", "ginny"},
	{"ronald", "ron", "ronnie"},
	{"donald", "don", "donnie"},
	{"raymond", "ray"},
	{"eugene", "gene"},
	{"leonard", "len", "lenny", "leo"},
	{"barbara", "barb", "babs"},
	{"pamela", "pam"},
	{"cynthia", "cindy"},
	{"jessica", "jess", "jessie"},
	{"joshua", "josh"},
	{"zachary", "zach", "zack"},
	{"nathaniel", "nathan", "nate"},
	{"jeffrey", "geoffrey", "jeff"},
	{"philip", "phillip", "phil"},
	{"frederick", "fred", "freddie"},
	{"albert", "al", "bert"},
	{"mary", "molly", "polly", "mae"},
	{"sarah", "sara", "sally"},
	{"ann", "anne", "anna", "annie", "nancy"},
	{"caroline", "carolyn", "carol", "carrie"},
	{"judith", "judy"},
	{"teresa", "theresa", "terri", "tess"},
}

// nicknameIndex maps a given name to the indexes of its groups.
var nicknameIndex = func() map[string][]int {
	idx := make(map[string][]int)
	for i, g := range nicknameGroups {
		for _, n := range g {
			idx[n] = append(idx[n], i)
		}
	}
	return idx
}()

func runeCount(s string) int { return len([]rune(s)) }

// levenshteinWithin reports whether the Levenshtein distance between a and b
// (insertions, deletions and substitutions of characters) is at most k. It
// only computes the diagonal band of width 2k+1 of the distance matrix, so it
// takes O(len·k) time however long the strings are.
func levenshteinWithin(a, b string, k int) bool {
	ra, rb := []rune(a), []rune(b)
	n, m := len(ra), len(rb)
	if n-m > k || m-n > k {
		return false
	}
	inf := k + 1 // any distance above k
	prev := make([]int, m+1)
	cur := make([]int, m+1)
	for j := range prev {
		prev[j] = min(j, inf)
	}
	for i := 1; i <= n; i++ {
		lo, hi := max(1, i-k), min(m, i+k)
		if lo == 1 {
			cur[0] = min(i, inf)
		} else {
			cur[lo-1] = inf
		}
		best := cur[lo-1]
		for j := lo; j <= hi; j++ {
			d := prev[j-1]
			if ra[i-1] != rb[j-1] {
				d++
			}
			d = min(d, prev[j]+1, cur[j-1]+1, inf)
			cur[j] = d
			best = min(best, d)
		}
		if hi < m {
			cur[hi+1] = inf
		}
		if best > k {
			return false
		}
		prev, cur = cur, prev
	}
	return prev[m] <= k
}
