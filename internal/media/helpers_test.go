package media_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// pattern is a w×h image with some detail, so it does not compress to
// nothing.
func pattern(w, h int, noise bool) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{uint8(x * 7), uint8(y * 5), uint8(x ^ y), 255}
			if noise {
				c.R, c.G, c.B = uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256))
			}
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, pattern(w, h, false)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func noisyPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, pattern(w, h, true)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, pattern(w, h, false), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gifOf(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, pattern(w, h, false), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	_ = binary.Write(&b, binary.BigEndian, crc.Sum32())
	return b.Bytes()
}

// withChunk inserts an ancillary chunk right after the IHDR of a PNG.
func withChunk(p []byte, typ string, data []byte) []byte {
	const afterIHDR = 8 + 8 + 13 + 4
	out := append([]byte{}, p[:afterIHDR]...)
	out = append(out, pngChunk(typ, data)...)
	return append(out, p[afterIHDR:]...)
}

// pngOfSize is a valid square PNG padded with a tEXt chunk to exactly n bytes.
func pngOfSize(t testing.TB, n int) []byte {
	t.Helper()
	base := pngOf(t, 16, 16)
	pad := n - len(base) - 12 - len("Comment\x00")
	if pad < 0 {
		t.Fatalf("cannot pad to %d", n)
	}
	p := withChunk(base, "tEXt", append([]byte("Comment\x00"), bytes.Repeat([]byte("x"), pad)...))
	if len(p) != n {
		t.Fatalf("padded PNG is %d bytes, want %d", len(p), n)
	}
	return p
}

// pngBomb is a tiny PNG whose header (with a correct CRC) claims w×h RGBA
// pixels, followed by a small IDAT and IEND.
func pngBomb(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	// zlib of a few zero bytes: a real bomb would be ~1000:1 more of these.
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01})...)
	return append(out, pngChunk("IEND", nil)...)
}

// progressiveJPEG crafts a dim×dim grayscale progressive JPEG (dim a
// multiple of 8) of one DC scan and acScans AC scans, each a handful of
// bytes (an end-of-band run over every block) yet walking every block when
// decoded.
func progressiveJPEG(dim, acScans int) []byte {
	seg := func(m byte, p ...byte) []byte {
		l := len(p) + 2
		return append([]byte{0xff, m, byte(l >> 8), byte(l)}, p...)
	}
	f := []byte{0xff, 0xd8}
	f = append(f, seg(0xdb, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...)...)
	f = append(f, seg(0xc2, 8, byte(dim>>8), byte(dim), byte(dim>>8), byte(dim), 1, 1, 0x11, 0)...)
	counts := make([]byte, 16)
	counts[0] = 1                                                                 // one code of length 1
	f = append(f, seg(0xc4, append(append([]byte{0x00}, counts...), 0x00)...)...) // DC: diff 0
	f = append(f, seg(0xc4, append(append([]byte{0x10}, counts...), 0xe0)...)...) // AC: EOB14
	blocks := (dim / 8) * (dim / 8)
	f = append(f, seg(0xda, 1, 1, 0x00, 0, 0, 0)...)
	f = append(f, make([]byte, (blocks+7)/8)...) // one 0 bit a block

	// Each EOB14 symbol ("0" + 14 one bits) skips 32767 blocks.
	var bits []byte
	for left := blocks; left > 0; left -= 32767 {
		bits = append(bits, 0)
		for range 14 {
			bits = append(bits, 1)
		}
	}
	for len(bits)%8 != 0 {
		bits = append(bits, 1)
	}
	var ac []byte
	for i := 0; i < len(bits); i += 8 {
		var c byte
		for _, b := range bits[i : i+8] {
			c = c<<1 | b
		}
		ac = append(ac, c)
		if c == 0xff {
			ac = append(ac, 0x00)
		}
	}
	for range acScans {
		f = append(f, seg(0xda, 1, 1, 0x00, 1, 63, 0)...)
		f = append(f, ac...)
	}
	return append(f, 0xff, 0xd9)
}
