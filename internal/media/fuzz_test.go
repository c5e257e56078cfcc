package media_test

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"testing"

	"golang.org/x/image/webp"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/media"
)

// Seeds beside the corpus in testdata/fuzz/<FuzzName>/.
func addSeeds(f *testing.F) {
	noisy := noisyPNG(f, 16, 16)
	for _, s := range [][]byte{
		pngOf(f, 4, 4),
		pngOf(f, 6, 3),
		noisy[:len(noisy)-20],
		jpegOf(f, 8, 8),
		progressiveJPEG(16, 3),
		gifOf(f, 4, 4),
		testdata(f, "square8.webp"),
		testdata(f, "lossy8.webp"),
		testdata(f, "alpha8.webp"),
		testdata(f, "anim.webp"),
		testdata(f, "rect8x4.webp"),
		pngBomb(100000, 100000),
		[]byte("GIF89a"),
		[]byte("RIFF\x00\x00\x00\x00WEBPVP8X"),
		[]byte("not an image"),
	} {
		f.Add(s)
	}
}

func FuzzValidatePicture(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, errs := media.ValidatePicture(bytes.NewReader(data), int64(len(data)))
		checkResult(t, data, img, errs, true, "png", "jpeg", "gif", "webp")
	})
}

func FuzzValidateSignature(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, errs := media.ValidateSignature(bytes.NewReader(data), int64(len(data)))
		checkResult(t, data, img, errs, false, "png", "jpeg")
	})
}

var decoders = map[string]func(io.Reader) (image.Config, error){
	"png": png.DecodeConfig, "jpeg": jpeg.DecodeConfig, "gif": gif.DecodeConfig, "webp": webp.DecodeConfig,
}

// checkResult: a refusal is well-formed; an acceptance really is within the
// limits.
func checkResult(t *testing.T, data []byte, img media.Image, errs apperr.List, square bool, formats ...string) {
	t.Helper()
	if errs != nil {
		if len(errs) == 0 {
			t.Fatal("empty, non-nil error list")
		}
		for _, e := range errs {
			switch e.Code {
			case media.PictureTooLarge, media.UnsupportedImage:
			case media.PictureNotSquare:
				if !square {
					t.Fatalf("a signature refused as not square: %s", e.Message)
				}
			default:
				t.Fatalf("unexpected code %s", e.Code)
			}
			if e.Field == nil || *e.Field != "file" || e.Message == "" {
				t.Fatalf("malformed error %+v", e)
			}
		}
		if img.Data != nil || img.Format != "" || img.Width != 0 {
			t.Fatalf("refused, yet returned %s %d×%d", img.Format, img.Width, img.Height)
		}
		return
	}

	if len(data) >= media.MaxBytes || !bytes.Equal(img.Data, data) {
		t.Fatalf("accepted %d bytes, returned %d", len(data), len(img.Data))
	}
	ok := false
	for _, f := range formats {
		ok = ok || img.Format == f
	}
	if !ok || img.ContentType != "image/"+img.Format {
		t.Fatalf("accepted format %q (%q)", img.Format, img.ContentType)
	}
	if img.Width <= 0 || img.Height <= 0 || img.Width > media.MaxDimension || img.Height > media.MaxDimension ||
		img.Width*img.Height > media.MaxPixels {
		t.Fatalf("accepted %d×%d", img.Width, img.Height)
	}
	if square && img.Width != img.Height {
		t.Fatalf("accepted a %d×%d picture", img.Width, img.Height)
	}
	cfg, err := decoders[img.Format](bytes.NewReader(data))
	if err != nil || cfg.Width != img.Width || cfg.Height != img.Height {
		t.Fatalf("reported %d×%d, the header says %d×%d (%v)", img.Width, img.Height, cfg.Width, cfg.Height, err)
	}
	if img.Format == "jpeg" && media.JPEGScans(data) > media.MaxJPEGScans {
		t.Fatalf("accepted a JPEG of %d scans", media.JPEGScans(data))
	}
}
