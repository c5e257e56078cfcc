package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:///dir?create_dir=true — the default, under DATA_DIR
	_ "gocloud.dev/blob/memblob"  // mem:// — tests
	_ "gocloud.dev/blob/s3blob"   // s3://bucket?region=…&endpoint=… — several instances
	"gocloud.dev/gcerrors"
)

var (
	// ErrNotFound: no object under that key (Get).
	ErrNotFound = errors.New("media: not found")
	// ErrInvalidKey: the key does not have the shape NewKey makes.
	ErrInvalidKey = errors.New("media: invalid key")
)

// maxObject bounds what Get reads, in case something else wrote the bucket.
const maxObject = 8 * MaxBytes

// Store keeps validated images in a gocloud.dev/blob bucket.
type Store struct {
	bucket *blob.Bucket
}

// Open opens the bucket at a gocloud.dev bucket URL:
//
//	file:///var/lib/usermanager/media?create_dir=true&no_tmp_dir=true
//	s3://bucket?region=eu-west-1&endpoint=https://minio.internal:9000&use_path_style=true
//	mem://
//
// With file://, no_tmp_dir=true writes the temporary file beside the final
// one, so the rename never crosses file systems (os.TempDir may be another
// mount). S3 credentials come from the usual AWS environment.
func Open(ctx context.Context, url string) (*Store, error) {
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("media: open bucket: %w", err)
	}
	return &Store{bucket: b}, nil
}

// NewStore wraps a bucket opened elsewhere.
func NewStore(b *blob.Bucket) *Store { return &Store{bucket: b} }

// Put stores img under key (made by NewKey) with its content type.
func (s *Store) Put(ctx context.Context, key string, img Image) error {
	if !ValidKey(key) {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	if !servable[img.ContentType] {
		return fmt.Errorf("media: put %q: content type %q is not a validated image's", key, img.ContentType)
	}
	err := s.bucket.WriteAll(ctx, key, img.Data, &blob.WriterOptions{ContentType: img.ContentType})
	if err != nil {
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	return nil
}

// Get returns the object under key. A missing object, or a key NewKey could
// not have made, gives an error that errors.Is ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (data []byte, contentType string, modTime time.Time, err error) {
	if !ValidKey(key) {
		return nil, "", time.Time{}, fmt.Errorf("%w: %w: %q", ErrNotFound, ErrInvalidKey, key)
	}
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, "", time.Time{}, s.wrap("get", key, err)
	}
	defer r.Close()
	if r.Size() > maxObject {
		return nil, "", time.Time{}, fmt.Errorf("media: get %q: object of %d bytes is too large", key, r.Size())
	}
	data, err = io.ReadAll(io.LimitReader(r, maxObject))
	if err != nil {
		return nil, "", time.Time{}, s.wrap("get", key, err)
	}
	return data, r.ContentType(), r.ModTime(), nil
}

// exists tells whether key is stored (for a 304 without reading the object).
func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	if !ValidKey(key) {
		return false, nil
	}
	return s.bucket.Exists(ctx, key)
}

// Delete removes the object under key; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	err := s.bucket.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("media: delete %q: %w", key, err)
	}
	return nil
}

// Close closes the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

func (s *Store) wrap(op, key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("media: %s %q: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("media: %s %q: %w", op, key, err)
}

var (
	keyRE  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}/[1-9][0-9]{0,18}/[0-9a-f]{16}$`)
	kindRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
)

// NewKey returns a fresh key "<kind>/<userID>/<16 random hex digits>", e.g.
// "pictures/42/9f86d081884c7d65". Every upload gets a new key, so a key's
// content never changes and can be cached for as long as its URL lives; the
// old object is deleted when the profile points to the new one.
//
// kind must be lower-case letters, digits and '-' (KindPicture,
// KindSignature) and userID positive: anything else is a programming error
// and panics.
func NewKey(kind Kind, userID int) string {
	if !kindRE.MatchString(string(kind)) || userID <= 0 {
		panic(fmt.Sprintf("media.NewKey(%q, %d): invalid kind or user id", kind, userID))
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return string(kind) + "/" + strconv.Itoa(userID) + "/" + hex.EncodeToString(b[:])
}

// ValidKey reports whether key has the shape NewKey makes. Nothing else is
// ever stored or served, which rules out path traversal ("../"), absolute
// paths and odd characters whatever the bucket driver.
func ValidKey(key string) bool { return keyRE.MatchString(key) }

// PutStream stores what r yields under key (made by NewKey) as one object
// of contentType, streaming it: the object is written as it is read and
// never held whole. The object is not served by Handler unless its content
// type is a validated image's, so staff-list files (text/csv) stay private.
// It returns how many bytes were stored; a failed read leaves no object.
func (s *Store) PutStream(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	if !ValidKey(key) {
		return 0, fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		return 0, fmt.Errorf("media: put %q: %w", key, err)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		cancel() // abandons the write: nothing is stored
		_ = w.Close()
		return n, fmt.Errorf("media: put %q: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return n, fmt.Errorf("media: put %q: %w", key, err)
	}
	return n, nil
}

// Open reads the object under key as a stream; the caller closes it.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("%w: %w: %q", ErrNotFound, ErrInvalidKey, key)
	}
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, s.wrap("open", key, err)
	}
	return r, nil
}
