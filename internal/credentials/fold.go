package credentials

// Accent folding tables for NormalizeName. The Go standard library has no
// Unicode normalization, so the letters of the Latin blocks most used in
// names are mapped onto their base letter here.
//
// foldLatin covers U+00C0..U+024F (Latin-1 Supplement letters, Latin
// Extended-A and -B) and foldLatinExt U+1E00..U+1EFF (Latin Extended
// Additional, e.g. Vietnamese). Each byte is the lower-case ASCII base letter
// of the code point at that offset, or '-' when there is none (the letter is
// then kept as it is, or found in foldMulti). The tables were generated from
// the Unicode Character Database: the canonical decomposition (NFD) of each
// code point with its combining marks removed, plus hand-picked bases for
// letters with a stroke, hook or bar that do not decompose (ø, đ, ł, ı, ſ...).
const foldLatin = "" +
	"aaaaaa-ceeeeiiiidnooooo-ouuuuy--aaaaaa-ceeeeiiiidnooooo-ouuuuy-y" +
	"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii--jjkkklllllll" +
	"lllnnnnnn-nnoooooo--rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs" +
	"bbbb--occdddd-e-effg---ikkl--nnooo--pp-----ttttuu-vyyzz---------" +
	"-------------aaiioouuuuuuuuuueaaaa--ggggkkoooo--j---gg--nnaa--oo" +
	"aaaaeeeeiiiioooorrrruuuusstt--hhnd--zzaaeeooooooooyylntj--acclts" +
	"z--bu-eejjqqrryy"
const foldLatinExt = "" +
	"aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmm" +
	"mmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvv" +
	"wwwwwwwwwwxxxxyyzzzzzzhtwyas----aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeee" +
	"eeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy------"

// foldMulti maps ligatures and letters whose base is more than one letter.
var foldMulti = map[rune]string{
	0x00C6: "ae", // Æ
	0x00DE: "th", // Þ
	0x00DF: "ss", // ß
	0x00E6: "ae", // æ
	0x00FE: "th", // þ
	0x0132: "ij", // Ĳ
	0x0133: "ij", // ĳ
	0x0149: "n",  // ŉ
	0x0152: "oe", // Œ
	0x0153: "oe", // œ
	0x0195: "hv", // ƕ
	0x01A2: "oi", // Ƣ
	0x01A3: "oi", // ƣ
	0x01C4: "dz", // Ǆ
	0x01C5: "dz", // ǅ
	0x01C6: "dz", // ǆ
	0x01C7: "lj", // Ǉ
	0x01C8: "lj", // ǈ
	0x01C9: "lj", // ǉ
	0x01CA: "nj", // Ǌ
	0x01CB: "nj", // ǋ
	0x01CC: "nj", // ǌ
	0x01E2: "ae", // Ǣ
	0x01E3: "ae", // ǣ
	0x01F1: "dz", // Ǳ
	0x01F2: "dz", // ǲ
	0x01F3: "dz", // ǳ
	0x01F6: "hv", // Ƕ
	0x01FC: "ae", // Ǽ
	0x01FD: "ae", // ǽ
	0x0238: "db", // ȸ
	0x0239: "qp", // ȹ
	0x1E9C: "s",  // ẜ
	0x1E9D: "s",  // ẝ
	0x1E9E: "ss", // ẞ
	0x1E9F: "d",  // ẟ
}

const (
	foldLatinLo    = 0x00C0
	foldLatinExtLo = 0x1E00
)

// foldRune returns the ASCII letters that r stands for once its accents are
// removed, and false when r is not a folded Latin letter.
func foldRune(r rune) (string, bool) {
	if r < foldLatinLo {
		return "", false
	}
	if s, ok := foldMulti[r]; ok {
		return s, true
	}
	var c byte = '-'
	switch {
	case r >= foldLatinLo && r < foldLatinLo+rune(len(foldLatin)):
		c = foldLatin[r-foldLatinLo]
	case r >= foldLatinExtLo && r < foldLatinExtLo+rune(len(foldLatinExt)):
		c = foldLatinExt[r-foldLatinExtLo]
	}
	if c == '-' {
		return "", false
	}
	return asciiLetters[c-'a' : c-'a'+1], true
}

const asciiLetters = "abcdefghijklmnopqrstuvwxyz"
