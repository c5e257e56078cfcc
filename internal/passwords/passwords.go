// Package passwords checks passwords against the practice's rule (R7) and
// stores them as argon2id hashes.
package passwords

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/ccojocar/zxcvbn-go"
	"golang.org/x/crypto/argon2"
)

// Strength is the four-level estimate of R7.
type Strength string

const (
	Weak   Strength = "WEAK"
	Fair   Strength = "FAIR"
	Good   Strength = "GOOD"
	Strong Strength = "STRONG"
)

// MinLength is the shortest password R7 allows.
const MinLength = 8

// MaxLength bounds hashing work; longer passwords are refused.
const MaxLength = 256

// Requirement is one rule of R7, met or not, so a client can show each live.
type Requirement struct {
	Key     string
	Message string
	Met     bool
}

// Check is the result of checking a password.
type Check struct {
	Requirements []Requirement
	Strength     Strength
}

// OK reports whether every requirement is met.
func (c Check) OK() bool {
	for _, r := range c.Requirements {
		if !r.Met {
			return false
		}
	}
	return true
}

// Unmet lists the messages of unmet requirements.
func (c Check) Unmet() []string {
	var out []string
	for _, r := range c.Requirements {
		if !r.Met {
			out = append(out, r.Message)
		}
	}
	return out
}

// Evaluate checks password against R7. personal holds the user's own words
// (name, username, email) that make a password guessable.
func Evaluate(password, username string, personal ...string) Check {
	has := func(f func(rune) bool) bool { return strings.IndexFunc(password, f) >= 0 }
	special := func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) }
	strength := estimate(password, append(personal, username))
	length := len([]rune(password))
	return Check{
		Strength: strength,
		Requirements: []Requirement{
			{"MIN_LENGTH", fmt.Sprintf("at least %d characters", MinLength), length >= MinLength},
			{"MAX_LENGTH", fmt.Sprintf("at most %d characters", MaxLength), length <= MaxLength},
			{"DIGIT", "at least one digit", has(unicode.IsDigit)},
			{"SPECIAL", "at least one special character", has(special)},
			{"UPPER", "at least one upper-case letter", has(unicode.IsUpper)},
			{"LOWER", "at least one lower-case letter", has(unicode.IsLower)},
			{"NOT_USERNAME", "must not contain the username",
				username == "" || !strings.Contains(strings.ToLower(password), strings.ToLower(username))},
			{"STRONG", "strength must be Strong", strength == Strong},
		},
	}
}

func estimate(password string, personal []string) Strength {
	if password == "" {
		return Weak
	}
	if len(password) > 100 {
		// zxcvbn's cost grows with length; anything this long passing the
		// other rules is strong.
		password = password[:100]
	}
	var inputs []string
	for _, p := range personal {
		for _, w := range strings.FieldsFunc(strings.ToLower(p), func(r rune) bool { return r == ' ' || r == '@' || r == '.' }) {
			if w != "" {
				inputs = append(inputs, w)
			}
		}
	}
	switch zxcvbn.PasswordStrength(password, inputs).Score {
	case 4:
		return Strong
	case 3:
		return Good
	case 2:
		return Fair
	}
	return Weak
}

// Params are the argon2id cost parameters new hashes are made with. Stored
// hashes carry their own, so verifying is unchanged when these change.
type Params struct {
	Time    uint32 // passes over memory
	Memory  uint32 // KiB
	Threads uint8
}

// Production is OWASP's recommended minimum for argon2id: m=19 MiB, t=2, p=1.
var Production = Params{Time: 2, Memory: 19 * 1024, Threads: 1}

// Cheap is for tests only: a hash costs microseconds instead of 50-500 ms, so
// a test environment that creates dozens of users is cheap. Never serve with
// it.
var Cheap = Params{Time: 1, Memory: 8, Threads: 1}

const keyLen = 32

var current atomic.Pointer[Params]

// UseParams sets the parameters of new hashes (Production by default). Tests
// call it once, before anything hashes.
func UseParams(p Params) {
	current.Store(&p)
	dummy.Store(nil)
}

func params() Params {
	if p := current.Load(); p != nil {
		return *p
	}
	return Production
}

// Hash returns an encoded argon2id hash of password with a random salt.
func Hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := params()
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

var errMalformed = errors.New("passwords: malformed hash")

// Unusable is stored instead of a hash for a user who has not set a
// password yet (an invitation): no password matches it. It costs nothing to
// make, so inviting 10,000 users from a staff list does not hash 10,000
// random secrets, and Verify spends the time of a real verification on it,
// so sign-in tells nothing about such an account (R29).
const Unusable = "!unusable"

// Verify reports whether password matches the encoded hash. Against
// Unusable it spends the time of one verification and reports false.
func Verify(encoded, password string) (bool, error) {
	if encoded == Unusable {
		VerifyDummy(password)
		return false, nil
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errMalformed
	}
	var version int
	var memory uint32
	var time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil {
		return false, errMalformed
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false, errMalformed
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil {
		return false, errMalformed
	}
	got := argon2.IDKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummy is verified against when no user matches, so an unknown username
// costs the same time as a wrong password. It is made on first use, with the
// parameters in force.
var dummy atomic.Pointer[string]

// VerifyDummy spends the time of one verification.
func VerifyDummy(password string) {
	h := dummy.Load()
	if h == nil {
		made, _ := Hash("dummy password for timing equalisation")
		dummy.CompareAndSwap(nil, &made)
		h = dummy.Load()
	}
	_, _ = Verify(*h, password)
}

func (s Strength) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(s))) }

func (s *Strength) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("strength must be a string")
	}
	*s = Strength(str)
	return nil
}
