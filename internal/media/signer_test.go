package media_test

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/media"
)

// clock is a settable clock for Signer.Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

var secret = []byte("0123456789abcdef0123456789abcdef")

// parse splits a signed URL into its key, exp and sig.
func parse(t *testing.T, prefix, u string) (key, exp, sig string) {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := strings.CutPrefix(p.Path, prefix+"/")
	if !ok {
		t.Fatalf("URL %q does not start with %q", u, prefix+"/")
	}
	return key, p.Query().Get("exp"), p.Query().Get("sig")
}

func TestSignerURL(t *testing.T) {
	c := &clock{time.Date(2025, 3, 1, 10, 0, 7, 500, time.UTC)}
	s := media.Signer{Secret: secret, TTL: 10 * time.Minute, Now: c.Now}
	key := "pictures/42/0123456789abcdef"

	u := s.URL("/media", key)
	if !regexp.MustCompile(`^/media/pictures/42/0123456789abcdef\?exp=[0-9]+&sig=[A-Za-z0-9_-]{43}$`).MatchString(u) {
		t.Fatalf("URL = %q", u)
	}
	if got := s.URL("https://api.example.org/media/", key); !strings.HasPrefix(got, "https://api.example.org/media/pictures/") {
		t.Errorf("absolute prefix: %q", got)
	}
	k, exp, sig := parse(t, "/media", u)
	if !s.Verify(k, exp, sig) {
		t.Fatal("Verify refuses a fresh URL")
	}

	// exp is a multiple of TTL/2, between TTL and 1.5×TTL away.
	e, _ := strconv.ParseInt(exp, 10, 64)
	if e%300 != 0 {
		t.Errorf("exp %d is not a multiple of 300 s", e)
	}
	if life := time.Unix(e, 0).Sub(c.t); life < 10*time.Minute || life >= 15*time.Minute {
		t.Errorf("lifetime %v not in [TTL, 1.5×TTL)", life)
	}

	// The same URL all through a TTL/2 window, so browsers cache the image.
	seen := map[string]bool{}
	for range 20 {
		c.t = c.t.Add(time.Minute)
		seen[s.URL("/media", key)] = true
		if _, exp, _ := parse(t, "/media", s.URL("/media", key)); exp != "" {
			e, _ := strconv.ParseInt(exp, 10, 64)
			if life := time.Unix(e, 0).Sub(c.t); life < 10*time.Minute {
				t.Errorf("at %v a URL lives only %v", c.t, life)
			}
		}
	}
	if len(seen) < 4 || len(seen) > 5 {
		t.Errorf("%d distinct URLs in 20 minutes with a 5-minute window", len(seen))
	}

	if (media.Signer{Secret: secret}).URL("/m", key) == "" {
		t.Error("zero TTL and clock")
	}
}

func TestSignerVerify(t *testing.T) {
	c := &clock{time.Unix(1_700_000_000, 0)}
	s := media.Signer{Secret: secret, TTL: time.Minute, Now: c.Now}
	key := "pictures/42/0123456789abcdef"
	k, exp, sig := parse(t, "/media", s.URL("/media", key))
	e, _ := strconv.ParseInt(exp, 10, 64)
	_, noExp, noSig := parse(t, "", media.Signer{Now: c.Now}.URL("", key)) // signed with an empty secret
	flip := func(s string) string {
		b := []byte(s)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}

	tests := []struct {
		name          string
		key, exp, sig string
		signer        media.Signer
		at            time.Time
		want          bool
	}{
		{"valid", k, exp, sig, s, c.t, true},
		{"valid one second before exp", k, exp, sig, s, time.Unix(e-1, 0), true},
		{"expired at exp", k, exp, sig, s, time.Unix(e, 0), false},
		{"expired later", k, exp, sig, s, time.Unix(e+3600, 0), false},
		{"other key", "pictures/43/0123456789abcdef", exp, sig, s, c.t, false},
		{"later exp", k, strconv.FormatInt(e+3600, 10), sig, s, c.t, false},
		{"exp with a plus", k, "+" + exp, sig, s, c.t, false},
		{"exp with a leading zero", k, "0" + exp, sig, s, c.t, false},
		{"tampered sig", k, exp, flip(sig), s, c.t, false},
		{"sig with padding", k, exp, sig + "=", s, c.t, false},
		{"empty sig", k, exp, "", s, c.t, false},
		{"empty exp", k, "", sig, s, c.t, false},
		{"non-numeric exp", k, "soon", sig, s, c.t, false},
		{"other secret", k, exp, sig, media.Signer{Secret: []byte("another secret of 32 bytes......")}, c.t, false},
		{"no secret", k, noExp, noSig, media.Signer{}, c.t, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.signer
			at := tc.at
			v.Now = func() time.Time { return at }
			if got := v.Verify(tc.key, tc.exp, tc.sig); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}
