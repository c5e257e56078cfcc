package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"

	"golang.org/x/image/webp"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// Codes of the rule violations this package reports (SPEC R18, R19).
const (
	// PictureTooLarge: the file is 1 MB (MaxBytes) or larger. Used for
	// signatures too.
	PictureTooLarge apperr.Code = "PICTURE_TOO_LARGE"
	// PictureNotSquare: a profile picture's width differs from its height.
	PictureNotSquare apperr.Code = "PICTURE_NOT_SQUARE"
	// UnsupportedImage: not an accepted format, damaged or incomplete, or
	// with absurd dimensions.
	UnsupportedImage apperr.Code = "UNSUPPORTED_IMAGE"
)

// Field is the field name of every UserError this package returns; a caller
// that validates an input field "picture" can use List.Prefixed or rewrite
// it.
const Field = "file"

// Limits. A file must be smaller than MaxBytes. MaxDimension and MaxPixels
// bound what a full decode may allocate (at most 4096×4096 pixels, i.e. 64 MB
// at 4 bytes a pixel, 128 MB for a 16-bit PNG), whatever the file claims.
const (
	MaxBytes     = 1 << 20 // 1,048,576: a file this size or larger is refused
	MaxDimension = 4096
	MaxPixels    = MaxDimension * MaxDimension // 16,777,216
	// MaxJPEGScans bounds the scans of a (progressive) JPEG: each scan walks
	// every block of the image, so a 1 MB file of ~37,000 near-empty scans of
	// a 4096×4096 image would take minutes of CPU to decode. Encoders write
	// 1 (baseline) to about 10 (progressive).
	MaxJPEGScans = 50
)

// Image is a validated image, ready to be stored.
type Image struct {
	Data        []byte // the file as uploaded
	ContentType string // "image/png", "image/jpeg", "image/gif" or "image/webp"
	Width       int
	Height      int
	Format      string // "png", "jpeg", "gif" or "webp"
}

// Kind is a kind of stored image; it is the first segment of a key (NewKey).
type Kind string

const (
	KindPicture   Kind = "pictures"   // profile pictures (R18)
	KindSignature Kind = "signatures" // signatures (R19)
)

// Validate validates an upload of the given kind: ValidatePicture for
// KindPicture, ValidateSignature for KindSignature. Any other kind is refused
// with UNSUPPORTED_IMAGE.
func Validate(kind Kind, r io.Reader, size int64) (Image, apperr.List) {
	switch kind {
	case KindPicture:
		return ValidatePicture(r, size)
	case KindSignature:
		return ValidateSignature(r, size)
	}
	var errs apperr.List
	errs.Add(Field, UnsupportedImage, "unknown kind of image %q", string(kind))
	return Image{}, errs
}

// ValidatePicture validates a profile picture (R18): smaller than 1 MB,
// square, PNG, JPEG, GIF or WebP, with sane dimensions and not damaged.
//
// size is the size the client declared (the multipart header); it is used
// only to refuse early and as a buffer hint, never to accept: what counts is
// what is read from r, and at most MaxBytes bytes are read. On success the
// list is nil. Every UserError has field "file".
func ValidatePicture(r io.Reader, size int64) (Image, apperr.List) {
	return validate(r, size, rules{
		formats: []format{fmtPNG, fmtJPEG, fmtGIF, fmtWebP},
		square:  true,
		what:    "a profile picture",
	})
}

// ValidateSignature validates a signature image (R19): smaller than 1 MB,
// PNG or JPEG, any aspect ratio, with sane dimensions and not damaged. Who
// may have a signature is for the caller to decide. Same conventions as
// ValidatePicture.
func ValidateSignature(r io.Reader, size int64) (Image, apperr.List) {
	return validate(r, size, rules{
		formats: []format{fmtPNG, fmtJPEG},
		what:    "a signature",
	})
}

type rules struct {
	formats []format
	square  bool
	what    string
}

type format struct {
	name, label, contentType string
	magic                    func([]byte) bool
	config                   func(io.Reader) (image.Config, error)
	decode                   func(io.Reader) (image.Image, error)
	// precheck, if set, refuses (with a message) what is too costly to decode.
	precheck func([]byte) string
}

var (
	fmtPNG = format{"png", "PNG", "image/png",
		prefix("\x89PNG\r\n\x1a\n"), png.DecodeConfig, png.Decode, nil}
	fmtJPEG = format{"jpeg", "JPEG", "image/jpeg",
		prefix("\xff\xd8\xff"), jpeg.DecodeConfig, jpeg.Decode, jpegPrecheck}
	fmtGIF = format{"gif", "GIF", "image/gif",
		func(b []byte) bool {
			return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
		},
		gif.DecodeConfig, gif.Decode, nil}
	fmtWebP = format{"webp", "WebP", "image/webp",
		func(b []byte) bool {
			return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
		},
		webp.DecodeConfig, webp.Decode, webpPrecheck}

	// Only sniffed, to name them in the message; never decoded.
	known = []format{fmtPNG, fmtJPEG, fmtGIF, fmtWebP,
		{label: "BMP", magic: prefix("BM")},
		{label: "TIFF", magic: func(b []byte) bool {
			return bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*"))
		}},
		{label: "HEIC/AVIF", magic: func(b []byte) bool { return len(b) >= 12 && string(b[4:8]) == "ftyp" }},
		{label: "ICO", magic: prefix("\x00\x00\x01\x00")},
		{label: "PDF", magic: prefix("%PDF-")},
		{label: "SVG", magic: func(b []byte) bool {
			head := bytes.ToLower(b[:min(len(b), 512)])
			return bytes.Contains(head, []byte("<svg"))
		}},
	}
)

func prefix(p string) func([]byte) bool {
	return func(b []byte) bool { return bytes.HasPrefix(b, []byte(p)) }
}

// decoderPanic is called when an image decoder panics; tests set it so a
// fuzzer still sees what the recover hides.
var decoderPanic = func(any) {}

func validate(r io.Reader, size int64, ru rules) (img Image, errs apperr.List) {
	data, readErr := readLimited(r, size)
	tooLarge := size >= MaxBytes || len(data) >= MaxBytes
	if tooLarge {
		errs.Add(Field, PictureTooLarge, "%s must be smaller than 1 MB (1,048,576 bytes)", capital(ru.what))
	}
	if readErr != nil && !tooLarge {
		errs.Add(Field, UnsupportedImage, "the file could not be read completely")
		return Image{}, errs
	}
	if len(data) == 0 {
		errs.Add(Field, UnsupportedImage, "the file is empty")
		return Image{}, errs
	}

	f, ok := sniff(data, ru.formats)
	if !ok {
		errs.Add(Field, UnsupportedImage, "%s; %s must be a %s image", describe(data), ru.what, allowed(ru.formats))
		return Image{}, errs
	}

	// Header first: only the few bytes up to the dimensions are parsed, and
	// nothing the size of the picture is allocated yet.
	cfg, err := safeConfig(f, data)
	if err != nil {
		if !tooLarge { // a cut-off prefix of an over-size file may not parse: say nothing more
			errs.Add(Field, UnsupportedImage, "the image file is damaged or incomplete (not a valid %s)", f.label)
		}
		return Image{}, errs
	}
	w, h := cfg.Width, cfg.Height
	switch {
	case w <= 0 || h <= 0:
		errs.Add(Field, UnsupportedImage, "the %s image is damaged: it claims %d×%d pixels", f.label, w, h)
		return Image{}, errs
	case w > MaxDimension || h > MaxDimension || int64(w)*int64(h) > MaxPixels:
		errs.Add(Field, UnsupportedImage,
			"the image is %d×%d pixels; at most %d×%d pixels are accepted", w, h, MaxDimension, MaxDimension)
		return Image{}, errs
	}
	if ru.square && w != h {
		errs.Add(Field, PictureNotSquare, "a profile picture must be square; this one is %d×%d pixels", w, h)
	}
	if len(errs) > 0 {
		return Image{}, errs
	}

	if f.precheck != nil {
		if msg := f.precheck(data); msg != "" {
			errs.Add(Field, UnsupportedImage, "%s", msg)
			return Image{}, errs
		}
	}

	// The header is sane: decode it all, so that a truncated or corrupt
	// file is refused now and not shown broken later.
	if err := safeDecode(f, data); err != nil {
		errs.Add(Field, UnsupportedImage, "the image file is damaged or incomplete")
		return Image{}, errs
	}
	return Image{Data: data, ContentType: f.contentType, Width: w, Height: h, Format: f.name}, nil
}

// readLimited reads at most MaxBytes bytes of r. size is only a capacity
// hint, capped so a lying client cannot make it allocate more.
func readLimited(r io.Reader, size int64) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	hint := int64(bytes.MinRead)
	if size > 0 {
		hint = min(size, MaxBytes) + bytes.MinRead // ReadFrom wants MinRead spare bytes
	}
	buf := bytes.NewBuffer(make([]byte, 0, hint))
	_, err := buf.ReadFrom(io.LimitReader(r, MaxBytes))
	return buf.Bytes(), err
}

func sniff(data []byte, allowedFormats []format) (format, bool) {
	for _, f := range allowedFormats {
		if f.magic(data) {
			return f, true
		}
	}
	return format{}, false
}

func describe(data []byte) string {
	for _, f := range known {
		if f.magic(data) {
			return fmt.Sprintf("%s images are not accepted", f.label)
		}
	}
	return "the file is not an image in a supported format"
}

func allowed(fs []format) string {
	s := ""
	for i, f := range fs {
		switch {
		case i == 0:
		case i == len(fs)-1:
			s += " or "
		default:
			s += ", "
		}
		s += f.label
	}
	return s
}

func capital(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

var errDecoderPanic = errors.New("image decoder panicked")

func safeConfig(f format, data []byte) (cfg image.Config, err error) {
	defer recoverDecoder(&err)
	return f.config(bytes.NewReader(data))
}

// decoding bounds the full decodes running at once. They are CPU-bound, so
// more would not finish sooner, and each may hold up to 128 MB (a 16-bit
// 4096×4096 PNG) until it is done: this caps the memory of a burst of uploads.
var decoding = make(chan struct{}, max(runtime.GOMAXPROCS(0), 2))

func safeDecode(f format, data []byte) (err error) {
	decoding <- struct{}{}
	defer func() { <-decoding }()
	defer recoverDecoder(&err)
	_, err = f.decode(bytes.NewReader(data))
	return err
}

func recoverDecoder(err *error) {
	if p := recover(); p != nil {
		decoderPanic(p)
		*err = errDecoderPanic
	}
}

// webpPrecheck names what x/image/webp cannot decode: an animation (the
// VP8X chunk's animation flag).
func webpPrecheck(b []byte) string {
	if len(b) > 20 && string(b[12:16]) == "VP8X" && b[20]&0x02 != 0 {
		return "animated WebP images are not accepted"
	}
	return ""
}

// jpegPrecheck refuses a JPEG with more than MaxJPEGScans scans. It walks
// the marker segments and skips the entropy-coded data after each SOS; a
// malformed stream is left for the decoder to refuse.
func jpegPrecheck(b []byte) string {
	if n := jpegScans(b, MaxJPEGScans+1); n > MaxJPEGScans {
		return fmt.Sprintf("the JPEG image has more than %d scans; save it again as a standard JPEG", MaxJPEGScans)
	}
	return ""
}

// jpegScans counts the SOS markers of a JPEG, stopping at limit. It finds
// markers the way image/jpeg does (bytes between segments are skipped, as
// are fill bytes, FF00 and restart markers), so it never sees fewer scans
// than the decoder would decode.
func jpegScans(b []byte, limit int) int {
	scans := 0
	i := 2 // after SOI
	for i+1 < len(b) && scans < limit {
		if b[i] != 0xff {
			i++ // extraneous data, skipped by the decoder too
			continue
		}
		i++
		if b[i] == 0x00 { // FF00 outside a scan: extraneous
			i++
			continue
		}
		for i < len(b) && b[i] == 0xff { // fill bytes
			i++
		}
		if i >= len(b) {
			break
		}
		m := b[i]
		i++
		switch {
		case m == 0xd9: // EOI: the decoder stops here
			return scans
		case m >= 0xd0 && m <= 0xd7: // RSTn: no length
			continue
		}
		if i+1 >= len(b) {
			break
		}
		i += int(b[i])<<8 | int(b[i+1]) // the length counts its own 2 bytes
		if m != 0xda {
			continue
		}
		scans++
		// Entropy-coded data runs up to a marker other than FF00 (stuffing),
		// FFFF (fill) and FFD0-FFD7 (restart): the decoder stops there too.
		for i+1 < len(b) {
			if b[i] == 0xff {
				n := b[i+1]
				if n != 0x00 && n != 0xff && (n < 0xd0 || n > 0xd7) {
					break
				}
				if n != 0xff {
					i++
				}
			}
			i++
		}
	}
	return scans
}
