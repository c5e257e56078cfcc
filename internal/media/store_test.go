package media_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/media"
)

func validPNG(t *testing.T) media.Image {
	t.Helper()
	p := pngOf(t, 8, 8)
	img, errs := media.ValidatePicture(bytes.NewReader(p), int64(len(p)))
	if errs != nil {
		t.Fatal(messages(errs))
	}
	return img
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	for name, url := range map[string]string{
		"mem":  "mem://",
		"file": "file://" + filepath.ToSlash(dir) + "/media?create_dir=true&no_tmp_dir=true",
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := media.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()

			img := validPNG(t)
			key := media.NewKey(media.KindPicture, 42)
			if err := s.Put(ctx, key, img); err != nil {
				t.Fatal(err)
			}
			data, ctype, mod, err := s.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, img.Data) || ctype != "image/png" {
				t.Errorf("got %d bytes of %q, want %d bytes of image/png", len(data), ctype, len(img.Data))
			}
			if mod.IsZero() || time.Since(mod) > time.Minute {
				t.Errorf("mod time = %v", mod)
			}

			other := media.NewKey(media.KindSignature, 42)
			if _, _, _, err := s.Get(ctx, other); !errors.Is(err, media.ErrNotFound) {
				t.Errorf("Get(missing) = %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := s.Get(ctx, key); !errors.Is(err, media.ErrNotFound) {
				t.Errorf("Get(deleted) = %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Errorf("Delete(missing) = %v, want nil", err)
			}

			for _, bad := range []string{"../x", "/etc/passwd", "pictures/42/../../x", "pictures/42/ABCDEF0123456789",
				"pictures/0/0123456789abcdef", "pictures/42/0123456789abcdef/", "Pictures/42/0123456789abcdef", ""} {
				if err := s.Put(ctx, bad, img); !errors.Is(err, media.ErrInvalidKey) {
					t.Errorf("Put(%q) = %v, want ErrInvalidKey", bad, err)
				}
				if _, _, _, err := s.Get(ctx, bad); !errors.Is(err, media.ErrNotFound) {
					t.Errorf("Get(%q) = %v, want ErrNotFound", bad, err)
				}
				if err := s.Delete(ctx, bad); !errors.Is(err, media.ErrInvalidKey) {
					t.Errorf("Delete(%q) = %v, want ErrInvalidKey", bad, err)
				}
			}
			html := media.Image{Data: []byte("<script>"), ContentType: "text/html"}
			if err := s.Put(ctx, media.NewKey(media.KindPicture, 1), html); err == nil {
				t.Error("Put of a text/html \"image\" succeeded")
			}
		})
	}

	// The file store keeps everything inside its directory.
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasPrefix(path, filepath.Join(dir, "media", "pictures")) {
			t.Errorf("unexpected file %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	if _, err := media.Open(ctx, "nosuch://bucket"); err == nil {
		t.Error("Open(nosuch://) succeeded")
	}
	if _, err := media.Open(ctx, "file:///"+t.TempDir()+"/missing"); err == nil {
		t.Error("Open of a missing directory without create_dir succeeded")
	}
	// s3blob is registered; opening does not touch the network.
	s, err := media.Open(ctx, "s3://bucket?region=us-east-1&endpoint=http://127.0.0.1:1&use_path_style=true")
	if err != nil {
		t.Fatalf("Open(s3://) = %v", err)
	}
	s.Close()
}

func TestNewKey(t *testing.T) {
	shape := regexp.MustCompile(`^pictures/42/[0-9a-f]{16}$`)
	seen := map[string]bool{}
	for range 100 {
		k := media.NewKey(media.KindPicture, 42)
		if !shape.MatchString(k) || !media.ValidKey(k) {
			t.Fatalf("NewKey = %q", k)
		}
		if seen[k] {
			t.Fatalf("NewKey repeated %q", k)
		}
		seen[k] = true
	}
	if k := media.NewKey(media.KindSignature, 7); !strings.HasPrefix(k, "signatures/7/") {
		t.Errorf("NewKey(signatures) = %q", k)
	}
	for _, bad := range []struct {
		kind media.Kind
		id   int
	}{{"../x", 1}, {"", 1}, {"Pictures", 1}, {"pictures", 0}, {"pictures", -3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewKey(%q, %d) did not panic", bad.kind, bad.id)
				}
			}()
			media.NewKey(bad.kind, bad.id)
		}()
	}
}
