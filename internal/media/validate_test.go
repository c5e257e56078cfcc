package media_test

import (
	"bytes"
	"errors"
	"image/jpeg"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/media"
)

type validator func(io.Reader, int64) (media.Image, apperr.List)

func codes(errs apperr.List) []apperr.Code {
	var out []apperr.Code
	for _, e := range errs {
		out = append(out, e.Code)
	}
	return out
}

func checkFields(t *testing.T, errs apperr.List) {
	t.Helper()
	for _, e := range errs {
		if e.Field == nil || *e.Field != "file" {
			t.Errorf("error %q has field %v, want \"file\"", e.Message, e.Field)
		}
		if e.Message == "" {
			t.Errorf("error %s has no message", e.Code)
		}
	}
}

func TestValidate(t *testing.T) {
	bmpData := func() []byte {
		var b bytes.Buffer
		if err := bmp.Encode(&b, pattern(8, 8, false)); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}()
	tiffData := func() []byte {
		var b bytes.Buffer
		if err := tiff.Encode(&b, pattern(8, 8, false), nil); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}()
	noisy := noisyPNG(t, 64, 64)
	jpg := jpegOf(t, 32, 32)
	progressive := progressiveJPEG(64, 9) // 10 scans: like a real progressive JPEG

	// A JPEG whose SOF claims 60000×60000 pixels.
	jpegBomb := func() []byte {
		b := bytes.Clone(jpg)
		i := bytes.Index(b, []byte{0xff, 0xc0})
		b[i+5], b[i+6], b[i+7], b[i+8] = 0xea, 0x60, 0xea, 0x60
		return b
	}()
	// A GIF whose logical screen claims 65535×65535 pixels.
	gifBomb := func() []byte {
		b := gifOf(t, 8, 8)
		b[6], b[7], b[8], b[9] = 0xff, 0xff, 0xff, 0xff
		return b
	}()

	const (
		ok          = apperr.Code("")
		tooLarge    = media.PictureTooLarge
		notSquare   = media.PictureNotSquare
		unsupported = media.UnsupportedImage
	)
	tests := []struct {
		name      string
		data      []byte
		size      int64 // declared; -1: len(data)
		picture   []apperr.Code
		signature []apperr.Code
		format    string // on success
		w, h      int
		msg       string // a substring of the first message
	}{
		{name: "square PNG", data: pngOf(t, 32, 32), format: "png", w: 32, h: 32},
		{name: "square JPEG", data: jpg, format: "jpeg", w: 32, h: 32},
		{name: "progressive JPEG, 10 scans", data: progressive, format: "jpeg", w: 64, h: 64},
		{name: "square GIF", data: gifOf(t, 16, 16), format: "gif", w: 16, h: 16,
			signature: []apperr.Code{unsupported}, msg: "PNG or JPEG"},
		{name: "square lossless WebP", data: testdata(t, "square8.webp"), format: "webp", w: 8, h: 8,
			signature: []apperr.Code{unsupported}},
		{name: "square lossy WebP", data: testdata(t, "lossy8.webp"), format: "webp", w: 8, h: 8,
			signature: []apperr.Code{unsupported}},
		{name: "square WebP with alpha", data: testdata(t, "alpha8.webp"), format: "webp", w: 8, h: 8,
			signature: []apperr.Code{unsupported}},
		{name: "1,048,575 bytes", data: pngOfSize(t, media.MaxBytes-1), format: "png", w: 16, h: 16},
		{name: "1,048,576 bytes", data: pngOfSize(t, media.MaxBytes),
			picture: []apperr.Code{tooLarge}, msg: "smaller than 1 MB"},
		{name: "2 MB declared as 10 bytes", data: pngOfSize(t, 2*media.MaxBytes), size: 10,
			picture: []apperr.Code{tooLarge}},
		{name: "declared over 1 MB", data: pngOf(t, 8, 8), size: media.MaxBytes,
			picture: []apperr.Code{tooLarge}},
		{name: "too large and not square", data: withChunk(pngOf(t, 20, 10), "zzZz", make([]byte, media.MaxBytes)),
			picture:   []apperr.Code{tooLarge, notSquare},
			signature: []apperr.Code{tooLarge}},
		{name: "too large and not an image", data: bytes.Repeat([]byte("hello "), media.MaxBytes/5),
			picture: []apperr.Code{tooLarge, unsupported}},
		{name: "non-square PNG", data: pngOf(t, 40, 30),
			picture: []apperr.Code{notSquare}, signature: []apperr.Code{ok}, format: "png", w: 40, h: 30,
			msg: "40×30"},
		{name: "non-square JPEG", data: jpegOf(t, 16, 48),
			picture: []apperr.Code{notSquare}, signature: []apperr.Code{ok}, format: "jpeg", w: 16, h: 48},
		{name: "non-square WebP", data: testdata(t, "rect8x4.webp"),
			picture: []apperr.Code{notSquare}, signature: []apperr.Code{unsupported}},
		{name: "truncated PNG", data: noisy[:len(noisy)/2],
			picture: []apperr.Code{unsupported}, msg: "damaged or incomplete"},
		{name: "PNG without IEND", data: noisy[:len(noisy)-12],
			picture: []apperr.Code{unsupported}, msg: "damaged or incomplete"},
		{name: "truncated JPEG", data: jpg[:len(jpg)*2/3],
			picture: []apperr.Code{unsupported}, msg: "damaged or incomplete"},
		{name: "PNG cut in its header", data: noisy[:20],
			picture: []apperr.Code{unsupported}, msg: "damaged or incomplete"},
		{name: "text renamed .png", data: []byte("Dear colleague,\nplease find attached...\n"),
			picture: []apperr.Code{unsupported}, msg: "not an image in a supported format"},
		{name: "HTML", data: []byte("<html><script>alert(1)</script></html>"),
			picture: []apperr.Code{unsupported}},
		{name: "SVG", data: []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`),
			picture: []apperr.Code{unsupported}, msg: "SVG images are not accepted"},
		{name: "BMP", data: bmpData, picture: []apperr.Code{unsupported}, msg: "BMP images are not accepted"},
		{name: "TIFF", data: tiffData, picture: []apperr.Code{unsupported}, msg: "TIFF images are not accepted"},
		{name: "animated WebP", data: testdata(t, "anim.webp"),
			picture: []apperr.Code{unsupported}, msg: "animated WebP"},
		{name: "empty", data: nil, picture: []apperr.Code{unsupported}, msg: "empty"},
		{name: "PNG bomb 100000×100000", data: pngBomb(100000, 100000),
			picture: []apperr.Code{unsupported}, msg: "100000×100000 pixels"},
		{name: "PNG 4097×4097", data: pngBomb(4097, 4097), picture: []apperr.Code{unsupported}},
		{name: "PNG 4096×1 non-square ok for signatures", data: pngOf(t, 4096, 1),
			picture: []apperr.Code{notSquare}, signature: []apperr.Code{ok}, format: "png", w: 4096, h: 1},
		{name: "PNG 8192×1", data: pngBomb(8192, 1), picture: []apperr.Code{unsupported}},
		{name: "PNG claiming 0×0", data: pngBomb(0, 0), picture: []apperr.Code{unsupported}},
		{name: "JPEG bomb 60000×60000", data: jpegBomb, picture: []apperr.Code{unsupported}, msg: "60000×60000"},
		{name: "GIF bomb 65535×65535", data: gifBomb, picture: []apperr.Code{unsupported},
			signature: []apperr.Code{unsupported}},
		{name: "JPEG of too many scans", data: progressiveJPEG(4096, media.MaxJPEGScans),
			picture: []apperr.Code{unsupported}, msg: "scans"},
	}
	for _, tc := range tests {
		if tc.size == 0 {
			tc.size = -1
		}
		for _, v := range []struct {
			kind string
			fn   validator
			want []apperr.Code
		}{
			{"picture", media.ValidatePicture, tc.picture},
			{"signature", media.ValidateSignature, tc.signature},
		} {
			want := v.want
			if v.kind == "signature" && want == nil {
				want = tc.picture
			}
			if len(want) == 1 && want[0] == ok {
				want = nil
			}
			t.Run(v.kind+"/"+tc.name, func(t *testing.T) {
				size := tc.size
				if size < 0 {
					size = int64(len(tc.data))
				}
				img, errs := v.fn(bytes.NewReader(tc.data), size)
				checkFields(t, errs)
				if got := codes(errs); !equal(got, want) {
					t.Fatalf("codes = %v, want %v (%v)", got, want, messages(errs))
				}
				if want != nil {
					if img.Data != nil || img.Format != "" {
						t.Errorf("refused image returned %+v", img)
					}
					if tc.msg != "" && (v.kind == "picture" || v.want != nil) && !strings.Contains(errs[0].Message+errs[len(errs)-1].Message, tc.msg) {
						t.Errorf("messages %v do not mention %q", messages(errs), tc.msg)
					}
					return
				}
				if img.Format != tc.format || img.Width != tc.w || img.Height != tc.h {
					t.Errorf("image = %s %d×%d, want %s %d×%d", img.Format, img.Width, img.Height, tc.format, tc.w, tc.h)
				}
				if img.ContentType != "image/"+tc.format {
					t.Errorf("content type = %q", img.ContentType)
				}
				if !bytes.Equal(img.Data, tc.data) {
					t.Errorf("data differs from the upload")
				}
			})
		}
	}
}

func equal(a, b []apperr.Code) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func messages(errs apperr.List) []string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Code)+": "+e.Message)
	}
	return out
}

// countingReader is an endless stream of zero bytes that counts what is read.
type countingReader struct{ n int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	clear(p)
	c.n += int64(len(p))
	return len(p), nil
}

func TestValidateReadsAtMostOneMB(t *testing.T) {
	for _, fn := range []validator{media.ValidatePicture, media.ValidateSignature} {
		var r countingReader
		_, errs := fn(&r, 100) // lies about its size
		if got := codes(errs); len(got) == 0 || got[0] != media.PictureTooLarge {
			t.Errorf("codes = %v, want PICTURE_TOO_LARGE first", got)
		}
		if r.n > media.MaxBytes+1 {
			t.Errorf("read %d bytes of an endless upload, want at most %d", r.n, media.MaxBytes+1)
		}
	}
}

func TestValidateReadError(t *testing.T) {
	r := io.MultiReader(bytes.NewReader(pngOf(t, 8, 8)[:30]), iotest.ErrReader(errors.New("connection reset")))
	_, errs := media.ValidatePicture(r, 1000)
	if got := codes(errs); !equal(got, []apperr.Code{media.UnsupportedImage}) {
		t.Fatalf("codes = %v", got)
	}
	if _, errs := media.ValidatePicture(nil, 0); len(errs) != 1 {
		t.Fatalf("nil reader: %v", messages(errs))
	}
}

func TestValidateKind(t *testing.T) {
	p := pngOf(t, 10, 20)
	if _, errs := media.Validate(media.KindSignature, bytes.NewReader(p), int64(len(p))); errs != nil {
		t.Errorf("signature: %v", messages(errs))
	}
	if _, errs := media.Validate(media.KindPicture, bytes.NewReader(p), int64(len(p))); !equal(codes(errs), []apperr.Code{media.PictureNotSquare}) {
		t.Errorf("picture: %v", messages(errs))
	}
	if _, errs := media.Validate("avatars", bytes.NewReader(p), int64(len(p))); !equal(codes(errs), []apperr.Code{media.UnsupportedImage}) {
		t.Errorf("unknown kind: %v", messages(errs))
	}
}

// A decompression bomb is refused from its header: quickly, and without
// allocating anything near its claimed size (40 GB for the PNG).
func TestDecompressionBombIsCheap(t *testing.T) {
	bombs := map[string][]byte{
		"png 100000x100000":        pngBomb(100000, 100000),
		"png 4097x4097":            pngBomb(4097, 4097),
		"jpeg 4096x4096 x50 scans": progressiveJPEG(4096, media.MaxJPEGScans),
	}
	for name, b := range bombs {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, errs := media.ValidatePicture(bytes.NewReader(b), int64(len(b)))
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if !equal(codes(errs), []apperr.Code{media.UnsupportedImage}) {
				t.Fatalf("codes = %v", messages(errs))
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10<<20 {
				t.Errorf("allocated %d bytes to refuse a %d-byte bomb", alloc, len(b))
			}
			if elapsed > time.Second {
				t.Errorf("took %v to refuse a %d-byte bomb", elapsed, len(b))
			}
		})
	}
	allocs := testing.AllocsPerRun(20, func() {
		b := bombs["png 100000x100000"]
		media.ValidatePicture(bytes.NewReader(b), int64(len(b)))
	})
	if allocs > 50 {
		t.Errorf("%v allocations to refuse a PNG bomb", allocs)
	}
}

func TestJPEGScans(t *testing.T) {
	if n := media.JPEGScans(jpegOf(t, 16, 16)); n != 1 {
		t.Errorf("baseline JPEG: %d scans, want 1", n)
	}
	if n := media.JPEGScans(progressiveJPEG(64, 20)); n != 21 {
		t.Errorf("crafted progressive JPEG: %d scans, want 21", n)
	}
	// Junk between segments, fill bytes and FF00 outside a scan are skipped
	// by the decoder, so they must not hide a scan from the count.
	p := progressiveJPEG(64, 3)
	var junk []byte
	for i := 0; i < len(p); i++ {
		if i > 2 && p[i] == 0xff && p[i+1] == 0xda {
			junk = append(junk, 0x12, 0xff, 0x00, 0xff, 0xff)
		}
		junk = append(junk, p[i])
	}
	if n := media.JPEGScans(junk); n != 4 {
		t.Errorf("JPEG with junk between segments: %d scans, want 4", n)
	}
	if _, err := jpeg.Decode(bytes.NewReader(junk)); err != nil {
		t.Errorf("the decoder refuses the junk JPEG (%v): the test does not test anything", err)
	}
}
